"""Exploring Accelo as typed DataFrames: what a load fetches and costs (`load`), its profile (`profile`), its plot
(`plots`), joining two loads by id (`joins`) and the widgets of notebooks/explore.ipynb (`widgets`)."""

from .joins import JoinResult, join_columns, join_frames, suggest_join
from .load import (
    DEFAULT_ROW_CAP,
    LoadEstimate,
    LoadProgress,
    LoadRequest,
    LoadResult,
    ProgressListener,
    date_field,
    estimate_load,
    load_frame,
)
from .plots import monthly, plot_frame
from .profile import Profile, profile
from .widgets import Explorer

__all__ = [
    "DEFAULT_ROW_CAP",
    "Explorer",
    "JoinResult",
    "LoadEstimate",
    "LoadProgress",
    "LoadRequest",
    "LoadResult",
    "Profile",
    "ProgressListener",
    "date_field",
    "estimate_load",
    "join_columns",
    "join_frames",
    "load_frame",
    "monthly",
    "plot_frame",
    "profile",
    "suggest_join",
]
