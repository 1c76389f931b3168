"""The sync engine: incremental, resumable syncs of Accelo entities into a destination (docs/sync.md).

Modules: state (the saved state), windows (what a run fetches), destination (the protocols destinations
implement), progress (hooks and the report), cost (requests a sync or an id scan costs), engine (the run).
"""

from .destination import DeletingDestination, Destination, Record
from .engine import Page, SyncError, SyncOptions, sync
from .progress import EntityReport, SyncProgress, SyncReport
from .state import StateError, SyncState

__all__ = [
    "DeletingDestination",
    "Destination",
    "EntityReport",
    "Page",
    "Record",
    "StateError",
    "SyncError",
    "SyncOptions",
    "SyncProgress",
    "SyncReport",
    "SyncState",
    "sync",
]
