"""The gpu worker's settings, from environment variables, checked loudly at start-up.

A variable the environment leaves unset is looked up in the ``local.env`` that `make run` writes
(DATA_DIR's, else the checkout's ``.data/``), so a worker started by hand beside it finds its
services. The environment always wins. One reader, deploy/local_env.py, serves both sides: it
imports neither Django nor torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deploy import local_env


class ConfigError(ValueError):
    pass


def env_raw(name: str) -> str | None:
    """The variable from the environment; if unset there, from `make run`'s local.env."""
    try:
        return local_env.env_raw(name)
    except local_env.LocalEnvError as exc:
        raise ConfigError(str(exc)) from None


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


def env_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = env_raw(name) or default
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


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
    # Where text encoders (T5-XXL, CLIP) run: "default" (the worker's device) or "cpu", which keeps a
    # pool's GPU memory for the diffusion model (slower prompts: T5-XXL is 4.7B parameters).
    text_encoder_device: str = "default"

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
            text_encoder_device=env_choice("TEXT_ENCODER_DEVICE", ("default", "cpu"), "default"),
        )
