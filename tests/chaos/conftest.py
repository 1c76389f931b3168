"""The chaos suite's fixtures and its summary: the connector fixtures (shared with tests/connector), and the figures
the chaos tests measured, printed at the end of the run so that a `make chaos` log carries them."""

from __future__ import annotations

import pytest

from tests.chaos.harness import FIGURES, FULL
from tests.connector.conftest import connector_module, debug_in_process, sdk_env, sdk_home

__all__ = ["connector_module", "debug_in_process", "sdk_env", "sdk_home"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section(f"chaos figures ({'full size' if FULL else 'scaled'})")
    for figures in FIGURES:
        title = figures.get("test", "")
        terminalreporter.write_line(f"{title}:")
        for key, value in figures.items():
            if key != "test":
                terminalreporter.write_line(f"    {key}: {value}")
