"""`make run`: the whole platform on this machine, in the foreground, until Ctrl-C.

Starts the embedded PostgreSQL, Valkey and SeaweedFS for whatever the
environment does not name, migrates, creates a local tenant, admin user and
API key on first start, writes the demo checkpoint, then runs the api on
:8000, the control worker (with beat) and one gpu worker.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from deploy.embedded import start_embedded
from deploy.processes import REPO, ProcessGroup, api_command, control_worker_command, gpu_worker_command


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("DATA_DIR", REPO / ".data")))
    args = parser.parse_args()
    data_dir = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)

    env = dict(os.environ)
    env.setdefault("DATA_DIR", str(data_dir))
    env.setdefault("MODELS_DIR", str(REPO / "models"))
    env.setdefault("SECRET_KEY", _persistent_secret(data_dir / "secret_key"))
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("S3_PUBLIC_ENDPOINT_URL", env.get("S3_ENDPOINT_URL", ""))
    embedded = start_embedded(
        data_dir,
        postgres=not env.get("DATABASE_URL"),
        redis=not env.get("REDIS_URL"),
        s3=not env.get("S3_ENDPOINT_URL"),
    )
    env.update({k: v for k, v in embedded.as_env().items() if not os.environ.get(k)})
    if not env.get("S3_PUBLIC_ENDPOINT_URL"):
        env["S3_PUBLIC_ENDPOINT_URL"] = env["S3_ENDPOINT_URL"]

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
        group.start("api", api_command(port=args.port), log_dir=logs, env=env)
        group.start("control", control_worker_command(), log_dir=logs, env=env)
        group.start("gpu", gpu_worker_command(), log_dir=logs, env=env)
        print(f"\nCrucible is up: api http://127.0.0.1:{args.port}  docs http://127.0.0.1:{args.port}/docs")
        print(
            f"logs: {logs}/{{api,control,gpu}}.log (followed below). Ctrl-C stops everything.\n", flush=True
        )
        _follow(group, lambda: stopping)
    finally:
        print("\nstopping…", flush=True)
        group.stop()
        embedded.stop()
    return 0


def _run(argv: list[str], env: dict[str, str]) -> None:
    subprocess.run(argv, cwd=REPO, env=env, check=True)


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
