"""accelo-kit: get data out of Accelo quickly, completely and safely."""

__version__ = "0.1.0"

from .client import AcceloClient  # noqa: E402
from .config import Settings  # noqa: E402
from .entities import ENTITIES, Entity  # noqa: E402
from .errors import (  # noqa: E402
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
