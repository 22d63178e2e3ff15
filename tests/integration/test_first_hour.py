"""A new user's first hour: commands run by hand beside `make run`, and `make run` beside another."""

from __future__ import annotations

import fcntl
import os
import re
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from deploy.local_env import LOCAL_ENV_KEYS, write_local_env
from deploy.ports import PortUse, busy_ports, port_taken, suggest_free

REPO = Path(__file__).resolve().parents[2]
SERVICE_URLS = ("DATABASE_URL", "REDIS_URL", "S3_ENDPOINT_URL", "CELERY_BROKER_URL")


def _free_port(count: int = 1) -> int:
    """A base port with `count` free ports from it."""
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            base = sock.getsockname()[1]
        if base + count < 65536 and not any(port_taken(p) for p in range(base, base + count)):
            return base
    raise RuntimeError("no free ports")


@contextmanager
def _listening(*ports: int) -> Iterator[None]:
    """Hold these ports, as another program would."""
    with ExitStack() as stack:
        for port in ports:
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", port))
            sock.listen()
        yield


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a new shell: none of the settings `make run` would otherwise hand out."""
    env = {k: v for k, v in os.environ.items() if k not in {*LOCAL_ENV_KEYS, *SERVICE_URLS, "DATA_DIR"}}
    env.pop("DEBUG", None)
    return {**env, **extra}


def _make_run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deploy.run_local"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- make run beside another instance ---------------------------------------------------------------


def test_make_run_names_every_busy_port_and_how_to_choose_others(tmp_path: Path) -> None:
    api, postgres, redis, s3 = _free_port(), _free_port(), _free_port(), _free_port(10)
    env = _clean_env(
        DATA_DIR=str(tmp_path),
        PORT=str(api),
        EMBEDDED_POSTGRES_PORT=str(postgres),
        EMBEDDED_REDIS_PORT=str(redis),
        EMBEDDED_S3_PORT=str(s3),
    )
    with _listening(api, postgres, s3 + 3):  # one of SeaweedFS's internal ports, too
        done = _make_run(env)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "Traceback" not in out
    assert re.search(rf"\b{api}\b.*the api.*\bPORT\b", out), out
    assert re.search(rf"\b{postgres}\b.*PostgreSQL.*EMBEDDED_POSTGRES_PORT", out), out
    assert re.search(rf"\b{s3 + 3}\b \(of {s3}-{s3 + 9}\).*SeaweedFS.*EMBEDDED_S3_PORT", out), out
    assert not re.search(rf"\b{redis}\b", out) and "EMBEDDED_REDIS_PORT" not in out  # free: not reported
    # The suggested ports are free, so the line can be run as it is.
    suggested = dict(re.findall(r"(PORT|EMBEDDED_POSTGRES_PORT|EMBEDDED_S3_PORT)=(\d+)", out))
    assert set(suggested) == {"PORT", "EMBEDDED_POSTGRES_PORT", "EMBEDDED_S3_PORT"}, out
    assert not any(port_taken(int(port)) for port in suggested.values())
    assert not (tmp_path / "postgres").exists()  # nothing was started
    assert not (tmp_path / "local.env").exists()


def test_a_second_make_run_on_the_same_data_dir_is_told_so(tmp_path: Path) -> None:
    env = _clean_env(
        DATA_DIR=str(tmp_path),
        PORT=str(_free_port()),
        EMBEDDED_POSTGRES_PORT=str(_free_port()),
        EMBEDDED_REDIS_PORT=str(_free_port()),
        EMBEDDED_S3_PORT=str(_free_port(10)),
    )
    with open(tmp_path / "make-run.lock", "a+") as lock:  # as the first `make run` holds it
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        done = _make_run(env)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "Traceback" not in out
    assert f"another `make run` is already running from {tmp_path}" in out
    assert "DATA_DIR" in out


def test_a_bad_port_variable_is_named(tmp_path: Path) -> None:
    done = _make_run(_clean_env(DATA_DIR=str(tmp_path), EMBEDDED_REDIS_PORT="six"))
    assert done.returncode == 1
    assert "EMBEDDED_REDIS_PORT must be a port number (1-65535), got 'six'" in done.stderr
    assert "Traceback" not in done.stderr


def test_busy_ports_and_suggestions() -> None:
    base = _free_port(10)
    alone = _free_port()
    uses = [PortUse("s3", "EMBEDDED_S3_PORT", base, 10), PortUse("api", "PORT", alone)]
    assert busy_ports(uses) == []
    with _listening(base + 9, alone):
        busy = busy_ports(uses)
        assert busy == [(uses[0], [base + 9]), (uses[1], [alone])]
        suggestion = suggest_free(uses, avoid=[*range(base, base + 10), alone])
    s3, api = suggestion["EMBEDDED_S3_PORT"], suggestion["PORT"]
    assert s3 >= base + 10 and api > alone
    assert not set(range(s3, s3 + 10)) & {api}


# --- settings for commands run by hand --------------------------------------------------------------


def test_local_env_is_written_atomically_for_its_owner_and_read_by_both_sides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from api_service.env import env_raw as api_env
    from deploy.local_env import read_local_env
    from gpu_worker.config import ConfigError
    from gpu_worker.config import env_raw as worker_env

    values = {
        "SECRET_KEY": "s3cr$t 'with' \"quotes\" & spaces",
        "DATABASE_URL": "postgres://crucible@127.0.0.1:55432/crucible?sslmode=disable&x=1",
        "S3_SECRET_KEY": "",
    }
    path = tmp_path / "local.env"
    path.write_text("old")
    path.chmod(0o644)
    write_local_env(path, values)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_local_env(path) == values
    assert [p.name for p in tmp_path.iterdir()] == ["local.env"]  # no temp file left behind
    assert read_local_env(tmp_path / "missing.env") == {}
    # Both sides read the one file through the one reader, and say what is wrong in their own terms.
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "local.env").write_text("SECRET_KEY=a b\n")
    monkeypatch.setenv("DATA_DIR", str(broken))
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ImproperlyConfigured, match=r"line 1: expected NAME=value"):
        api_env("SECRET_KEY")
    with pytest.raises(ConfigError, match=r"line 1: expected NAME=value"):
        worker_env("SECRET_KEY")


def _local_env_for(platform_env: dict[str, str], data_dir: Path) -> dict[str, str]:
    values = {key: platform_env[key] for key in LOCAL_ENV_KEYS if platform_env.get(key)}
    values["SECRET_KEY"] = platform_env["SECRET_KEY"]
    write_local_env(data_dir / "local.env", values)
    return values


def test_manage_py_beside_make_run_needs_no_environment(db, platform_env, tmp_path: Path) -> None:
    from api_service.accounts.keys import hash_key
    from api_service.accounts.models import ApiKey

    _local_env_for(platform_env, tmp_path)
    env = _clean_env(DATA_DIR=str(tmp_path))
    assert "SECRET_KEY" not in env and "DATABASE_URL" not in env
    slug = f"first-hour-{os.getpid()}"
    scopes = ["--scopes", "workflows:read,executions:read"]
    done = subprocess.run(
        [sys.executable, "manage.py", "create_api_key", "--tenant", slug, "--create-tenant", *scopes],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    secret = done.stdout.strip()
    key = ApiKey.objects.get(key_hash=hash_key(secret))  # in the test database, under the same secret
    assert (key.tenant.slug, key.scopes) == (slug, ["workflows:read", "executions:read"])

    # The environment wins over the file.
    env["DATABASE_URL"] = "postgres://nobody@127.0.0.1:1/none"
    secret = platform_env["SECRET_KEY"]
    show = (
        "from django.conf import settings as s; "
        f"print(s.DATABASES['default']['PORT'], s.SECRET_KEY == {secret!r})"
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "--verbosity", "0", "-c", show],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "True"]


def test_the_gpu_worker_beside_make_run_finds_its_services(platform_env, tmp_path: Path) -> None:
    values = _local_env_for(platform_env, tmp_path)
    probe = (
        "from gpu_worker.config import WorkerConfig; import gpu_worker.celery_app as c; "
        "w = WorkerConfig.from_env(); "
        "print(c.app.conf.broker_url, w.redis_url, w.s3_endpoint_url, w.s3_secret_key)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env=_clean_env(DATA_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    broker = values.get("CELERY_BROKER_URL") or values["REDIS_URL"]
    assert done.stdout.split() == [
        broker,
        values["REDIS_URL"],
        values["S3_ENDPOINT_URL"],
        values["S3_SECRET_KEY"],
    ]


def test_create_api_key_takes_scopes_as_words_or_comma_lists(db) -> None:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from api_service.accounts.keys import hash_key
    from api_service.accounts.models import ApiKey
    from tests.support.factories import make_tenant

    tenant = make_tenant()

    def create(*scopes: str) -> list[str]:
        from io import StringIO

        out = StringIO()
        call_command("create_api_key", "--tenant", tenant.slug, "--scopes", *scopes, stdout=out)
        return ApiKey.objects.get(key_hash=hash_key(out.getvalue().strip())).scopes

    assert create("workflows:read", "usage:read") == ["workflows:read", "usage:read"]
    assert create("workflows:read,usage:read") == ["workflows:read", "usage:read"]
    assert create("workflows:read, usage:read", "executions:read,workflows:read") == [
        "workflows:read",
        "usage:read",
        "executions:read",
    ]
    with pytest.raises(CommandError, match=r"Unknown scope\(s\): workflows:reed"):
        create("workflows:reed,usage:read")
    with pytest.raises(CommandError, match="names no scope"):
        create(",")
