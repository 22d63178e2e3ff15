"""VAEDecode for SVD's temporal VAE: the LATENT batch is one video's frames, decoded in chunks.

AutoencoderKLTemporalDecoder's decoder mixes neighbouring frames (3-frame temporal convolutions),
so it needs to know which rows are frames of one clip: each chunk of up to DECODE_CHUNK_FRAMES
frames is decoded as one clip. Chunks bound the memory (a 1024x576 frame's activations are large);
ComfyUI decodes SVD in memory-sized batches too. Between chunks the node reports progress (frames
decoded of all) and checks for cancel.
"""

from __future__ import annotations

import torch

from nodes.context import NodeContext
from nodes.diffusion.handles import VaeHandle

DECODE_CHUNK_FRAMES = 8


@torch.inference_mode()
def decode_frames(
    ctx: NodeContext, samples: torch.Tensor, vae: VaeHandle, *, chunk: int = DECODE_CHUNK_FRAMES
) -> torch.Tensor:
    """LATENT samples [frames, 4, h, w] -> IMAGE [frames, 8h, 8w, 3] in [0, 1]."""
    model = vae.vae
    total = int(samples.shape[0])
    images = []
    ctx.check_cancelled()
    for start in range(0, total, chunk):
        latents = samples[start : start + chunk].to(ctx.device, model.dtype) / vae.scaling_factor
        decoded = model.decode(latents, num_frames=latents.shape[0]).sample
        # diffusers decodes to [-1, 1] NCHW; ComfyUI's IMAGE is [0, 1] NHWC.
        images.append(((decoded.float() + 1.0) / 2.0).clamp(0.0, 1.0).permute(0, 2, 3, 1).cpu())
        ctx.progress(min(start + chunk, total), total)
        ctx.check_cancelled()
    return torch.cat(images)
