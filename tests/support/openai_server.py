"""A real OpenAI-compatible chat-completions server on 127.0.0.1, started by the test that needs one.

POST {root}/v1/chat/completions checks `Authorization: Bearer <api_key>` (401 otherwise) and answers a
completion derived from the request (so a test can tell that its prompt, model and seed arrived), with
`usage` counting words. Other roots misbehave on purpose:
`/slow/v1` answers after `slow_seconds`, `/garbage/v1` answers a non-JSON 200, `/boom/v1` a 500 whose
body quotes the Authorization header (which must never reach a caller).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def expected_answer(model: str, system_prompt: str, prompt: str, seed: int) -> str:
    """What the server answers: a deterministic function of the request."""
    style = f" ({system_prompt})" if system_prompt else ""
    return f"{prompt}, highly detailed{style} [{model} seed {seed}]"


def word_count(text: str) -> int:
    return len(text.split())


@dataclass
class ChatServer:
    port: int
    api_key: str | None
    requests: list[dict[str, Any]] = field(default_factory=list)
    slow_seconds: float = 3.0

    def base_url(self, root: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{root}/v1"


@contextmanager
def chat_server(api_key: str | None = None) -> Iterator[ChatServer]:
    state = ChatServer(port=0, api_key=api_key)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            auth = self.headers.get("Authorization")
            with lock:
                state.requests.append({"path": self.path, "authorization": auth, "raw": raw})
            root, _, rest = self.path.partition("/v1/")
            if rest != "chat/completions":
                return self._send(404, {"error": {"message": "no such route"}})
            if state.api_key is not None and auth != f"Bearer {state.api_key}":
                return self._send(401, {"error": {"message": f"invalid key {auth}"}})
            if root == "/boom":
                return self._send(500, {"error": {"message": f"upstream exploded, you sent {auth}"}})
            if root == "/garbage":
                return self._send_raw(200, b"<html>not json</html>", "text/html")
            if root == "/slow":
                time.sleep(state.slow_seconds)
            request = json.loads(raw)
            messages = request["messages"]
            system = next((m["content"] for m in messages if m["role"] == "system"), "")
            prompt = next(m["content"] for m in messages if m["role"] == "user")
            text = expected_answer(request["model"], system, prompt, request.get("seed", 0))
            prompt_tokens = sum(word_count(m["content"]) for m in messages)
            completion_tokens = word_count(text)
            self._send(
                200,
                {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "model": request["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": completion_tokens,
                        "total_tokens": prompt_tokens + completion_tokens,
                    },
                },
            )

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            self._send_raw(status, json.dumps(payload).encode(), "application/json")

        def _send_raw(self, status: int, body: bytes, content_type: str) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
