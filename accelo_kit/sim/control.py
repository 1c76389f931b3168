"""The simulator's control endpoints under `/_sim/`, so a client in another process or language can steer it
(faults, mutations, settings) and read its request log and ground truth. Not part of Accelo's API: never counted
against the rate limit, never faulted, never logged."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from .errors import ApiError
from .schema import LISTABLE

if TYPE_CHECKING:
    from .backend import SimBackend
    from .log import LogEntry

PREFIX = "/_sim/"


def handle(sim: SimBackend, method: str, path: str, body: bytes) -> dict[str, Any]:
    """The JSON answer to a control request; raises ApiError for a bad one."""
    route = path[len(PREFIX):].strip("/")
    try:
        payload = json.loads(body) if body else {}
    except ValueError:
        raise ApiError.invalid("control requests take a JSON body") from None
    if not isinstance(payload, dict):
        raise ApiError.invalid("control requests take a JSON object")
    if method == "GET" and route == "log":
        return {"entries": [_entry(e) for e in sim.log.entries()]}
    if method == "POST" and route == "log/clear":
        sim.log.clear()
        return {"cleared": True}
    if method == "GET" and route.startswith("truth/") and route[6:] in LISTABLE:
        return {"rows": sim.truth(route[6:])}
    if method == "POST" and route == "faults":
        return _faults(sim, payload)
    if method == "POST" and route == "mutate":
        return _mutate(sim, payload)
    if method == "GET" and route == "neighbours":
        return {"neighbours": sim.neighbours.summary()}
    if method == "POST" and route == "neighbours":
        return _neighbours(sim, payload)
    if method == "POST" and route == "settings":
        try:
            sim.set(**payload)
        except (TypeError, ValueError) as err:
            raise ApiError.invalid(str(err)) from None
        return {"settings": dataclasses.asdict(sim.settings) | {"client_secret": "***"}}
    raise ApiError.invalid(f"unknown control request {method} {path}")


def _entry(entry: LogEntry) -> dict[str, Any]:
    data = dataclasses.asdict(entry)
    data.pop("token", None)
    return data


def _faults(sim: SimBackend, payload: dict[str, Any]) -> dict[str, Any]:
    kind = str(payload.get("kind", ""))
    path = str(payload.get("path", r"^/api/"))
    try:
        if kind == "clear":
            sim.faults.clear()
        elif "probability" in payload:
            sim.faults.set_probability(kind, float(payload["probability"]), path=path)
        else:
            sim.faults.script(kind, int(payload.get("count", 1)), path=path)
    except (TypeError, ValueError) as err:
        raise ApiError.invalid(str(err)) from None
    return {"pending": sim.faults.pending(), "injected": dict(sim.faults.injected)}


def _mutate(sim: SimBackend, payload: dict[str, Any]) -> dict[str, Any]:
    action, resource = payload.get("action"), payload.get("resource")
    if resource not in LISTABLE or action not in {"insert", "modify", "delete"}:
        raise ApiError.invalid("mutate takes action insert|modify|delete and a listable resource")
    count = int(payload.get("count", 1))
    try:
        if action == "insert":
            ids = sim.insert(resource, count=count, at=payload.get("at"))
        elif action == "modify":
            ids = sim.modify(resource, ids=payload.get("ids"), count=count, at=payload.get("at"))
        else:
            ids = sim.delete(resource, ids=payload.get("ids"), count=count)
    except (KeyError, ValueError) as err:
        raise ApiError.invalid(str(err)) from None
    return {"ids": ids}


def _neighbours(sim: SimBackend, payload: dict[str, Any]) -> dict[str, Any]:
    """`{"action": "start", "spec": "steady:2.5", "name": "acct", "delay_s": 0, "stop_after_s": 30}`,
    `{"action": "stop", "name": "acct", "after_s": 0}` (no name: every neighbour)."""
    action = payload.get("action")
    try:
        if action == "start":
            stop_after = payload.get("stop_after_s")
            started = sim.neighbours.start(str(payload.get("spec", "")), str(payload.get("name", "")),
                                           float(payload.get("delay_s", 0.0)),
                                           None if stop_after is None else float(stop_after))
            changed = [started]
        elif action == "stop":
            name = payload.get("name")
            changed = sim.neighbours.stop(None if name is None else str(name), float(payload.get("after_s", 0.0)))
        else:
            raise ApiError.invalid("neighbours takes action start (with a spec) or stop")
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ApiError.invalid(str(err).strip("'\"")) from None
    return {"changed": changed, "neighbours": sim.neighbours.summary()}
