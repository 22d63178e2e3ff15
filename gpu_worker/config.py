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
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deploy import local_env
from protocol.llm_credentials import CredentialBox, secret_check
from protocol.outbound import HostPort, OutboundPolicy, hosts_parse
from protocol.timing import FleetTiming, TimingError

if TYPE_CHECKING:
    from gpu_worker.llm_endpoints import LlmAccess


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
    # Decrypts LLM endpoint API keys (the control plane's LLM_CREDENTIALS_KEY); never in a repr or log.
    llm_credentials_key: str = field(default="", repr=False)
    # The SSRF guard's exceptions, as on the control plane (OUTBOUND_ALLOWED_HOSTS, OUTBOUND_ALLOWED_PORTS).
    outbound_allowed_hosts: tuple[HostPort, ...] = ()
    outbound_allowed_ports: tuple[int, ...] = ()

    @cached_property
    def llm_access(self) -> LlmAccess:
        from gpu_worker.llm_endpoints import LlmAccess

        box = CredentialBox(self.llm_credentials_key) if self.llm_credentials_key else None
        return LlmAccess(
            box=box,
            policy=OutboundPolicy(
                allowed_hosts=self.outbound_allowed_hosts, allowed_ports=self.outbound_allowed_ports
            ),
        )

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
            llm_credentials_key=env_raw("LLM_CREDENTIALS_KEY") or "",
            outbound_allowed_hosts=_allowed_hosts(env_raw("OUTBOUND_ALLOWED_HOSTS")),
            outbound_allowed_ports=_allowed_ports(env_raw("OUTBOUND_ALLOWED_PORTS")),
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
        if self.llm_credentials_key:
            try:
                secret_check(self.llm_credentials_key)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None


DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?|mps")
POOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _items(raw: str | None) -> list[str]:
    return [item.strip() for item in (raw or "").split(",") if item.strip()]


def _allowed_hosts(raw: str | None) -> tuple[HostPort, ...]:
    try:
        return hosts_parse(_items(raw))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _allowed_ports(raw: str | None) -> tuple[int, ...]:
    ports = _items(raw)
    bad = [p for p in ports if not p.isdigit() or not 0 < int(p) < 65536]
    if bad:
        raise ConfigError(f"OUTBOUND_ALLOWED_PORTS must be port numbers (1-65535), got {bad[0]!r}")
    return tuple(int(p) for p in ports)


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
