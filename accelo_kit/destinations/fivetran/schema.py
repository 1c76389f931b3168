"""What Fivetran asks before a sync: the tables (`schema()`) and whether the configuration is usable, checked
before any request (docs/fivetran.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...config import Settings
from ...convert import DECIMAL_PRECISION, DECIMAL_SCALE
from ...entities import ENTITIES
from ...errors import ConfigError

# The longest wait for the rate window a Fivetran run accepts: past it, the run checkpoints and returns, and the
# next scheduled sync carries on, rather than holding Fivetran's worker for up to an hour. The CLI waits instead.
DEFAULT_MAX_RATE_WAIT_S = 300
SDK_TYPES: dict[str, Any] = {
    "int": "LONG",
    "link": "LONG",
    "decimal": {"type": "DECIMAL", "precision": DECIMAL_PRECISION, "scale": DECIMAL_SCALE},
    "timestamp": "UTC_DATETIME",
    "bool": "BOOLEAN",
    "str": "STRING",
}


def fivetran_schema(entities: Sequence[str]) -> list[dict[str, Any]]:
    """`schema()`'s answer from the registry: one table per entity, `id` as key, every column typed (an untyped
    column would be typed by Fivetran from its first values, and money must never become a float)."""
    tables = []
    for name in entities:
        entity = ENTITIES[name]
        tables.append({"table": entity.name, "primary_key": [entity.primary_key],
                       "columns": {c.name: SDK_TYPES[c.type] for c in entity.columns}})
    return tables


def settings_from_configuration(configuration: Mapping[str, Any]) -> Settings:
    """Validate Fivetran's configuration before any request: every value a string (Fivetran's rule, stricter than
    `Settings.from_mapping`, which also takes numbers for the CLI's overrides), every problem listed at once.

    A value that is not a string is named here and handed on as unset, so the settings' own checks see only
    strings (and still name unknown keys and missing required ones): no type problem is reported twice."""
    given = dict(configuration or {})
    loose = [f"{key} must be a string like every configuration value, got {type(value).__name__}"
             for key, value in given.items() if not isinstance(value, str)]
    values: dict[str, Any] = {key: value if isinstance(value, str) else None for key, value in given.items()}
    raw_wait = values.get("max_rate_wait")
    if raw_wait is None or not raw_wait.strip():
        values["max_rate_wait"] = str(DEFAULT_MAX_RATE_WAIT_S)
    try:
        settings = Settings.from_mapping(values)
    except ConfigError as err:
        raise ConfigError(loose + list(err.problems)) from None
    if loose:
        raise ConfigError(loose)
    return settings
