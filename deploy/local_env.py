"""`make run`'s local.env: the settings its processes got, for commands started by hand beside it.

`python manage.py ...` (api_service/env.py) and the gpu worker (gpu_worker/config.py) read it for any
variable the environment leaves unset, so they reach the same embedded services with the same secret.
It is shell syntax too: ``set -a; . .data/local.env; set +a`` exports it.
"""

from __future__ import annotations

import functools
import os
import shlex
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCAL_ENV_NAME = "local.env"

# Settings of the api, the control worker and the gpu worker that `make run` may choose itself.
LOCAL_ENV_KEYS = (
    "SECRET_KEY",
    "API_KEY_HASH_SECRET",
    "LLM_CREDENTIALS_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "S3_ENDPOINT_URL",
    "S3_PUBLIC_ENDPOINT_URL",
    "S3_ACCESS_KEY",
    "S3_SECRET_KEY",
    "S3_BUCKET",
    "S3_REGION",
    "MODELS_DIR",
)


def write_local_env(path: Path, values: Mapping[str, str]) -> None:
    """Replace ``path`` at once (a reader never sees half a file), readable by its owner only."""
    body = "".join(f"{name}={shlex.quote(value)}\n" for name, value in values.items())
    text = (
        "# Written by `make run` at each start: the settings of its processes. The environment wins\n"
        "# over this file; delete it to make `manage.py` use only the environment.\n" + body
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # also when a stale temp file was there with another mode
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class LocalEnvError(ValueError):
    """local.env cannot be read or has a malformed line; each side raises it as its own config error."""


def local_env_path() -> Path:
    """Where `make run` writes the settings of its processes: DATA_DIR's local.env, else the checkout's."""
    data_dir = os.environ.get("DATA_DIR")
    return (Path(data_dir) if data_dir else REPO_ROOT / ".data") / LOCAL_ENV_NAME


def read_local_env(path: Path) -> dict[str, str]:
    """``NAME=value`` lines (values shell-quoted, ``#`` comments); {} when the file does not exist."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise LocalEnvError(f"Cannot read {path}: {exc}.") from None
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, raw = line.partition("=")
        try:
            words = shlex.split(raw)
        except ValueError:
            words = None
        if not sep or not name.isidentifier() or words is None or len(words) > 1:
            raise LocalEnvError(f"{path}, line {number}: expected NAME=value, got {line!r}.")
        values[name] = words[0] if words else ""
    return values


@functools.cache
def _read_once(path: Path) -> dict[str, str]:
    return read_local_env(path)


def env_raw(name: str) -> str | None:
    """The variable from the environment; if unset there, from `make run`'s local.env (read once)."""
    value = os.environ.get(name)
    if value not in (None, ""):
        return value
    return _read_once(local_env_path()).get(name)
