"""The simulator in its own process (so its CPU is not the client's), steered over its /_sim/ endpoints."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import requests


@dataclass
class SimProcess:
    process: subprocess.Popen[str]
    base_url: str
    client_id: str
    client_secret: str
    settings: dict[str, Any]

    def configuration(self, **extra: str) -> dict[str, str]:
        values = {"base_url": self.base_url, "client_id": self.client_id, "client_secret": self.client_secret}
        window = float(self.settings.get("rate_window_s", 3600))
        if window != 3600:  # a compressed window: the kit's pacing needs its length (as Simulator.configuration)
            values["rate_window_seconds"] = f"{window:g}"
        return {**values, **extra}

    def neighbours(self) -> dict[str, Any]:
        """Per background integration: sent, counted, refused (429s) and the same per window."""
        answer: dict[str, Any] = requests.get(f"{self.base_url}/_sim/neighbours", timeout=30).json()["neighbours"]
        return answer

    def log(self) -> list[dict[str, Any]]:
        return requests.get(f"{self.base_url}/_sim/log", timeout=60).json()["entries"]

    def clear_log(self) -> None:
        requests.post(f"{self.base_url}/_sim/log/clear", timeout=30)

    def set(self, **settings: Any) -> None:
        requests.post(f"{self.base_url}/_sim/settings", data=json.dumps(settings), timeout=30).raise_for_status()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)

    def __enter__(self) -> SimProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(**settings: Any) -> SimProcess:
    """`accelo-kit sim serve` with these settings; returns once its banner says where it listens."""
    args = [sys.executable, "-m", "accelo_kit.cli", "sim", "serve", "--port", "0"]
    for name, value in settings.items():
        if isinstance(value, dict):
            value = ",".join(f"{k}:{v}" for k, v in value.items())
        args += ["--set", f"{name}={value}"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    banner = dict(process.stdout.readline().strip().split(": ", 1) for _ in range(3))
    return SimProcess(process, banner["base_url"], banner["client_id"], banner["client_secret"], settings)
