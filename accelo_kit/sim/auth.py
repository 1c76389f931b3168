"""OAuth2 client credentials as a service application sees it: tokens, expiry, lockout (docs/accelo-api.md,
Authentication)."""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import threading
from dataclasses import dataclass

from .errors import ApiError
from .settings import SimSettings

GRANT = "client_credentials"


@dataclass(frozen=True)
class Token:
    value: str
    expires_at: float
    scope: str
    staff_id: int


class Lockout:
    """N failed logins from one address within a window lock it out; any attempt while locked restarts the timer."""

    def __init__(self, threshold: int, window_s: float, duration_s: float) -> None:
        self._lock = threading.Lock()
        self.configure(threshold, window_s, duration_s)
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}

    def configure(self, threshold: int, window_s: float, duration_s: float) -> None:
        with self._lock:
            self.threshold, self.window_s, self.duration_s = threshold, window_s, duration_s

    def check(self, address: str, now: float) -> None:
        with self._lock:
            until = self._locked_until.get(address)
            if until is None or now >= until:
                return
            self._locked_until[address] = now + self.duration_s
        raise ApiError(401, "invalid_client", "Too many failed login attempts: locked out",
                       {"Retry-After": str(int(self.duration_s + 0.999))})

    def failed(self, address: str, now: float) -> None:
        with self._lock:
            recent = [t for t in self._failures.get(address, []) if t > now - self.window_s] + [now]
            self._failures[address] = recent
            if len(recent) >= self.threshold:
                self._locked_until[address] = now + self.duration_s
                self._failures[address] = []


class TokenIssuer:
    def __init__(self, settings: SimSettings) -> None:
        self.settings = settings
        self.lockout = Lockout(settings.lockout_threshold, settings.lockout_window_s, settings.lockout_s)
        self._lock = threading.Lock()
        self._tokens: dict[str, Token] = {}
        self.issued = 0

    def issue(self, headers: dict[str, str], form: dict[str, str], address: str, now: float) -> dict[str, object]:
        self.lockout.check(address, now)
        basic = _basic_credentials(headers.get("authorization", ""))
        if basic and ("client_id" in form or "client_secret" in form):
            raise ApiError.oauth(400, "invalid_request", "multiple credentials supplied")
        if basic is None:
            raise ApiError.oauth(401, "invalid_client", "client authentication required (HTTP Basic)")
        client_id, client_secret = basic
        if not (secrets.compare_digest(client_id, self.settings.client_id)
                and secrets.compare_digest(client_secret, self.settings.client_secret)):
            self.lockout.failed(address, now)
            raise ApiError.oauth(401, "invalid_client", "client authentication failed")
        grant = form.get("grant_type", "")
        if grant != GRANT:
            raise ApiError.oauth(400, "unsupported_grant_type" if grant else "invalid_request",
                              f"grant_type must be {GRANT}")
        scope = form.get("scope", "read(all)")
        if not _valid_scope(scope):
            raise ApiError.oauth(400, "invalid_scope", f"unknown scope {scope!r}")
        lifetime = self.settings.token_ttl_s
        if form.get("expires_in"):
            try:
                lifetime = min(lifetime, max(1, int(form["expires_in"])))
            except ValueError:
                raise ApiError.oauth(400, "invalid_request", "expires_in must be whole seconds") from None
        token = Token(secrets.token_hex(20), now + lifetime, scope, staff_id=1)
        with self._lock:
            self._tokens[token.value] = token
            self.issued += 1
        expires = lifetime if self.settings.expires_in_type == "number" else str(lifetime)
        deployment = self.settings.deployment
        return {
            "access_token": token.value,
            "token_type": "Bearer",
            "expires_in": expires,
            "scope": scope,
            "deployment": deployment,
            "deployment_name": deployment.title(),
            "deployment_uri": f"https://{deployment}.accelo.com",
            "account_id": "1",
        }

    def authenticate(self, headers: dict[str, str], address: str, now: float) -> Token:
        self.lockout.check(address, now)
        value = headers.get("authorization", "")
        if not value.lower().startswith("bearer "):
            raise ApiError(401, "invalid_client", "missing bearer token")
        with self._lock:
            token = self._tokens.get(value[7:].strip())
        if token is None:
            raise ApiError(401, "invalid_client", "invalid or revoked access token")
        if now >= token.expires_at:
            raise ApiError(401, "invalid_client", "access token expired")
        return token

    def revoke_all(self) -> int:
        with self._lock:
            count = len(self._tokens)
            self._tokens.clear()
            return count


def _basic_credentials(header: str) -> tuple[str, str] | None:
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, client_secret = decoded.partition(":")
    return (client_id, client_secret) if sep else None


def _valid_scope(scope: str) -> bool:
    """`read(all)`, `write(all)`, `read(companies,jobs)`, several separated by commas outside parentheses."""
    return re.fullmatch(r"(?:(?:read|write)\([a-z_,]+\)(?:,(?!$)|$))+", scope) is not None


def scope_allows(scope: str, resource: str) -> bool:
    """`read(all)` reads everything; `read(companies,jobs)` only those resources."""
    for match in re.finditer(r"(read|write)\(([a-z_,]+)\)", scope):
        names = match.group(2).split(",")
        if "all" in names or resource in names:
            return True
    return False
