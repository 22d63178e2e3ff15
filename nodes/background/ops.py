"""LoadBackgroundRemovalModel and RemoveBackground. IMAGE is float [B, H, W, C] in [0, 1]; MASK [B, H, W].

Each image goes through its family's own pipeline: resized to the model's input size, scaled
and normalised with the family's mean and std, run, turned into a probability (a sigmoid for
logits), stretched to the full 0..1 range (min-max, as rembg does), resized back to the image,
optionally thresholded. The mask is 1 on the foreground; the RGBA output carries it as alpha.
"""

from __future__ import annotations

import numpy as np
import torch

from nodes.background import loading
from nodes.background.families import Family
from nodes.background.loading import BackgroundRemovalModel
from nodes.background.specs import FOLDER
from nodes.context import NodeContext
from nodes.image.ops import resize

# A flat map (max == min) carries no foreground information: below this range it is not stretched.
_FLAT = 1e-6


def load_background_removal_model(ctx: NodeContext, bg_removal_name: str) -> tuple[BackgroundRemovalModel]:
    path = ctx.model_path(FOLDER, bg_removal_name)
    model = ctx.models.get(
        ("background_removal", str(path), ctx.device),
        lambda: loading.load_background_removal_model(path, bg_removal_name, ctx.device),
    )
    return (model,)


def remove_background(
    ctx: NodeContext,
    bg_removal_model: BackgroundRemovalModel,
    image: torch.Tensor,
    resolution: int = 1024,
    threshold: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mask [B, H, W], image with that mask as alpha [B, H, W, 4])."""
    if image.shape[-1] not in (3, 4):
        raise ValueError(f"Input 'image' has {image.shape[-1]} channels; RemoveBackground takes RGB or RGBA.")
    # A graph's fixed sides are kept; `resolution` sizes the sides a graph leaves open.
    size = bg_removal_model.signature.input_size(resolution)
    rgb = image[..., :3].detach().cpu().float()
    masks = []
    for index in range(rgb.shape[0]):
        ctx.check_cancelled()  # one model run per image: a batch of large images takes a while
        masks.append(predict_mask(bg_removal_model, rgb[index : index + 1], size))
    mask = torch.cat(masks)
    if threshold > 0:
        mask = (mask >= threshold).float()
    rgba = torch.cat((rgb, mask.unsqueeze(-1)), dim=-1)
    return mask, rgba


def predict_mask(
    model: BackgroundRemovalModel, image: torch.Tensor, size: int | tuple[int, int]
) -> torch.Tensor:
    """The foreground mask [1, H, W] of one RGB image [1, H, W, 3] through the model's family pipeline,
    run at `size` (a square side, or the model input's (height, width))."""
    family = model.family
    height, width = image.shape[1], image.shape[2]
    model_height, model_width = (size, size) if isinstance(size, int) else size
    pixels = resize(image, model_width, model_height, family.resample)[0].numpy()
    feed = {model.signature.input_name: normalise(pixels, family)}
    output = np.asarray(model.session.run(None, feed)[0], dtype=np.float32)
    probability = stretch(activate(first_map(output, model.name), family))
    mask = resize(torch.from_numpy(probability)[None, :, :, None], width, height, family.resample)
    return mask[..., 0]


def normalise(pixels: np.ndarray, family: Family) -> np.ndarray:
    """[H, W, 3] in 0..1 -> [1, 3, H, W] float32 as the family was trained on."""
    if family.scale == "max":
        # rembg divides 8-bit pixels by their brightest value, so a dim image is brightened first.
        pixels = pixels / max(float(pixels.max()), 1e-6)
    mean = np.asarray(family.mean, dtype=np.float32)
    std = np.asarray(family.std, dtype=np.float32)
    chw = ((pixels - mean) / std).transpose(2, 0, 1)
    return np.ascontiguousarray(chw[None], dtype=np.float32)


def first_map(output: np.ndarray, name: str) -> np.ndarray:
    """The first output's map as [H, W]: [1, 1, H, W], [1, H, W] and [H, W] are all seen in exports."""
    if output.ndim < 2 or output.size != output.shape[-2] * output.shape[-1]:
        raise ValueError(
            f"Background removal model {name!r} gave an output of shape {list(output.shape)}; "
            "expected one map [1, 1, H, W]."
        )
    return output.reshape(output.shape[-2:])


def activate(prediction: np.ndarray, family: Family) -> np.ndarray:
    logits = family.activation == "sigmoid" or (
        family.activation == "auto" and (prediction.min() < 0.0 or prediction.max() > 1.0)
    )
    # Clipped: exp of a large logit overflows float32; +-60 is already 0 or 1 to float precision.
    return 1.0 / (1.0 + np.exp(-np.clip(prediction, -60.0, 60.0))) if logits else prediction


def stretch(prediction: np.ndarray) -> np.ndarray:
    """Min-max to 0..1; a flat map is kept as it is (clipped), not divided by zero."""
    low, high = float(prediction.min()), float(prediction.max())
    if high - low < _FLAT:
        return np.clip(prediction, 0.0, 1.0).astype(np.float32)
    return ((prediction - low) / (high - low)).astype(np.float32)
