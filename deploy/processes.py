"""The platform's process types and a small supervisor for running them together.

`make run` and the test suite start exactly these commands, so what the
tests exercise is what production runs (one command per process type).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def api_command(*, port: int, workers: int = 2) -> list[str]:
    """gunicorn with uvicorn workers (ASGI): event streams wait on Redis without holding a thread."""
    return [
        PYTHON, "-m", "gunicorn", "api_service.asgi:application",
        "--worker-class", "uvicorn_worker.UvicornWorker",
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--access-logfile", "-", "--graceful-timeout", "5",
    ]  # fmt: skip


def control_worker_command(*, concurrency: int = 2, beat: bool = True, name: str = "control") -> list[str]:
    """Execution state changes (and beat): never behind a webhook delivery, which has its own worker."""
    cmd = _celery_worker("control", concurrency=concurrency, name=name)
    if beat:
        # Embedded beat: fine for one control worker; production runs `celery beat` once.
        cmd += [
            "-B",
            "--schedule",
            str(Path(os.environ.get("DATA_DIR", REPO / ".data")) / "celerybeat-schedule"),
        ]
    return cmd


def webhooks_worker_command(*, concurrency: int = 4, name: str = "webhooks") -> list[str]:
    """Webhook deliveries and their sweeper: slow receivers hold up only each other, up to their limits."""
    return _celery_worker("webhooks", concurrency=concurrency, name=name)


def _celery_worker(queues: str, *, concurrency: int, name: str) -> list[str]:
    return [
        PYTHON, "-m", "celery", "-A", "api_service.celery:app", "worker",
        "-Q", queues, "-c", str(concurrency), "-n", f"{name}@%h",
        "--loglevel", "INFO", "--without-gossip", "--without-mingle",
    ]  # fmt: skip


def gpu_worker_command(*, pool: str = "default", name: str = "gpu") -> list[str]:
    return [PYTHON, "-m", "gpu_worker.launcher", "--pool", pool, "--name", name]


@dataclass
class Supervised:
    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str]
    process: subprocess.Popen | None = None
    stop_timeout: float = 15.0  # seconds between SIGTERM and SIGKILL

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self.argv, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float | None = None) -> None:
        if self.process is None:
            return
        timeout = self.stop_timeout if timeout is None else timeout
        # The whole group, even when its leader already died: its children may still run.
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    def tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class ProcessGroup:
    """Starts processes, watches them, stops them all (newest first)."""

    members: list[Supervised] = field(default_factory=list)

    def start(
        self, name: str, argv: list[str], *, log_dir: Path, env: dict[str, str], stop_timeout: float = 15.0
    ) -> Supervised:
        member = Supervised(name, argv, log_dir / f"{name}.log", env, stop_timeout=stop_timeout)
        member.start()
        self.members.append(member)
        return member

    def dead(self) -> list[Supervised]:
        return [m for m in self.members if not m.alive()]

    def stop(self) -> None:
        for member in reversed(self.members):
            member.stop()


def wait_for(check, *, timeout: float, interval: float = 0.3, what: str = "service") -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(f"{what} was not ready after {timeout:.0f}s (last error: {last_error})")
