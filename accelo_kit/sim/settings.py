"""Every knob of the simulator in one dataclass, so the CLI, tests and benchmarks speak the same names."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from .neighbours import parse_neighbours

# 2026-11-01T00:00:00Z. Generated history ends here, so the same seed gives the same data on any day.
DEFAULT_ANCHOR = 1_793_491_200

DEFAULT_SIZES: dict[str, int] = {
    "companies": 2000,
    "invoices": 6000,
    "payments": 4500,
    "prospects": 1500,
    "jobs": 3000,
    "staff": 150,
}

IdLayout = Literal["gappy", "dense", "skewed"]


@dataclass
class SimSettings:
    """How the simulated deployment looks and behaves. Defaults follow the first variant
    docs/accelo-api.md names (Unconfirmed behaviours)."""

    # data
    seed: int = 1
    scale: float = 1.0
    sizes: dict[str, int] = field(default_factory=dict)  # per-resource row counts, before `scale`
    id_layout: IdLayout = "gappy"
    anchor: int = DEFAULT_ANCHOR
    deployment: str = "simulated"

    # auth
    client_id: str = "accelo-sim-client"
    client_secret: str = "accelo-sim-secret"  # the simulator's published test credential
    token_ttl_s: int = 30 * 24 * 3600
    lockout_threshold: int = 100
    lockout_window_s: float = 300.0
    lockout_s: float = 300.0

    # rate limit
    rate_limit: int = 5000
    rate_window_s: float = 3600.0
    rate_window: Literal["fixed", "rolling"] = "fixed"
    # other integrations spending the same window (sim/neighbours.py), e.g. "steady:2.5,burst:30/3s/every60s"
    neighbours: str = ""

    # latency model: base + per_row * rows + uniform jitter of ±jitter × that, at most `workers` served at once
    latency_ms: float = 0.0
    per_row_ms: float = 0.0
    jitter: float = 0.0
    workers: int = 8

    # faults
    fault_seed: int = 0
    stall_s: float = 30.0
    huge_bytes: int = 40 * 2**20  # the `huge` fault's body size: above the kit's 32 MiB cap on one answer
    nested_depth: int = 100_000  # the `nested` fault's depth: far beyond Python's recursion limit

    # UNCONFIRMED variants (docs/accelo-api.md, Unconfirmed behaviours), first named is the default
    count_type: Literal["string", "number"] = "string"
    expires_in_type: Literal["string", "number"] = "string"
    unset_date: Literal["null", "zero", "mixed"] = "null"
    over_limit: Literal["cap", "reject"] = "cap"
    unknown_field: Literal["ignore", "reject"] = "ignore"
    unknown_path: Literal["json400", "html404"] = "json400"

    # the server's clock runs this many seconds ahead of the host's (a skewed client must trust the Date header)
    clock_offset_s: float = 0.0

    def size_of(self, resource: str) -> int:
        """Explicit `sizes` are exact (tests count on them); `scale` stretches the defaults."""
        if resource in self.sizes:
            return self.sizes[resource]
        return max(0, round(DEFAULT_SIZES.get(resource, 0) * self.scale))

    def __post_init__(self) -> None:
        problems = []
        for name, hint in typing.get_type_hints(SimSettings).items():
            allowed = typing.get_args(hint) if typing.get_origin(hint) is Literal else ()
            value = getattr(self, name)
            if allowed and value not in allowed:
                problems.append(f"{name}={value!r} (choose one of {', '.join(allowed)})")
        if self.workers < 1:
            problems.append("workers must be >= 1")
        if self.rate_limit < 1 or self.rate_window_s <= 0:
            problems.append("rate_limit and rate_window_s must be positive")
        try:
            parse_neighbours(self.neighbours)
        except ValueError as err:
            problems.append(f"neighbours: {err}")
        if problems:
            raise ValueError("invalid simulator settings: " + "; ".join(problems))

    def replace(self, **changes: Any) -> SimSettings:
        return dataclasses.replace(self, **changes)


# what a `--set` value becomes: the type of the field it sets
SettingValue = bool | int | float | str | dict[str, int]


def coerce_setting(name: str, text: str) -> SettingValue:
    """Turn a `--set name=value` string into the type the field holds."""
    fields = {f.name: f for f in dataclasses.fields(SimSettings)}
    if name not in fields:
        raise ValueError(f"unknown simulator setting {name!r}; known: {', '.join(sorted(fields))}")
    current = getattr(SimSettings(), name)
    if isinstance(current, bool):
        return text.lower() in {"1", "true", "yes", "on"}
    if isinstance(current, int):
        return int(text)
    if isinstance(current, float):
        return float(text)
    if isinstance(current, dict):
        pairs = (item.split(":", 1) for item in text.split(",") if item)
        return {key.strip(): int(value) for key, value in pairs}
    return text
