"""The gpu worker's settings, from environment variables, checked loudly at start-up.

A variable the environment leaves unset is looked up in the ``local.env`` that `make run` writes
(DATA_DIR's, else the checkout's ``.data/``), so a worker started by hand beside it finds its
services. The environment always wins. One reader, deploy/local_env.py, serves both sides: it
imports neither Django nor torch.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy import local_env
from protocol.timing import FleetTiming, TimingError


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


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = (env_raw(name) or default).lower()
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
    timing: FleetTiming
    # GPU_WORKER_WARMUP: an API-format workflow (JSON file) run once at start, before the worker is ready.
    warmup_graph: dict[str, Any] | None = None
    # Output files encoded and uploaded on a background thread (gpu_worker/encoder.py): "1", "0" (inline)
    # or "auto": on a GPU, where sampling leaves the CPU free; inline on the CPU, where both share it.
    background_encode: str = "auto"
    encode_max_pending_runs: int = 2
    # Where text encoders (T5-XXL, CLIP) run: "default" (the worker's device) or "cpu", which keeps a
    # pool's GPU memory for the diffusion model (slower prompts: T5-XXL is 4.7B parameters).
    text_encoder_device: str = "default"

    @classmethod
    def from_env(cls) -> WorkerConfig:
        """Every setting, checked as a whole: a bad value fails here, at start-up, naming its variable."""
        redis_url = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
        try:
            timing = FleetTiming.from_env(env_raw)
        except TimingError as exc:
            raise ConfigError(str(exc)) from None
        config = cls(
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
            timing=timing,
            warmup_graph=_warmup_graph(env_raw("GPU_WORKER_WARMUP")),
            background_encode=env_choice("WORKER_BACKGROUND_ENCODE", "auto", ("auto", "1", "0")),
            encode_max_pending_runs=env_int("WORKER_ENCODE_MAX_PENDING_RUNS", 2),
            text_encoder_device=env_choice("TEXT_ENCODER_DEVICE", "default", ("default", "cpu")),
        )
        config.check()
        return config

    def check(self) -> None:
        for name, url, schemes in (
            ("REDIS_URL", self.redis_url, ("redis", "rediss", "unix")),
            ("CELERY_BROKER_URL", self.broker_url, ("redis", "rediss", "amqp", "amqps", "pyamqp", "unix")),
            ("S3_ENDPOINT_URL", self.s3_endpoint_url, ("http", "https")),
        ):
            scheme = url.split("://", 1)[0] if "://" in url else ""
            if scheme not in schemes:
                raise ConfigError(f"{name} must be a {'/'.join(schemes)} URL, got {url!r}")
        if not DEVICE.fullmatch(self.device):
            raise ConfigError(f"GPU_WORKER_DEVICE must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        if not POOL_NAME.fullmatch(self.pool):
            raise ConfigError(f"GPU_WORKER_POOL must be 1-64 letters, digits, '-' or '_', got {self.pool!r}")
        sizes = (("MODEL_CACHE_BYTES", self.model_cache_bytes), ("NODE_CACHE_BYTES", self.node_cache_bytes))
        for name, value in sizes:
            if value < 0:
                raise ConfigError(f"{name} must be 0 or more, got {value}")


DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?|mps")
POOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _warmup_graph(path: str | None) -> dict[str, Any] | None:
    if not path:
        return None
    try:
        graph = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"GPU_WORKER_WARMUP must name a readable JSON workflow file: {exc}") from None
    if not isinstance(graph, dict) or not graph:
        raise ConfigError("GPU_WORKER_WARMUP must hold an API-format workflow (a JSON object of nodes)")
    return graph


def config_or_exit() -> WorkerConfig:
    """The configuration, or exit at once with the message (a worker must never start half-configured)."""
    try:
        return WorkerConfig.from_env()
    except ConfigError as exc:
        print(f"crucible gpu worker: bad configuration: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
