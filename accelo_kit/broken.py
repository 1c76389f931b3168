"""Deliberately broken variants of the kit, off unless a test turns them on, to prove the suite catches them.

A test suite that passes a broken implementation is itself broken: tests/chaos runs selected tests with each of
these on (`ACCELO_KIT_BROKEN=name[,name]` in the environment, read when a switch is consulted) and expects red.
Never set it otherwise.
"""

from __future__ import annotations

import os

VARIANTS = {
    "offset_paging": "page with _page offsets instead of keyset ranges (rows shift when data changes mid-scan)",
    "cursor_from_max_seen": "no upper bound on the window; the cursor becomes the newest date_modified seen",
    "no_overlap": "the window starts at the cursor with a strict _after and no overlap",
    "state_before_rows": "the checkpoint commits the state before, and apart from, the rows it covers",
}


def on(name: str) -> bool:
    """Whether a broken variant is switched on (the environment is read each time: tests flip it)."""
    if name not in VARIANTS:
        raise KeyError(f"unknown broken variant {name!r}")
    return name in {v.strip() for v in os.environ.get("ACCELO_KIT_BROKEN", "").split(",")}
