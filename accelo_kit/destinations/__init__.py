"""Where synced rows go. Each destination upserts by primary key and commits rows and state together."""

from .base import DeletingDestination, Destination, MemoryDestination

__all__ = ["DeletingDestination", "Destination", "MemoryDestination"]
