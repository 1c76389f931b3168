"""The sync state: a small, versioned JSON document, saved with the rows it covers.

Per entity it holds the *cursor* (server time before which every change is written) and, while a run is under way,
the *window* being fetched: its fixed bounds and the id ranges still pending (a low-water mark from the pager).
A resumed run continues the same window from those ranges, so it never skips what a crashed run had not written.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from ..errors import AcceloError

STATE_VERSION = 1
WindowKind = Literal["modified", "new", "full"]


class StateError(AcceloError):
    """A state that cannot be used as it is: another deployment, another version, a cursor from the future."""


@dataclass
class Window:
    kind: WindowKind  # modified: a date_modified window; new: rows above an id; full: every row
    started: int  # server time the run began: the cursor once this window is written
    after: int | None = None  # `date_modified_after` bound (strict), if any
    before: int | None = None  # `date_modified_before` bound (strict), if any
    progress: list[list[int | None]] | None = None  # pending (lo, hi] id ranges; None: not begun
    max_id: int | None = None  # the highest id written in this window so far

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Window:
        """A saved window; keys this version does not know are ignored (states saved before issue 12's redesign
        carry `max_modified`, which nothing reads)."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    def filters(self, field_name: str | None) -> list[str]:
        """The `_filters` entries of the date bounds (none for an entity without `field_name`)."""
        found = []
        if field_name and self.after is not None:
            found.append(f"{field_name}_after({self.after})")
        if field_name and self.before is not None:
            found.append(f"{field_name}_before({self.before})")
        return found


@dataclass
class EntityState:
    cursor: int | None = None  # every change before this server time is written (date_modified entities)
    max_id: int | None = None  # payments: the highest id written; new rows come above it
    full_pass_at: int | None = None  # payments: server time the last complete full pass began
    reconciled_at: int | None = None  # server time the last complete id scan for hard deletes began
    window: Window | None = None  # the window in progress

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EntityState:
        window = data.get("window")
        return cls(
            cursor=_opt_int(data.get("cursor")),
            max_id=_opt_int(data.get("max_id")),
            full_pass_at=_opt_int(data.get("full_pass_at")),
            reconciled_at=_opt_int(data.get("reconciled_at")),
            window=Window.from_dict(window) if window else None,
        )


@dataclass
class SyncState:
    target: str  # the deployment (or base_url / simulator) this state belongs to
    simulated: bool = False
    entities: dict[str, EntityState] = field(default_factory=dict)
    version: int = STATE_VERSION

    def entity(self, name: str) -> EntityState:
        return self.entities.setdefault(name, EntityState())

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> SyncState:
        """A saved state, refused with a StateError (never misread) if it is not this version's."""
        try:
            data = json.loads(text)
        except ValueError:
            raise StateError("the saved sync state is not valid JSON; run with --full-refresh to start over") from None
        if not isinstance(data, dict):
            raise StateError("the saved sync state is not a JSON object; run with --full-refresh to start over")
        version = data.get("version")
        if version != STATE_VERSION:
            raise StateError(
                f"the saved sync state has version {version!r}, this accelo-kit reads version {STATE_VERSION}; "
                "run with --full-refresh to start over (nothing is misread)")
        try:
            return cls(
                target=str(data["target"]),
                simulated=bool(data.get("simulated", False)),
                entities={name: EntityState.from_dict(value) for name, value in (data.get("entities") or {}).items()},
            )
        except (KeyError, TypeError, ValueError) as err:
            raise StateError(f"the saved sync state is malformed ({err}); run with --full-refresh") from None

    def check_target(self, target: str) -> None:
        if self.target != target:
            raise StateError(
                f"this database holds data from {self.target}, not {target}: syncing another deployment into it "
                "is refused (use another --db)")

    def check_clock(self, server_now: float, tolerance_s: int = 300) -> None:
        """A cursor ahead of the server's clock means another deployment or a clock problem: never trust it."""
        for name, entity in self.entities.items():
            for label, value in (("cursor", entity.cursor), ("full pass", entity.full_pass_at)):
                if value is not None and value > server_now + tolerance_s:
                    raise StateError(
                        f"{name}: the saved {label} ({value}) is ahead of the server's clock ({int(server_now)}); "
                        "run with --full-refresh to start over")


def starting_state(saved: SyncState | None, target: str, *, full_refresh: bool = False,
                   simulated: bool = False) -> SyncState:
    """The state a run starts from: the saved one, or a new one on a first run or a full refresh. A saved state of
    another target is refused even for a full refresh: a database holds one deployment's data."""
    if saved is not None:
        saved.check_target(target)
        if full_refresh:
            saved = None
    return saved or SyncState(target=target, simulated=simulated)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)
