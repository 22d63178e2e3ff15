"""Concurrent HTTP from several processes, each with several threads: bounded and loopback-only."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]


def _send(args: tuple[str, str, str, dict, bytes]) -> Reply:
    method, url, key, headers, body = args
    response = requests.request(
        method, url, data=body, headers={"Authorization": f"Bearer {key}", **headers}, timeout=60
    )
    return Reply(response.status_code, response.content, dict(response.headers))


def _thread_batch(batch: list[tuple[str, str, str, dict, bytes]]) -> list[Reply]:
    with ThreadPoolExecutor(max_workers=len(batch)) as pool:
        return list(pool.map(_send, batch))


def concurrent_requests(
    requests_: list[tuple[str, str, str, dict, bytes]], *, processes: int = 4
) -> list[Reply]:
    """Fire every request at about the same time from `processes` processes.

    Spawned, not forked: a fork of the threaded test process can inherit a held lock and hang.
    """
    batches = [requests_[i::processes] for i in range(processes)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        results = pool.map(_thread_batch, [b for b in batches if b])
    return [reply for batch in results for reply in batch]
