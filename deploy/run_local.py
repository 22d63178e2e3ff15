"""`make run`: the whole platform on this machine, in the foreground, until Ctrl-C.

Starts the embedded PostgreSQL, Valkey and SeaweedFS for whatever the
environment does not name, migrates, creates a local tenant, admin user and
API key on first start, writes the demo models (tiny_models/demo.py), then runs the api on
:8000, the control worker (with beat), the webhooks worker and one gpu worker. The settings its
processes get are written to DATA_DIR/local.env, where `manage.py` and the
gpu worker, started by hand from the checkout, find them.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from deploy.embedded import DEFAULT_PORTS, EmbeddedServiceError, left_running, start_embedded
from deploy.local_env import LOCAL_ENV_KEYS, write_local_env
from deploy.ports import PortUse, busy_ports, busy_report
from deploy.processes import (
    REPO,
    ProcessGroup,
    api_command,
    control_worker_command,
    gpu_worker_command,
    webhooks_worker_command,
)
from protocol.timing import FleetTiming

# The variable that moves each embedded service, and how many ports from there it takes.
EMBEDDED_PORTS = {
    "postgres": ("EMBEDDED_POSTGRES_PORT", "embedded PostgreSQL", 1),
    "redis": ("EMBEDDED_REDIS_PORT", "embedded Valkey (Redis)", 1),
    "s3": ("EMBEDDED_S3_PORT", "embedded SeaweedFS (S3, and its 9 internal ports above)", 10),
}
EXTERNAL = {"postgres": "DATABASE_URL", "redis": "REDIS_URL", "s3": "S3_ENDPOINT_URL"}


class CannotStart(Exception):
    """Said to the person who ran `make run`, without a traceback."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=None, help="api port (default: $PORT or 8000)")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("DATA_DIR", REPO / ".data")))
    args = parser.parse_args(argv)
    try:
        return _run_platform(args.data_dir.resolve(), args.port)
    except CannotStart as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 1


def _run_platform(data_dir: Path, port: int | None) -> int:
    api_port = port if port is not None else _port_from_env("PORT", 8000)
    embedded_ports = {
        name: _port_from_env(variable, DEFAULT_PORTS[name]) for name, (variable, *_) in EMBEDDED_PORTS.items()
    }
    wanted = {name: not os.environ.get(variable) for name, variable in EXTERNAL.items()}
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock_data_dir(data_dir)  # held until this process ends
    uses = [PortUse("the api", "PORT", api_port)]
    for name, (variable, what, count) in EMBEDDED_PORTS.items():
        # A service this data dir left running is stopped by start_embedded: its port is not "busy".
        if wanted[name] and (lock is None or not left_running(data_dir, name)):
            uses.append(PortUse(what, variable, embedded_ports[name], count))
    busy = busy_ports(uses)
    if lock is None or busy:
        problems = []
        if lock is None:
            problems.append(
                f"another `make run` is already running from {data_dir}. A second one beside it needs a "
                "DATA_DIR of its own (DATA_DIR=.data-2) as well as ports of its own."
            )
        if busy:
            problems.append(busy_report(busy, uses))
        raise CannotStart("\n".join(problems))

    env = dict(os.environ)
    env.setdefault("DATA_DIR", str(data_dir))
    env.setdefault("MODELS_DIR", str(REPO / "models"))
    env.setdefault("SECRET_KEY", _persistent_secret(data_dir / "secret_key"))
    # Shared by the api and the gpu worker: endpoint API keys are encrypted with it (docs/llm_endpoints.md).
    env.setdefault("LLM_CREDENTIALS_KEY", _persistent_secret(data_dir / "llm_credentials_key"))
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("S3_PUBLIC_ENDPOINT_URL", env.get("S3_ENDPOINT_URL", ""))
    try:
        embedded = start_embedded(
            data_dir,
            postgres=wanted["postgres"],
            redis=wanted["redis"],
            s3=wanted["s3"],
            ports=embedded_ports,
        )
    except EmbeddedServiceError as exc:
        raise CannotStart(str(exc)) from None
    env.update({k: v for k, v in embedded.as_env().items() if not os.environ.get(k)})
    if not env.get("S3_PUBLIC_ENDPOINT_URL"):
        env["S3_PUBLIC_ENDPOINT_URL"] = env["S3_ENDPOINT_URL"]
    local_env = data_dir / "local.env"
    write_local_env(local_env, {key: env[key] for key in LOCAL_ENV_KEYS if env.get(key)})

    group = ProcessGroup()
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        _run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "1"], env)
        _run([sys.executable, "manage.py", "bootstrap_local"], env)
        _run([sys.executable, "-m", "tiny_models.demo", env["MODELS_DIR"]], env)
        logs = data_dir / "logs"
        group.start("api", api_command(port=api_port), log_dir=logs, env=env)
        group.start("control", control_worker_command(), log_dir=logs, env=env)
        group.start("webhooks", webhooks_worker_command(), log_dir=logs, env=env)
        # Stopped first (newest first) with time to drain: its run finishes or is handed back.
        drain = FleetTiming.from_env(env.get).stop_timeout
        group.start("gpu", gpu_worker_command(), log_dir=logs, env=env, stop_timeout=drain)
        print(f"\nCrucible is up: api http://127.0.0.1:{api_port}  docs http://127.0.0.1:{api_port}/docs")
        print(
            f"logs: {logs}/{{api,control,webhooks,gpu}}.log (followed below). Ctrl-C stops everything.\n"
            f"settings for `python manage.py ...` and `python -m gpu_worker.launcher` from this checkout: "
            f"{local_env}\n",
            flush=True,
        )
        _follow(group, lambda: stopping)
    finally:
        print("\nstopping…", flush=True)
        group.stop()
        embedded.stop()
    return 0


def _port_from_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise CannotStart(f"{name} must be a port number (1-65535), got {raw!r}")
    return int(raw)


def _lock_data_dir(data_dir: Path) -> IO[str] | None:
    """An exclusive lock on the data dir for as long as this process lives; None if another holds it."""
    handle = open(data_dir / "make-run.lock", "a+")  # kept open: the lock lasts as long as the file is open
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def _run(argv: list[str], env: dict[str, str]) -> None:
    if subprocess.run(argv, cwd=REPO, env=env, check=False).returncode:
        raise CannotStart(f"`{' '.join(argv[1:])}` failed; its output is above")


def _persistent_secret(path: Path) -> str:
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _follow(group: ProcessGroup, should_stop) -> None:
    """Print each process's new log lines, prefixed with its name, until asked to stop or one dies."""
    offsets = {m.name: 0 for m in group.members}
    while not should_stop():
        for member in group.members:
            if member.log_path.exists():
                with open(member.log_path, "rb") as log:
                    log.seek(offsets[member.name])
                    chunk = log.read()
                    offsets[member.name] += len(chunk)
                for line in chunk.decode(errors="replace").splitlines():
                    print(f"{member.name:>7} | {line}", flush=True)
        dead = group.dead()
        if dead:
            print(f"process {dead[0].name} exited; stopping the platform", flush=True)
            return
        time.sleep(0.3)


if __name__ == "__main__":
    raise SystemExit(main())
