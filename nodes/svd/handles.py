"""What ImageOnlyCheckpointLoader loads once per file (the model cache's entry)."""

from __future__ import annotations

from dataclasses import dataclass

from nodes.clip_vision.handles import ClipVisionHandle
from nodes.diffusion.handles import ModelHandle, VaeHandle

#: ComfyUI's SVD model sampling (continuous EDM, v-prediction): Karras et al. 2022's parameters.
SIGMA_MIN = 0.002
SIGMA_MAX = 700.0
SIGMA_DATA = 1.0
#: The VAE's latent scale (SD 1.x's; ComfyUI's SVD latent format is SD 1.5's).
SCALING_FACTOR = 0.18215


@dataclass(frozen=True)
class SvdCheckpoint:
    model: ModelHandle
    clip_vision: ClipVisionHandle
    vae: VaeHandle
    variant: str  # "svd" or "svd_xt": the shipped config it was built with, or "sidecar"
