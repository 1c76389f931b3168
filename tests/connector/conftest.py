"""Fixtures for driving connector.py with `fivetran debug` in a subprocess (a handful of times) and with
`connector.debug(...)` in-process (the rest), each in a temporary project folder."""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.connector.sdk import ROOT, make_home, runner_env, saved_state


@pytest.fixture(scope="session")
def sdk_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_home(tmp_path_factory.mktemp("home"))


@pytest.fixture
def sdk_env(sdk_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same environment for in-process `connector.debug(...)`."""
    for key, value in runner_env(sdk_home).items():
        monkeypatch.setenv(key, value)
    for key in [k for k in os.environ if k.startswith(("FIVETRAN_", "ACCELO_"))]:
        monkeypatch.delenv(key)


class ExitHooks:
    """Stands in for `atexit` inside the SDK during an in-process run. `connector.debug` is made for a process of
    its own: it starts a memory-sampling thread that runs until exit, where it prints a usage line, and keeps a
    failed run's crash report to print at exit. Here the test has read the run's log already; the hooks are
    collected, and the sampling threads stopped, when the test ends."""

    def __init__(self) -> None:
        self.hooks: list[Callable[..., Any]] = []

    def register(self, hook: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
        self.hooks.append(hook)
        return hook

    def unregister(self, hook: Callable[..., Any]) -> None:
        self.hooks = [h for h in self.hooks if h != hook]

    def stop_samplers(self) -> None:
        for hook in self.hooks:
            owner = getattr(hook, "__self__", None)
            if hasattr(owner, "active"):
                owner.active = False  # the memory tracker's loop condition


@pytest.fixture(scope="session")
def connector_module() -> ModuleType:
    """The repository's connector.py, imported once as Fivetran imports it."""
    spec = importlib.util.spec_from_file_location("accelo_connector_under_test", ROOT / "connector.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def debug_in_process(connector_module: ModuleType, sdk_env: None,
                     monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`connector.debug(...)` in this process on a project folder, with the state a previous run left there."""
    hooks = ExitHooks()
    for module in ("fivetran_connector_sdk_cli.connector", "fivetran_connector_sdk_cli.memory_tracker"):
        monkeypatch.setattr(importlib.import_module(module), "atexit", hooks)

    def run(project: Path, configuration: dict[str, Any], state: dict[str, Any] | None = None) -> None:
        if state is None:
            state = saved_state(project) or {}
        connector_module.connector.debug(project_path=str(project), configuration=configuration, state=state)

    yield run
    hooks.stop_samplers()
