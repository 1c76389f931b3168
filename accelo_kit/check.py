"""`accelo-kit check`: first contact with a deployment. Verifies the credentials, reads the budget, and probes each
behaviour docs/accelo-api.md lists under "Unconfirmed behaviours" with as few requests as possible, so that what a
real deployment does can be loaded into the simulator (`accelo-kit sim serve --variants report.json`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .auth import parse_json
from .budget import BudgetExhausted
from .client import AcceloClient, Probe
from .config import Settings
from .errors import AcceloError, PermissionDenied, RetriesExhausted
from .servertime import format_utc
from .sync.progress import others_seen

BEHAVIOUR_KEYS = ("count_type", "expires_in_type", "limit_over_100", "unknown_field", "unset_dates", "unknown_path",
                  "rate_limit")
# what the rate-limit headers showed of the window and of the other integrations spending it (docs/reliability.md,
# A good neighbour): the window's kind (fixed until a reset creeps forward), their requests this window and rate
OTHERS_KEYS = ("window_kind", "others_this_window", "others_rate_per_s")
REPORT_KEYS = (*BEHAVIOUR_KEYS, *OTHERS_KEYS, "requests_used")
UNSET_PROBE_FIELDS = "date_completed,date_started,date_commenced,date_last_interacted"
NO_SUCH_FIELD = "accelo_kit_no_such_field"
NO_SUCH_PATH = "accelo_kit_no_such_resource"


class CheckFailed(AcceloError):
    """First contact failed; the message says what to fix."""


def run_check(settings: Settings) -> tuple[dict[str, Any], list[str]]:
    """The report (exactly REPORT_KEYS; None where the deployment's data cannot tell) and lines for a person."""
    # first contact: fail fast, never hammer; a spent budget is reported, not waited out
    quick = replace(settings, max_attempts=2, max_retry_wait=5.0, max_rate_wait=5.0)
    with AcceloClient(quick) as client:
        try:
            return _probe(client, settings)
        except PermissionDenied as err:
            raise CheckFailed(f"the service application's scope ({settings.scope}) does not allow "
                              f"{err.path.strip('/').split('/')[0]}: add it in Accelo (Configuration → API) "
                              "or widen `scope`") from err
        except BudgetExhausted as err:
            raise CheckFailed(f"{err}; the check needs about 7 requests, try again then") from err
        except RetriesExhausted as err:
            where = settings.origin
            if "does not resolve" in str(err):
                raise CheckFailed(f"cannot find {where}: is the deployment name right? ({err.detail})") from err
            raise CheckFailed(f"cannot reach {where}: {err.detail}") from err
        except (TypeError, ValueError, AttributeError, KeyError, OverflowError) as err:
            # the probes read answers as Accelo shapes them; a server that sends other shapes (a list for an
            # object, a number too big for a date) ends here with a message, not in a traceback
            raise CheckFailed(f"{settings.origin} answered in a shape Accelo does not use ({type(err).__name__}: "
                              f"{str(err)[:120]}); is it an Accelo API?") from err


def _probe(client: AcceloClient, settings: Settings) -> tuple[dict[str, Any], list[str]]:
    token = client.token_details()
    report: dict[str, Any] = dict.fromkeys(REPORT_KEYS)
    report["expires_in_type"] = "string" if token.expires_in_type == "string" else "number"

    info = _envelope(client.probe("tokeninfo"), "tokeninfo")
    stats = client.stats()
    report["rate_limit"] = stats.limit
    reset = format_utc(stats.reset, fmt="%H:%M:%S") if stats.reset else "unknown"
    lines = [f"credentials accepted for deployment {info.get('deployment') or token.deployment} "
             f"(token expires {format_utc(int(info.get('expiry_date') or 0), suffix='', fmt='%Y-%m-%d')})",
             f"rate limit {stats.limit} requests a window; {stats.remaining} left, window resets at {reset}"]

    count = _envelope(client.probe("companies/count"), "companies/count").get("count")
    report["count_type"] = "number" if isinstance(count, (int, float)) else "string"
    companies = int(count or 0)

    answer = client.probe("companies", {"_limit": "101", "_fields": "id"})
    if answer.status == 400:
        report["limit_over_100"] = "rejected"
    elif answer.status == 200 and companies > 100:
        report["limit_over_100"] = "capped" if len(_envelope(answer, "companies")) <= 100 else None
    answer = client.probe("companies", {"_limit": "1", "_fields": NO_SUCH_FIELD})
    report["unknown_field"] = "rejected" if answer.status == 400 else "ignored" if answer.status == 200 else None

    rows = _envelope(client.probe("jobs", {"_limit": "100", "_fields": UNSET_PROBE_FIELDS}), "jobs")
    forms = {("null" if value is None else "0") for row in rows for key, value in row.items()
             if key != "id" and (value is None or str(value) == "0")}
    report["unset_dates"] = sorted(forms)

    answer = client.probe(NO_SUCH_PATH)
    report["unknown_path"] = "html" if parse_json(answer.body, None) is None else "json"
    stats = client.stats()
    report["window_kind"] = stats.window_kind
    report["others_this_window"] = stats.others_this_window
    report["others_rate_per_s"] = None if stats.others_rate_per_s is None else round(stats.others_rate_per_s, 3)
    report["requests_used"] = stats.requests
    lines.append(f"rate window: {stats.window_kind} as far as the headers showed, {stats.window_s:g} s long")
    lines.append(others_seen(stats.others_this_window, stats.others_rate_per_s, stats.limit, stats.window_s,
                             when="so far in this window")
                 + f"; the {stats.policy} budget policy keeps {stats.reserve_now} for them now "
                   f"(budget_reserve {stats.reserve})")
    lines.append(f"probed {len(BEHAVIOUR_KEYS)} behaviours with {report['requests_used']} requests")
    return report, lines


def _envelope(answer: Probe, what: str) -> Any:
    parsed = parse_json(answer.body, None)
    meta = parsed.get("meta", {}) if isinstance(parsed, dict) else {}
    if answer.status == 403:
        raise PermissionDenied("not allowed", method="GET", path=f"/{what}", status=403,
                               meta_status=meta.get("status"))
    if answer.status == 429:
        raise CheckFailed(f"the deployment's hourly request budget is already spent ({what} answered 429); "
                          "try again after the window resets")
    if answer.status != 200 or not isinstance(parsed, dict) or meta.get("status") != "ok":
        raise CheckFailed(f"unexpected answer from {what}: HTTP {answer.status} {answer.content_type.split(';')[0]} "
                          f"{meta.get('status') or ''} {meta.get('message') or ''}".strip())
    return parsed.get("response")


def simulator_settings(report: dict[str, Any]) -> dict[str, Any]:
    """The simulator switches that reproduce a check report (for `accelo-kit sim serve --variants`)."""
    unknown = sorted(set(report) - set(REPORT_KEYS))
    if unknown:
        raise ValueError(f"not a check report: unexpected keys {', '.join(unknown)}")
    settings: dict[str, Any] = {}
    if report.get("count_type") in {"string", "number"}:
        settings["count_type"] = report["count_type"]
    if report.get("expires_in_type") in {"string", "number"}:
        settings["expires_in_type"] = report["expires_in_type"]
    if report.get("limit_over_100") in {"capped", "rejected"}:
        settings["over_limit"] = {"capped": "cap", "rejected": "reject"}[report["limit_over_100"]]
    if report.get("unknown_field") in {"ignored", "rejected"}:
        settings["unknown_field"] = {"ignored": "ignore", "rejected": "reject"}[report["unknown_field"]]
    forms = set(report.get("unset_dates") or [])
    if forms:
        settings["unset_date"] = "mixed" if forms == {"null", "0"} else "zero" if forms == {"0"} else "null"
    if report.get("unknown_path") in {"json", "html"}:
        settings["unknown_path"] = {"json": "json400", "html": "html404"}[report["unknown_path"]]
    if isinstance(report.get("rate_limit"), int):
        settings["rate_limit"] = report["rate_limit"]
    if report.get("window_kind") in {"fixed", "rolling"}:
        settings["rate_window"] = report["window_kind"]
    return settings
