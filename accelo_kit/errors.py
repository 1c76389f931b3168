"""The kit's exceptions. Each names what was asked (method, path), what came back (status, Accelo's meta.status
and message) and never a secret. Retriable failures are retried inside the kit; what reaches the caller is fatal.
"""

from __future__ import annotations


class AcceloError(Exception):
    """Base of every error the kit raises on purpose."""

    def __init__(self, message: str, *, method: str = "", path: str = "", status: int | None = None,
                 meta_status: str | None = None) -> None:
        self.method, self.path, self.status, self.meta_status = method, path, status, meta_status
        self.detail = message
        super().__init__(self._render(message))

    def _render(self, message: str) -> str:
        where = f"{self.method} {self.path}".strip()
        parts = [p for p in (where, f"HTTP {self.status}" if self.status else "", self.meta_status or "") if p]
        return f"{message} [{', '.join(parts)}]" if parts else message


class ConfigError(AcceloError, ValueError):
    """Every problem with a configuration, listed together so one edit fixes them all."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid accelo-kit configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class AuthenticationError(AcceloError):
    """The token endpoint refused the credentials, or a fresh token was refused again. Never retried in a loop:
    Accelo locks an address out after 100 failed logins."""


class PermissionDenied(AcceloError):
    """403 invalid_permission: the service application's scope does not allow this."""


class RequestError(AcceloError):
    """A request Accelo will never accept as sent: 400/404, a non-JSON page on a 4xx, meta.status not ok."""


class RetriesExhausted(AcceloError):
    """A retriable failure (5xx, timeout, dropped connection, bad body) outlasted the retry caps."""


class TransientError(AcceloError):
    """Internal: one attempt failed in a way worth retrying. Becomes RetriesExhausted at the cap."""
