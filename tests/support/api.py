"""A small HTTP client for the live api, and helpers to wait for executions."""

from __future__ import annotations

import time
from typing import Any

import requests

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}


class ApiClient:
    def __init__(self, base_url: str, key: str | None) -> None:
        self.base_url = base_url
        self.key = key
        self.session = requests.Session()
        if key:
            self.session.headers["Authorization"] = f"Bearer {key}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, f"{self.base_url}{path}", timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def create_workflow(self, graph: dict, inputs: dict | None = None, name: str = "test") -> dict:
        response = self.post("/v1/workflows", json={"name": name, "graph": graph, "inputs": inputs or {}})
        assert response.status_code == 201, response.text
        return response.json()

    def execute(self, workflow_id: str, inputs: dict | None = None) -> str:
        response = self.post(f"/v1/workflows/{workflow_id}/execute", json={"inputs": inputs or {}})
        assert response.status_code == 202, response.text
        return response.json()["executionId"]

    def wait(self, execution_id: str, timeout: float = 120.0) -> dict:
        deadline = time.monotonic() + timeout
        interval = 0.05
        while True:
            response = self.get(f"/v1/workflows/executions/{execution_id}/poll")
            if response.status_code == 429:  # a well-behaved client waits as told
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            assert response.status_code == 200, response.text
            body = response.json()
            if body["status"] in TERMINAL:
                return body
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"execution {execution_id} still {body['status']} after {timeout}s: {body}"
                )
            # Back off to 2 polls a second, well inside every plan's per-minute limit.
            time.sleep(interval)
            interval = min(0.5, interval * 1.5)
