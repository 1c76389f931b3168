"""The scan hands control back to its consumer while no page comes (`on_idle`), so a caller that shows progress
(the explorer) needs no thread of its own to announce a long wait. Pure: a fake fetch, no server."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

from accelo_kit.paging import KeysetScanner, ScanRequest


def slow_empty_fetch(path: str, params: Mapping[str, str]) -> list[dict[str, str]]:
    time.sleep(0.6)  # as a worker held by the rate budget would be
    return []


def test_on_idle_runs_on_the_consuming_thread_while_no_page_comes() -> None:
    calls: list[str] = []
    scanner = KeysetScanner(slow_empty_fetch, threads=2)
    request = ScanRequest(key="companies", path="companies", fields="id", filters=())
    pages = list(scanner.scan([request], on_idle=lambda: calls.append(threading.current_thread().name),
                              idle_s=0.1))
    assert [p.complete for p in pages] == [True]
    assert len(calls) >= 3, calls  # ~0.6 s without a page at 0.1 s a call
    assert set(calls) == {threading.current_thread().name}


def test_without_on_idle_the_consumer_just_waits() -> None:
    scanner = KeysetScanner(slow_empty_fetch, threads=1)
    request = ScanRequest(key="companies", path="companies", fields="id", filters=())
    assert [p.complete for p in scanner.scan([request])] == [True]
