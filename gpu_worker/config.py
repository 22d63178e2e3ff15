"""The gpu worker's settings, from environment variables, checked loudly at start-up.

A variable the environment leaves unset is looked up in the ``local.env`` that `make run` writes
(DATA_DIR's, else the checkout's ``.data/``), so a worker started by hand beside it finds its
services. The environment always wins. (api_service/env.py reads the same file on the Django side;
the worker never imports Django, hence the small twin here.)
"""

from __future__ import annotations

import functools
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCAL_ENV_NAME = "local.env"


class ConfigError(ValueError):
    pass


def local_env_path() -> Path:
    data_dir = os.environ.get("DATA_DIR")
    return (Path(data_dir) if data_dir else REPO_ROOT / ".data") / LOCAL_ENV_NAME


def read_local_env(path: Path) -> dict[str, str]:
    """``NAME=value`` lines (values shell-quoted, ``#`` comments); {} when the file does not exist."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
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
            raise ConfigError(f"{path}, line {number}: expected NAME=value, got {line!r}")
        values[name] = words[0] if words else ""
    return values


@functools.cache
def _local_env(path: Path) -> dict[str, str]:
    return read_local_env(path)


def env_raw(name: str) -> str | None:
    """The variable from the environment; if unset there, from `make run`'s local.env."""
    value = os.environ.get(name)
    if value not in (None, ""):
        return value
    return _local_env(local_env_path()).get(name)


def env_str(name: str, default: str | None = None) -> str:
    value = env_raw(name) or default
    if value is None or value == "":
        raise ConfigError(f"environment variable {name} is required")
    return value


def env_int(name: str, default: int) -> int:
    raw = env_raw(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


@dataclass(frozen=True)
class WorkerConfig:
    broker_url: str
    redis_url: str
    s3_endpoint_url: str
    s3_access_key: str
    s3_secret_key: str
    s3_bucket: str
    s3_region: str
    models_dir: Path
    device: str
    pool: str
    model_cache_bytes: int
    node_cache_bytes: int
    task_time_limit: int

    @classmethod
    def from_env(cls) -> WorkerConfig:
        redis_url = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
        return cls(
            broker_url=env_raw("CELERY_BROKER_URL") or redis_url,
            redis_url=redis_url,
            s3_endpoint_url=env_str("S3_ENDPOINT_URL", "http://127.0.0.1:58333"),
            s3_access_key=env_str("S3_ACCESS_KEY", "crucible"),
            s3_secret_key=env_str("S3_SECRET_KEY", "crucible-secret"),
            s3_bucket=env_str("S3_BUCKET", "crucible"),
            s3_region=env_str("S3_REGION", "us-east-1"),
            models_dir=Path(env_str("MODELS_DIR", "models")).resolve(),
            device=env_str("GPU_WORKER_DEVICE", "auto"),
            pool=env_str("GPU_WORKER_POOL", "default"),
            model_cache_bytes=env_int("MODEL_CACHE_BYTES", 0),
            node_cache_bytes=env_int("NODE_CACHE_BYTES", 2 * 2**30),
            task_time_limit=env_int("GPU_TASK_TIME_LIMIT", 1800),
        )
