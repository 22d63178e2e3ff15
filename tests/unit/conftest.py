"""Shared unit-test models: one tiny random SD1.5 per session, loaded through the real loader."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def tiny_sd15(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from gpu_worker.tiny_checkpoints import write_tiny_sd15_diffusers
    from nodes.diffusion.loading import load_diffusers_checkpoint

    path = tmp_path_factory.mktemp("unit-models") / "tiny-sd15"
    write_tiny_sd15_diffusers(path, seed=0)
    return load_diffusers_checkpoint(path, "cpu")


@pytest.fixture(scope="session")
def tiny_prompts(tiny_sd15: Any) -> tuple[Any, Any]:
    """(positive, negative) CONDITIONING from the tiny model's CLIP."""
    from nodes.diffusion import ops as diffusion
    from tests.unit.test_latent_ops import CTX

    (positive,) = diffusion.clip_text_encode(CTX, "a photo of a cat", tiny_sd15.clip)
    (negative,) = diffusion.clip_text_encode(CTX, "text, watermark", tiny_sd15.clip)
    return positive, negative
