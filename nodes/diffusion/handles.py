"""The values that flow along MODEL, CLIP and VAE links.

Thin wrappers around diffusers/transformers modules that the model cache
owns; nodes that change a model (LoRA, CLIP skip) return a new handle and
never mutate a cached one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelHandle:
    unet: Any
    scheduler_config: dict[str, Any]
    family: str = "sd15"
    # Weight patches (LoRA) applied around each use; see patching.py.
    patches: tuple[Any, ...] = ()
    # nodes.sampling.model_sampling.ModelSampling: how outputs, sigmas and timesteps relate. None: the
    # discrete schedule of scheduler_config (SD 1.x/SDXL); ModelSampling* nodes and flow families set it.
    model_sampling: Any = None
    # unCLIP (nodes/clip_vision/unclip.py): turns unCLIPConditioning's image embeddings into the UNet's
    # class labels; None for models without image conditioning.
    image_conditioner: Any = None
    # A model patch that replaces classifier-free guidance's combination (VideoLinearCFGGuidance's
    # per-frame scale, nodes/svd/guidance.py): f(cond=, uncond=, cfg=) -> guided x0. None: plain CFG.
    cfg_function: Any = None


@dataclass(frozen=True)
class ClipHandle:
    tokenizer: Any
    text_encoder: Any
    # ComfyUI's CLIPSetLastLayer: -1 is the last layer.
    last_layer: int = -1
    patches: tuple[Any, ...] = ()
    # SDXL's second text encoder (OpenCLIP ViT-bigG with projection); None for SD 1.x.
    tokenizer_2: Any = None
    text_encoder_2: Any = None
    # "sd" (SD 1.x/SDXL: the CLIPs above) or "flux" (CLIP-L above for the pooled text, T5 below for
    # the context); nodes/loaders/recipes.py builds each kind.
    kind: str = "sd"
    t5_tokenizer: Any = None
    t5_encoder: Any = None


@dataclass(frozen=True)
class VaeHandle:
    vae: Any
    scaling_factor: float
    downscale: int = 8
    # Subtracted before scaling (FLUX's VAE: 0.1159): latent = (raw - shift_factor) * scaling_factor.
    shift_factor: float = 0.0
    # Stable Video Diffusion's temporal decoder: VAEDecode decodes the batch as frames of one video,
    # in chunks (nodes/svd/vae.py).
    temporal: bool = False


@dataclass(frozen=True)
class Checkpoint:
    model: ModelHandle
    clip: ClipHandle
    vae: VaeHandle
    extras: dict[str, Any] = field(default_factory=dict)
