"""An answer other than ok, raised anywhere below the handler and rendered once by the server.

API paths render it as Accelo's envelope (`meta.status`); the token endpoint renders it OAuth style
(`error`, `error_description`), with `meta_status` as the OAuth error code.
"""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, http_status: int, meta_status: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.http_status = http_status
        self.meta_status = meta_status
        self.message = message
        self.headers = headers or {}

    @classmethod
    def invalid(cls, message: str) -> ApiError:
        return cls(400, "invalid_request", message)

    @classmethod
    def oauth(cls, http_status: int, error: str, description: str) -> ApiError:
        return cls(http_status, error, description)
