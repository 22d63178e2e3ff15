"""Per-process singletons of a gpu worker: config, device, model cache, storage, Redis."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from gpu_worker.config import WorkerConfig
from gpu_worker.encoder import ArtifactEncoder
from gpu_worker.model_cache import ModelCache
from gpu_worker.result_cache import NodeResultCache
from gpu_worker.storage import ArtifactStorage
from nodes.catalog import default_registry
from nodes.model_store import ModelStore
from nodes.registry import Registry

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    config: WorkerConfig
    device: str
    registry: Registry
    models: ModelCache
    results: NodeResultCache
    store: ModelStore
    storage: ArtifactStorage
    redis: object
    announcer: Any = None  # gpu_worker.announce.Announcer in a worker process; None in tests
    encoder: ArtifactEncoder | None = None  # None: output files are encoded and stored inline


def resolve_device(requested: str) -> str:
    import torch

    if requested != "auto":
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def default_cache_budget(device: str) -> int:
    """Most of the device's memory, leaving room for activations."""
    import torch

    if device.startswith("cuda"):
        total = torch.cuda.get_device_properties(torch.device(device)).total_memory
        return int(total * 0.7)
    # On the CPU models live in RAM: half of what this process may use, so the process and the node
    # result cache fit too. In a container that is the cgroup's limit, not the host's RAM.
    return int(available_memory() * 0.5)


CGROUP_LIMITS = (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))


def available_memory() -> int:
    """Physical RAM, or the container's memory limit when that is lower (cgroup v2 or v1)."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        total = 16 * 2**30
    for limit_file in CGROUP_LIMITS:
        try:
            text = limit_file.read_text().strip()
        except OSError:
            continue
        if text.isdigit():  # "max" (v2) or a huge number (v1) mean no limit
            total = min(total, int(text))
    return total


def background_encode(setting: str, device: str) -> bool:
    return setting == "1" or (setting == "auto" and not device.startswith("cpu"))


@cache
def get_runtime() -> Runtime:
    import redis

    config = WorkerConfig.from_env()
    device = resolve_device(config.device)
    budget = config.model_cache_bytes or default_cache_budget(device)
    log.info("gpu worker on %s, pool %s, model cache %.1f GiB", device, config.pool, budget / 2**30)
    return Runtime(
        config=config,
        device=device,
        registry=default_registry(),
        models=ModelCache(budget),
        results=NodeResultCache(config.node_cache_bytes),
        store=ModelStore(config.models_dir),
        storage=ArtifactStorage(config),
        redis=redis.Redis.from_url(config.redis_url, socket_timeout=2, socket_connect_timeout=2),
        encoder=ArtifactEncoder(max_pending_runs=config.encode_max_pending_runs)
        if background_encode(config.background_encode, device)
        else None,
    )
