"""accelo-kit: get data out of Accelo quickly, completely and safely."""

__version__ = "0.1.0"

from .client import AcceloClient
from .config import Settings
from .entities import ENTITIES, Entity
from .errors import (
    AcceloError,
    AuthenticationError,
    ConfigError,
    PermissionDenied,
    RequestError,
    RetriesExhausted,
)

__all__ = [
    "ENTITIES",
    "AcceloClient",
    "AcceloError",
    "AuthenticationError",
    "ConfigError",
    "Entity",
    "PermissionDenied",
    "RequestError",
    "RetriesExhausted",
    "Settings",
    "__version__",
]
