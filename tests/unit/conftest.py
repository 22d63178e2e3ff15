"""Shared unit-test models: one tiny random SD1.5 per session, loaded through the real loader."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The tiny SD1.5 (seed 0) as CheckpointLoaderSimple returns it: MODEL, CLIP and VAE handles."""
    from nodes.diffusion.loading import load_diffusers_checkpoint
    from tiny_models.sd15 import write_tiny_sd15_diffusers

    path = tmp_path_factory.mktemp("unit-models") / "tiny-sd15"
    write_tiny_sd15_diffusers(path, seed=0)
    return load_diffusers_checkpoint(path, "cpu")


@pytest.fixture(scope="session")
def prompts(checkpoint: Any) -> tuple[Any, Any]:
    """(positive, negative) CONDITIONING from the tiny model's CLIP."""
    from nodes.diffusion import ops as diffusion
    from tests.unit.test_latent_ops import CTX

    (positive,) = diffusion.clip_text_encode(CTX, "a photo of a cat", checkpoint.clip)
    (negative,) = diffusion.clip_text_encode(CTX, "text, watermark", checkpoint.clip)
    return positive, negative


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Tiny latents gain nothing from threads; on a busy 2-core machine they cost 10x."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
