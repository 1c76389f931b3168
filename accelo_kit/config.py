"""One settings object for the CLI, the notebooks and connector.py, from configuration.json, the environment or
keyword arguments (docs/configuration.md). Everything is validated before any network call, every
problem is reported at once, and the secret never appears in repr, str or errors.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .entities import ENTITIES
from .errors import ConfigError

ENV_KEYS = {
    "deployment": "ACCELO_DEPLOYMENT",
    "client_id": "ACCELO_CLIENT_ID",
    "client_secret": "ACCELO_CLIENT_SECRET",
    "base_url": "ACCELO_BASE_URL",
}
DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
ACCELO_HOST = re.compile(r"([a-z0-9-]+)(?:\.api)?\.accelo\.com\.?")
LOOPBACK_NAMES = frozenset({"localhost"})
MAX_THREADS = 32
BUDGET_POLICIES = ("adaptive", "fixed")
MAX_CONFIG_BYTES = 1 << 20
DEPLOYMENT_HELP = (
    "a deployment is the first label of your Accelo address: 'acme' for acme.accelo.com "
    "(letters, digits and hyphens only)"
)


def _doc(text: str) -> dict[str, str]:
    """A configuration key's description, for docs/configuration.md (generated from the fields)."""
    return {"doc": text}


@dataclass(frozen=True)
class Settings:
    """Validated configuration. Build it with `Settings.load(...)`, `from_mapping` or `from_env`."""

    # Each key's description lives beside its declaration; docs/configuration.md's table is generated from it
    # (`make docs`).
    client_id: str = field(metadata=_doc(
        "The service application's client id (Accelo → Configuration → API). Required."))
    client_secret: str = field(repr=False, metadata=_doc(
        "The service application's secret. Required. Never shown in `repr`, `str`, errors or logs."))
    deployment: str | None = field(default=None, metadata=_doc(
        "`acme` of `acme.accelo.com`. A pasted `acme.accelo.com` or `https://acme.api.accelo.com/` is reduced to "
        "`acme`; anything that could point at another host is refused. Required unless `base_url` is given."))
    base_url: str | None = field(default=None, metadata=_doc(
        "`scheme://host[:port]` where the API really lives (the simulator, a test server). The kit adds `/api/v0` "
        "and `/oauth2/v0` itself; a trailing `/api/v0` is dropped. Plain `http://` only for loopback hosts."))
    threads: int = field(default=8, metadata=_doc(
        "Requests in flight, 1–32. Eight already spend the hourly 5,000 in about a minute at ~100 ms a request; "
        "Accelo asks for \"a reasonable number\" of concurrent calls. An explicit value always wins over a saved "
        "tuning result."))
    scope: str = field(default="read(all)", metadata=_doc("OAuth scope, e.g. `read(companies,jobs)`."))
    request_timeout: float = field(default=30.0, metadata=_doc("Seconds for one request."))
    budget_reserve: int | None = field(default=None, metadata=_doc(
        "Requests per rate window left for the deployment's other integrations. Unset: 10% of the limit the "
        "server advertises."))
    budget_policy: str = field(default="adaptive", metadata=_doc(
        "`adaptive`: keep for the other integrations the larger of `budget_reserve` and what they are seen to need "
        "until the window resets, and spread a sync that does not fit in the window over it; `fixed`: keep only "
        "`budget_reserve` and spend the rest as fast as the threads allow."))
    rate_window_seconds: float = field(default=3600.0, metadata=_doc(
        "Length of the deployment's rate window: Accelo's is an hour. Only a simulator with a compressed window "
        "needs another value (`--simulate` sets it itself); the headers correct it when they show otherwise."))
    entities: tuple[str, ...] = field(default=tuple(ENTITIES), metadata=_doc("Comma list of the resources to sync."))
    start_date: date | None = field(default=None, metadata=_doc(
        "ISO date (`2024-01-31`) bounding the very first sync; not in the future."))
    overlap_seconds: int = field(default=300, metadata=_doc(
        "How far each incremental window reaches back before the saved cursor (0 to 7 days)."))
    max_attempts: int = field(default=8, metadata=_doc("Attempts per request for retriable failures (1–100)."))
    max_retry_wait: float = field(default=600.0, metadata=_doc(
        "Seconds of backoff per request before giving up. Waits for the rate window do not count."))
    reconcile_every_days: float = field(default=7.0, metadata=_doc(
        "How often each entity is checked for hard deletes (an id scan); `0`: every run."))
    max_rate_wait: float | None = field(default=None, metadata=_doc(
        "The longest wait, in seconds, for the hourly rate window once the budget is spent; a later reset stops "
        "the run at a checkpoint instead (exit code 3; the next run carries on). Unset, the CLI and notebooks "
        "wait as long as it takes; `connector.py` uses 300."))

    def __post_init__(self) -> None:
        problems = []
        if not self.client_id:
            problems.append("client_id is required")
        if not self.client_secret:
            problems.append("client_secret is required")
        if self.deployment is None and self.base_url is None:
            problems.append("deployment is required (or base_url for a simulator or test server)")
        if self.budget_policy not in BUDGET_POLICIES:
            problems.append(f"budget_policy: {self.budget_policy!r} is not one of {', '.join(BUDGET_POLICIES)}")
        # the host is built from these: checked here too, so `Settings(deployment="evil.com/x", ...)` built
        # directly (not through from_mapping) is refused before a request, like every other way in
        for name, parse in (("deployment", parse_deployment), ("base_url", parse_base_url)):
            value = getattr(self, name)
            if value is None:
                continue
            try:
                if not isinstance(value, str):
                    raise ValueError(f"must be a string, got {type(value).__name__}")
                object.__setattr__(self, name, parse(value.strip()))
            except ValueError as err:
                problems.append(f"{name}: {err}")
        if problems:
            secret = str(self.client_secret or "")
            raise ConfigError([p.replace(secret, "***") if len(secret) >= 4 else p for p in problems])

    # -- derived -------------------------------------------------------------------------------------------
    @property
    def origin(self) -> str:
        return self.base_url or f"https://{self.deployment}.api.accelo.com"

    @property
    def api_root(self) -> str:
        return f"{self.origin}/api/v0"

    @property
    def token_url(self) -> str:
        return f"{self.origin}/oauth2/v0/token"

    @property
    def target(self) -> str:
        """What a sync state belongs to: the deployment, or the base_url where the API lives."""
        return self.base_url or f"deployment:{self.deployment}"

    def __str__(self) -> str:
        return f"accelo-kit settings for {self.target} (client_id {self.client_id}, {self.threads} threads)"

    # -- construction --------------------------------------------------------------------------------------
    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> Settings:
        """From a configuration.json-style mapping: every value a string (Fivetran's rule), unknown keys refused."""
        problems: list[str] = []
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            problems.append(f"unknown key(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        parsed: dict[str, Any] = {}
        given: set[str] = set()
        for name, raw in values.items():
            if name not in known or raw is None or (isinstance(raw, str) and raw.strip() == ""):
                continue
            given.add(name)
            if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
                problems.append(f"{name} must be a string, got {type(raw).__name__}")
                continue
            try:
                parsed[name] = _PARSERS.get(name, _text)(str(raw).strip())
            except ValueError as err:
                problems.append(f"{name}: {err}")
        for required in ("client_id", "client_secret"):
            if required not in given:
                problems.append(f"{required} is required")
        if not given & {"deployment", "base_url"}:
            problems.append("deployment is required (or base_url for a simulator or test server)")
        if problems:
            secret = str(values.get("client_secret") or "")
            raise ConfigError([p.replace(secret, "***") if len(secret) >= 4 else p for p in problems])
        return cls(**parsed)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        return cls.from_mapping(env_values(environ))

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None,
             **overrides: object) -> Settings:
        """configuration.json (if given), then ACCELO_* environment variables fill gaps, then keyword overrides."""
        values: dict[str, object] = {}
        if path is not None:  # a null in the file is a gap the environment may fill, never the text "None"
            values.update({k: v for k, v in read_configuration(path).items() if v is not None})
        for key, value in env_values(environ).items():
            values.setdefault(key, value)
        # only keyword overrides are Python values to turn into text (a list of entities, a date); the file's values
        # go to from_mapping as they are, so a list or an object there is refused rather than joined into a string
        values.update({k: v if isinstance(v, str) else _unparse(v) for k, v in overrides.items() if v is not None})
        return cls.from_mapping(values)


def env_values(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    environ = os.environ if environ is None else environ
    return {key: environ[var] for key, var in ENV_KEYS.items() if environ.get(var)}


def read_configuration(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The file's JSON object. Whatever the file holds, the only way out is the object or one ConfigError: a
    configuration is a few hundred bytes, so anything past MAX_CONFIG_BYTES is refused unread, and JSON nested too
    deep for the parser or bytes that are not UTF-8 are "not valid JSON", not a traceback."""
    file = Path(path)
    try:
        size = file.stat().st_size
        data = json.loads(file.read_bytes()) if size <= MAX_CONFIG_BYTES else None
    except FileNotFoundError:
        raise ConfigError([f"configuration file {file} does not exist"]) from None
    except OSError as err:
        raise ConfigError([f"configuration file {file} cannot be read ({err.strerror or type(err).__name__})"]) \
            from None
    except json.JSONDecodeError as err:
        raise ConfigError([f"configuration file {file} is not valid JSON (line {err.lineno})"]) from None
    except (ValueError, RecursionError):  # not UTF-8 (UnicodeDecodeError), or nested beyond the parser's depth
        raise ConfigError([f"configuration file {file} is not valid JSON (not UTF-8 text, or nested too deeply)"]) \
            from None
    if size > MAX_CONFIG_BYTES:
        raise ConfigError([f"configuration file {file} is too large ({size:,} bytes; a configuration is a few "
                           f"hundred, at most {MAX_CONFIG_BYTES:,} are read)"])
    if not isinstance(data, dict):
        raise ConfigError([f"configuration file {file} must hold a JSON object"])
    return data


def _unparse(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# -- per-key parsers: each takes the stripped string and returns the typed value or raises ValueError ----------
def _text(raw: str) -> str:
    return raw


def parse_deployment(raw: str) -> str:
    """`acme`, `acme.accelo.com`, `https://acme.api.accelo.com/` → `acme`; anything that could steer the host
    elsewhere is refused before a request is made."""
    if not raw.isascii():  # look-alikes: Cyrillic а, full-width ａ, the Kelvin sign K that lower() makes a "k"
        raise ValueError(f"{raw!a} has characters outside ASCII; {DEPLOYMENT_HELP}")
    text = raw.lower()
    if re.search(r"\s", text):
        raise ValueError(f"{raw!r} contains spaces; {DEPLOYMENT_HELP}")
    host = text
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme not in {"http", "https"} or parts.username or parts.query or parts.fragment \
                or parts.path not in {"", "/"} or parts.port:
            raise ValueError(f"{raw!r} is not a deployment; {DEPLOYMENT_HELP}")
        host = parts.hostname or ""
    elif text.endswith("/"):
        host = text[:-1]
    match = ACCELO_HOST.fullmatch(host)
    label = match.group(1) if match else host
    if not DNS_LABEL.fullmatch(label):
        raise ValueError(f"{raw!r} is not a deployment; {DEPLOYMENT_HELP}")
    return label


def parse_base_url(raw: str) -> str:
    """`scheme://host[:port]`; a trailing `/api/v0` is dropped; plain http only for loopback hosts."""
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"{raw!r} must look like https://host[:port]")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(f"{raw!r} must not carry credentials, a query or a fragment")
    path = parts.path.rstrip("/")
    if path not in {"", "/api/v0"}:
        raise ValueError(f"{raw!r} must not have a path (the kit adds /api/v0 and /oauth2/v0 itself)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{raw!r} has an invalid port") from None
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(f"{raw!r}: plain http is only allowed for loopback hosts; use https")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"must be a whole number from {low} to {high}") from None
        if not low <= value <= high:
            raise ValueError(f"{value} is outside {low}..{high}")
        return value

    return parse


def _float_at_least(low: float, inclusive: bool) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("must be a number") from None
        if value < low or (value == low and not inclusive) or value != value:
            raise ValueError(f"{raw!r} must be {'at least' if inclusive else 'more than'} {low:g}")
        return value

    return parse


def _one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ValueError(f"{raw!r} is not one of {', '.join(choices)}")
        return value

    return parse


_positive_float = _float_at_least(0, inclusive=False)
_non_negative_float = _float_at_least(0, inclusive=True)


def parse_entities(raw: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    unknown = [n for n in names if n not in ENTITIES]
    if unknown:
        raise ValueError(f"unknown entit{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
                         f"known: {', '.join(ENTITIES)}")
    if not names:
        raise ValueError("name at least one entity")
    return names


def parse_start_date(raw: str) -> date:
    try:
        day = date.fromisoformat(raw[:10]) if len(raw) >= 10 else date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not an ISO date like 2024-01-31") from None
    if datetime(day.year, day.month, day.day, tzinfo=timezone.utc) > datetime.now(timezone.utc):
        raise ValueError(f"{raw} is in the future")
    return day


def parse_scope(raw: str) -> str:
    if not re.fullmatch(r"(?:(?:read|write)\([a-z_,]+\)(?:,(?!$)|$))+", raw):
        raise ValueError(f"{raw!r} is not a scope like read(all) or read(companies,jobs)")
    return raw


_PARSERS: dict[str, Callable[[str], object]] = {
    "deployment": parse_deployment,
    "base_url": parse_base_url,
    "threads": _bounded_int(1, MAX_THREADS),
    "scope": parse_scope,
    "request_timeout": _positive_float,
    "budget_reserve": _bounded_int(0, 1_000_000),
    "budget_policy": _one_of(BUDGET_POLICIES),
    "rate_window_seconds": _positive_float,
    "entities": parse_entities,
    "start_date": parse_start_date,
    "overlap_seconds": _bounded_int(0, 7 * 86_400),
    "max_attempts": _bounded_int(1, 100),
    "max_retry_wait": _positive_float,
    "max_rate_wait": _positive_float,
    "reconcile_every_days": _non_negative_float,
}


@dataclass(frozen=True)
class ConfigSource:
    """Where a notebook's settings come from: a configuration file (`path`), ACCELO_* only, or the simulator."""

    path: Path | None  # None: no file (ACCELO_* variables, or the simulator's own settings)
    simulate: bool  # the embedded simulator: SIMULATED data


def config_source(config_path: str) -> ConfigSource:
    """The notebooks' `config_path` parameter, read in one place (docs/notebooks.md): "" → the embedded simulator,
    "env" → ACCELO_* variables only, anything else → a configuration.json path (`~` expanded)."""
    value = config_path.strip()
    if value == "":
        return ConfigSource(None, True)
    if value == "env":
        return ConfigSource(None, False)
    return ConfigSource(Path(value).expanduser(), False)
