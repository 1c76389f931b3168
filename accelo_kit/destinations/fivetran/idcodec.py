"""The compact form of a set of ids in Fivetran's state: a connector cannot read the warehouse, so the ids it holds
(for hard-delete reconciliation) travel in the state, and a deployment's ids must fit in a few kilobytes."""

from __future__ import annotations

import base64
import zlib


def encode_ids(ids: set[int]) -> str:
    """Sorted ids as zlib-compressed LEB128 gaps, base64: about a byte an id before compression, so a deployment's
    ids fit in a few kilobytes of state."""
    out = bytearray()
    previous = 0
    for value in sorted(ids):
        gap = value - previous
        previous = value
        while gap >= 0x80:
            out.append(gap & 0x7F | 0x80)
            gap >>= 7
        out.append(gap)
    return base64.b64encode(zlib.compress(bytes(out), 9)).decode()


def decode_ids(text: str) -> set[int]:
    """The ids `encode_ids` wrote."""
    data = zlib.decompress(base64.b64decode(text))
    ids, value, gap, shift = set(), 0, 0, 0
    for byte in data:
        gap |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            continue
        value += gap
        ids.add(value)
        gap = shift = 0
    return ids
