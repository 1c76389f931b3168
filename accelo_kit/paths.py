"""Default output paths resolve against the repository root, not the current directory (a notebook's kernel runs
in notebooks/, cron in $HOME): the same command writes to the same place from anywhere."""

from __future__ import annotations

from pathlib import Path


def project_root() -> Path:
    """The checkout holding this package (an editable install), else the current directory."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").is_file() and (here / "accelo_kit").is_dir() else Path.cwd()


def out_dir() -> Path:
    return project_root() / "out"


def default_db() -> Path:
    return out_dir() / "accelo.duckdb"


def resolve(path: str | Path | None, default: Path) -> Path:
    """A user's path as given (relative to the current directory), or the default under the project root."""
    return Path(path).expanduser().resolve() if path not in (None, "") else default
