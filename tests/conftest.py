"""Session fixtures: real services, a migrated database, and the live platform processes.

Unit tests of pure code request none of these and run without any service.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.api import ApiClient
from tests.support.graphs import BROKEN_CHECKPOINT, SINGLE_FILE_CHECKPOINT, TINY_CHECKPOINT, TINY_VAE

_HOME_FREE_DIR: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Caches (the CLIP tokenizer folder, Hugging Face's) go to a folder of this session, never ~/,
    and settings never come from a `make run`'s local.env."""
    global _HOME_FREE_DIR
    _HOME_FREE_DIR = Path(tempfile.mkdtemp(prefix="crucible-test-cache-"))
    os.environ["XDG_CACHE_HOME"] = str(_HOME_FREE_DIR / "xdg")
    os.environ["HF_HOME"] = str(_HOME_FREE_DIR / "hf")
    # Never the checkout's .data/local.env of a running `make run` (api_service/env.py reads DATA_DIR's).
    os.environ["DATA_DIR"] = str(_HOME_FREE_DIR / "data")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _HOME_FREE_DIR is not None:
        shutil.rmtree(_HOME_FREE_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.support.background_models import write_background_models
    from tests.support.controlnet_models import write_controlnet_models
    from tests.support.default_models import write_default_models
    from tests.support.flux_models import write_flux_models
    from tests.support.llm_models import write_llm_models
    from tests.support.lora_models import write_lora_models
    from tests.support.sd2_models import write_sd2_models
    from tests.support.sd3_models import write_sd3_models
    from tests.support.sdxl_models import write_sdxl_models
    from tests.support.svd_models import write_svd_models
    from tests.support.upscale_models import write_upscale_models
    from tests.support.wan_models import write_wan_models
    from tiny_models.demo import ensure_demo_models
    from tiny_models.ltxv import write_tiny_ltxv_store
    from tiny_models.sd15 import (
        write_tiny_sd15_diffusers,
        write_tiny_sd15_single_file,
        write_tiny_vae,
    )

    root = tmp_path_factory.mktemp("models")
    write_tiny_sd15_diffusers(root / "checkpoints" / TINY_CHECKPOINT, seed=0)
    write_tiny_sd15_single_file(root / "checkpoints" / SINGLE_FILE_CHECKPOINT, seed=0)
    write_tiny_vae(root / "vae" / TINY_VAE, seed=0, single_file=True)
    write_upscale_models(root)
    write_controlnet_models(root)  # after the tiny checkpoint: built from its UNet
    write_default_models(root)
    write_lora_models(root)  # after the tiny checkpoint: LoRAs are built for its layers
    write_sdxl_models(root)
    write_background_models(root)
    write_sd2_models(root)  # SD 2.x, SDXL base + refiner, unCLIP, CLIP vision under their real names
    write_flux_models(root)
    write_svd_models(root)  # checkpoints/svd.safetensors, svd_xt.safetensors (SGM layout)
    write_sd3_models(root)  # after FLUX: shares its clip_l and t5xxl_fp16
    write_llm_models(root)  # Llama and Qwen2 in llm/, BLIP in vlm/ (Hugging Face folders)
    write_wan_models(root)
    write_tiny_ltxv_store(root, seed=0)  # after FLUX: CLIPLoader type ltxv takes its t5xxl_fp16
    ensure_demo_models(root)  # `make run`'s demo models, under its names: docs/examples/ run unchanged
    # Listed like a checkpoint, but its loading fails at run time: for the FAILED path.
    broken = root / "checkpoints" / BROKEN_CHECKPOINT
    broken.mkdir(parents=True)
    (broken / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    return root


@pytest.fixture(scope="session")
def platform_env(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Iterator[dict[str, str]]:
    from tests.support.services import drop_database, start_services

    # Not under pytest's basetemp: a concurrent pytest session may prune that while services run.
    service_dir = Path(tempfile.mkdtemp(prefix="crucible-test-services-"))
    services = start_services(service_dir)
    env = {
        **services.env,
        "MODELS_DIR": str(models_dir),
        "SECRET_KEY": "test-secret-key-not-for-production",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "MODEL_CACHE_BYTES": str(512 * 2**20),
        "GPU_WORKER_DEVICE": "cpu",
        "DATA_DIR": str(tmp_path_factory.mktemp("data")),
        "LOG_LEVEL": "INFO",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_VERBOSITY": "error",
        # Webhook tests' receivers listen on 127.0.0.1; every other private address stays refused.
        "OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",
        # LLM endpoint keys: the api encrypts, the gpu worker decrypts with the same secret.
        "LLM_CREDENTIALS_KEY": "test-llm-credentials-key-not-for-production",
        "WEBHOOK_RETRY_SCHEDULE_SECONDS": "1,1,1",
        "WEBHOOK_TIMEOUT_SECONDS": "2",
        # One request in flight per receiver: a slow one keeps the control worker's other slot free.
        "WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT": "1",
        "TRIGGER_REQUESTS_PER_MINUTE": "30",
        # A lease lapses after 3 s without a heartbeat, so the fleet tests see retries quickly.
        "HEARTBEAT_SECONDS": "1",
        "HEARTBEAT_MISSES": "3",
        # Fleet tests start their own workers on the spare pools; nothing ever serves "idle".
        "GPU_POOLS": "default,spare,spare2,idle",
        "DRAIN_GRACE_SECONDS": "2",
        # Output files on the gpu worker's background encoder, as on a GPU ("auto" is inline on the CPU).
        "WORKER_BACKGROUND_ENCODE": "1",
    }
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api_service.settings")
    yield env
    from django.db import connections

    connections.close_all()
    drop_database(services)
    services.stop()
    shutil.rmtree(service_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def db(platform_env: dict[str, str]) -> None:
    """Django configured against the session database, migrated, with its bucket."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from api_service.core import storage

    storage.bucket_ensure()


@pytest.fixture(scope="session")
def stack(db: None, platform_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    from tests.support.stack import start_stack

    running = start_stack(platform_env, tmp_path_factory.mktemp("logs"))
    yield running
    running.group.stop()


@pytest.fixture
def world(db: None):
    from tests.support.factories import make_world

    return make_world()


@pytest.fixture
def api(stack, world) -> ApiClient:
    return ApiClient(stack.base_url, world.key)


@pytest.fixture
def anonymous(stack) -> ApiClient:
    return ApiClient(stack.base_url, None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """On failure of a test that used the live stack, attach the processes' logs."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and "stack" in getattr(item, "fixturenames", ()):
        stack = getattr(item, "funcargs", {}).get("stack")
        if stack is not None:
            report.sections.append(("platform logs", stack.logs()))
