"""explore.ipynb in JupyterLab, in a real browser (issue 6, "JupyterLab in a real browser"; docs/notebooks.md).

One `jupyter lab` on 127.0.0.1 with a token and temporary config, data and runtime dirs, serving a copy of the
notebook (JupyterLab saves what it runs: the committed notebook must stay without outputs); Debian's Chromium driven
by Playwright for Python. The test runs every cell from the Run menu, clicks Load, and waits for the DataFrame's
HTML table. The screenshot is kept under out/test-artifacts/ and its path printed.
"""

from __future__ import annotations

import ctypes
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from accelo_kit.paths import out_dir

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "explore.ipynb"
STARTUP_TIMEOUT_S = 60
PR_SET_PDEATHSIG = 1


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM if pytest itself is killed (a teardown that never runs must not leave it)."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _need_chromium() -> None:
    if CHROMIUM.exists():
        return
    why = f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"under CI=true a missing browser is a failure: {why}")
    pytest.skip(why)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """One JupyterLab server for the module: it takes seconds to start."""
    _need_chromium()
    base = tmp_path_factory.mktemp("lab")
    root = base / "notebooks"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    token, port = secrets.token_hex(16), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCELO_", "JUPYTER"))}
    env.update(JUPYTER_CONFIG_DIR=str(base / "config"), JUPYTER_DATA_DIR=str(base / "data"),
               JUPYTER_RUNTIME_DIR=str(base / "runtime"), JUPYTER_PATH=str(Path(sys.prefix) / "share" / "jupyter"),
               IPYTHONDIR=str(base / "ipython"), HOME=str(base))
    command = [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", "--ip", "127.0.0.1",
               f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
               "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               f"--LabServerApp.workspaces_dir={base / 'workspaces'}"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = base / "jupyter.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=root,
                                  preexec_fn=_die_with_parent)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"jupyter lab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if requests.get(f"{url}/api/status", params={"token": token}, timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not answer within {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.25)
        yield Lab(url, token, root, log)
    finally:
        server.terminate()  # shuts its kernels down too
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)


def test_explore_notebook_runs_in_jupyterlab_and_load_shows_the_dataframe(lab: Lab, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)

    artifacts = out_dir() / "test-artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    screenshot = artifacts / "explore-jupyterlab.png"
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000})
        try:
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{lab.url}/lab/tree/{NOTEBOOK.name}?token={lab.token}")
            notebook = page.locator(".jp-NotebookPanel").first
            expect(notebook).to_be_visible()
            # the kernel is up once the status bar says "Python 3 (ipykernel) | Idle"
            expect(page.get_by_role("button", name=re.compile(r"Python 3.*\| Idle"))).to_be_visible()
            news = page.get_by_role("alert").get_by_role("button", name="No")
            if news.count():
                news.first.click()  # "get notified about official Jupyter news?": it would cover the notebook
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()

            load = notebook.locator(".widget-button", has_text="Load").first
            expect(load).to_be_visible()  # the widgets rendered
            expect(notebook.locator(".widget-dropdown select").first).to_be_visible()
            expect(notebook.locator(".widget-toggle-buttons").first).to_be_visible()
            expect(notebook.locator(".widget-datepicker").first).to_be_visible()
            expect(notebook.locator(".widget-hprogress").first).to_be_visible()
            expect(notebook.get_by_text("SIMULATED Accelo deployment").first).to_be_visible()
            expect(load).to_be_enabled()
            load.click()

            table = notebook.locator(".widget-output table.dataframe").first
            expect(table).to_be_visible()  # the loaded DataFrame's HTML table
            expect(notebook.locator(".widget-output").get_by_text("companies: 2,000 rows").first).to_be_visible()
            expect(notebook.locator(".widget-html").get_by_text("Loaded 2,000 companies").first).to_be_visible()
            headers = table.locator("thead th").all_inner_texts()
            assert {"id", "name", "date_modified", "standing"} <= set(headers), headers
            table.scroll_into_view_if_needed()
            page.screenshot(path=str(screenshot), full_page=False)
        except BaseException:
            with capsys.disabled():
                print(f"\njupyter lab log:\n{lab.log.read_text()[-3000:]}")
            page.screenshot(path=str(screenshot))
            raise
        finally:
            with capsys.disabled():
                print(f"\nbrowser screenshot: {screenshot}")
            context.close()
    assert screenshot.stat().st_size > 10_000
