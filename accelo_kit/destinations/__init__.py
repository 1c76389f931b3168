"""Where synced rows go. Each destination upserts by primary key and commits rows and state together."""

from .base import Destination, MemoryDestination

__all__ = ["Destination", "MemoryDestination"]
