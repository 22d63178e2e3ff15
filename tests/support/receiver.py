"""A real HTTP receiver on 127.0.0.1 for webhook tests: records each request, answers as scripted."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    drip: float = 0.0  # when set, the whole answer goes out one byte per `drip` seconds


@dataclass
class Receiver:
    port: int
    requests: list[Received]
    # Called with the request number (0-based); returns what to answer.
    script: Callable[[int], Answer]
    # For each dripped answer, (bytes of it that went out before the client hung up, its whole length).
    dripped: list[tuple[int, int]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def wait_for(self, count: int, timeout: float = 60.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver got {len(self.requests)} request(s), expected {count}")
            time.sleep(0.05)
        return self.requests


@contextmanager
def receiver(script: Callable[[int], Answer] | None = None, port: int = 0) -> Iterator[Receiver]:
    state = Receiver(port=0, requests=[], script=script or (lambda n: Answer()))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with lock:
                number = len(state.requests)
                state.requests.append(
                    Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
            answer = state.script(number)
            if answer.delay:
                time.sleep(answer.delay)
            if answer.drip:
                self._drip(answer)
                return
            try:
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading, as it should with huge answers

        def _drip(self, answer: Answer) -> None:
            head = f"HTTP/1.1 {answer.status} OK\r\nContent-Length: {len(answer.body)}\r\n\r\n"
            whole = head.encode() + answer.body
            sent = 0
            try:
                for byte in whole:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    sent += 1
                    time.sleep(answer.drip)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up, as it should
            finally:
                state.dripped.append((sent, len(whole)))

        do_POST = do_GET = do_PUT = _handle

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
