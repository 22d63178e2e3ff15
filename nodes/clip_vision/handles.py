"""The values on CLIP_VISION and CLIP_VISION_OUTPUT links."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: CLIP's pixel normalisation (OpenAI's, also used by the OpenCLIP ViT-H/bigG towers).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class ClipVisionHandle:
    model: Any  # transformers CLIPVisionModelWithProjection, owned by the model cache
    image_size: int


@dataclass(frozen=True)
class ClipVisionOutput:
    """ComfyUI's CLIP vision output: the projected image embedding and the tower's hidden states."""

    image_embeds: Any  # [batch, projection_dim]
    last_hidden_state: Any  # [batch, tokens, hidden]
    penultimate_hidden_states: Any  # [batch, tokens, hidden]
