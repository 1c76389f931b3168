"""Fivetran as a destination, split by job: adapter (the Destination over the SDK's operations, and the run's log),
schema (the tables and the configuration check), idcodec (the ids the state carries). connector.py wires them."""

from .adapter import FivetranDestination, Log, LogProgress, Operations, deferral_message, sdk_row
from .idcodec import decode_ids, encode_ids
from .schema import DEFAULT_MAX_RATE_WAIT_S, SDK_TYPES, fivetran_schema, settings_from_configuration

__all__ = [
    "DEFAULT_MAX_RATE_WAIT_S",
    "SDK_TYPES",
    "FivetranDestination",
    "Log",
    "LogProgress",
    "Operations",
    "decode_ids",
    "deferral_message",
    "encode_ids",
    "fivetran_schema",
    "sdk_row",
    "settings_from_configuration",
]
