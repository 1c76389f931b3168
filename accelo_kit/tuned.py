"""The saved thread count, `out/tuning.json`, and when it applies: the CLI, the sync notebook and the explorer use
it for the same target whenever `threads` is not given explicitly; an explicit value (an override or the
configuration file's) always wins (docs/configuration.md).

The sweep that measures it lives in `accelo_kit.notebook.tuning`; this module only stores and reads its answer, so
the runner (on the CLI's path) reads a saved count without importing the experiment. Standard library only: no
pandas, no matplotlib.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from .config import MAX_THREADS, Settings, read_configuration
from .errors import ConfigError
from .paths import out_dir

log = logging.getLogger(__name__)

TUNING_VERSION = 1
SIMULATOR_TARGET = "simulator"  # every simulated run shares one tuning, whatever its port

PathLike = str | os.PathLike[str]


class Tuning(Protocol):
    """What can be saved: a sweep's result, as the JSON object `out/tuning.json` holds (with a `threads` key)."""

    def to_json(self) -> dict[str, Any]: ...


def default_tuning_path() -> Path:
    """out/tuning.json under the project root, or where ACCELO_KIT_TUNING points (tests keep theirs apart)."""
    override = os.environ.get("ACCELO_KIT_TUNING")
    return Path(override) if override else out_dir() / "tuning.json"


def _file(path: PathLike | None) -> Path:
    return Path(path) if path is not None and str(path) != "" else default_tuning_path()


def save_tuning(result: Tuning, path: PathLike | None = None) -> Path:
    """Write the recommendation (and the table behind it) atomically: a reader never sees half a file."""
    file = _file(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(file.name + ".partial")
    partial.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    partial.replace(file)
    return file


def load_tuning(path: PathLike | None = None) -> dict[str, Any] | None:
    """The saved tuning, or None if there is none or it is unusable (a broken file must not stop a sync)."""
    file = _file(path)
    try:
        data = json.loads(file.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        log.warning("ignoring %s: %s", file, err)
        return None
    threads = data.get("threads") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(threads, int) or isinstance(threads, bool) \
            or not 1 <= threads <= MAX_THREADS:
        log.warning("ignoring %s: no thread count from 1 to %d in it", file, MAX_THREADS)
        return None
    return data


def saved_threads(target: str | None = None, path: PathLike | None = None) -> int | None:
    """The saved recommendation; with `target`, only if it was measured against that target (a count measured on
    the simulator says nothing about a real deployment, nor one deployment about another)."""
    data = load_tuning(path)
    if data is None or (target is not None and data.get("target") != target):
        return None
    return int(data["threads"])


def tuning_target(settings: Settings, simulated: bool) -> str:
    """What a tuning is measured against and saved for: the deployment, or the simulator (any port)."""
    return SIMULATOR_TARGET if simulated else settings.target


def with_saved_threads(overrides: Mapping[str, Any], config_path: PathLike | None = None,
                       simulate: bool = False, environ: Mapping[str, str] | None = None,
                       path: PathLike | None = None) -> dict[str, Any]:
    """`overrides` plus `threads` from the saved tuning for this target, unless threads were given explicitly (as
    an override or in the configuration file): explicit values always win.

    The configuration file is read once: its values, then ACCELO_* filling gaps, then the overrides, in the order
    `Settings.load` applies them, give the target."""
    result = dict(overrides)
    if result.get("threads") not in (None, ""):
        return result
    try:
        if simulate:
            target = SIMULATOR_TARGET
        else:
            given = {} if config_path is None or str(config_path) == "" else read_configuration(config_path)
            if given.get("threads") not in (None, ""):
                return result
            values = {k: v for k, v in given.items() if v is not None}
            target = Settings.load(None, environ=os.environ if environ is None else environ,
                                   **{**values, **result}).target
    except ConfigError:
        return result  # the caller loads the settings again and reports the problem
    saved = saved_threads(target, path)
    if saved is not None:
        log.info("threads: %d, as tuned for %s (%s)", saved, target, path or default_tuning_path())
        result["threads"] = str(saved)
    return result
