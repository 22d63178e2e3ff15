"""Per-family extra UNet inputs built from one conditioning entry's extras (SDXL's pooled text and sizes)."""

from __future__ import annotations

from typing import Any


def unet_kwargs(
    model: Any, extras: dict[str, Any], *, batch: int, latent_hw: tuple[int, ...]
) -> dict[str, Any]:
    """Keyword arguments for ``unet(...)`` beyond the sample, timestep and text context.

    Tensors in the result have `batch` rows; the caller moves them to the device.
    """
    if model.family == "sd15":
        return {}
    if model.family == "sd2":
        if model.image_conditioner is None:
            return {}
        # unCLIP: unCLIPConditioning's image embeddings, noised, as the UNet's class labels.
        return {
            "class_labels": model.image_conditioner.class_labels(extras, batch=batch, dtype=model.unet.dtype)
        }
    if model.family == "sdxl_refiner":
        from nodes.diffusion.refiner_loading import refiner_kwargs

        return refiner_kwargs(model, extras, batch=batch, latent_hw=latent_hw)
    if model.family == "sdxl":
        return sdxl_kwargs(model, extras, batch=batch, latent_hw=latent_hw)
    if model.family == "flux":
        from nodes.flux.call import flux_kwargs

        return flux_kwargs(model, extras, batch=batch)
    if model.family == "svd":
        from nodes.svd.call import svd_kwargs

        return svd_kwargs(model, extras, batch=batch, latent_hw=latent_hw)
    if model.family == "sd3":
        from nodes.sd3.call import sd3_kwargs

        return sd3_kwargs(model, extras, batch=batch)
    if model.family == "wan":
        from nodes.wan.call import wan_kwargs

        return wan_kwargs(model, extras, batch=batch)
    if model.family == "ltxv":
        from nodes.ltxv.call import ltxv_kwargs

        return ltxv_kwargs(model, extras, batch=batch)
    raise ValueError(f"Model family {model.family!r} cannot be sampled yet.")


def sdxl_kwargs(
    model: Any, extras: dict[str, Any], *, batch: int, latent_hw: tuple[int, ...]
) -> dict[str, Any]:
    """SDXL's ``added_cond_kwargs``: bigG's pooled text and the six size conditions.

    time_ids = (height, width, crop_h, crop_w, target_height, target_width) in pixels, the order SDXL was
    trained with. Without CLIPTextEncodeSDXL's sizes they default, as in ComfyUI, to the latent's pixel
    size, no crop, and a target equal to the size.
    """
    import torch

    unet = model.unet
    pooled = extras.get("pooled_output")
    time_dims = 6 * int(unet.config.addition_time_embed_dim)
    expected = int(unet.config.projection_class_embeddings_input_dim) - time_dims
    pooled = image_pooled_or(extras, expected, pooled)
    if pooled is None:
        raise ValueError(
            "An SDXL model needs a pooled text embedding in every conditioning: encode prompts with an "
            "SDXL checkpoint's CLIP (CLIPTextEncode or CLIPTextEncodeSDXL)."
        )
    if pooled.dim() != 2 or pooled.shape[-1] != expected:
        raise ValueError(
            f"This SDXL model takes a pooled text embedding of width {expected}, but the conditioning has "
            f"{tuple(pooled.shape)}: encode prompts with the same checkpoint's CLIP."
        )
    pixel_h, pixel_w = latent_hw[0] * 8, latent_hw[1] * 8
    height, width = int(extras.get("height", pixel_h)), int(extras.get("width", pixel_w))
    sizes = (
        height,
        width,
        int(extras.get("crop_h", 0)),
        int(extras.get("crop_w", 0)),
        int(extras.get("target_height", height)),
        int(extras.get("target_width", width)),
    )
    pooled = pooled.detach().to("cpu", unet.dtype)
    if pooled.shape[0] != batch:
        pooled = pooled[torch.arange(batch) % pooled.shape[0]]
    time_ids = torch.tensor([sizes], dtype=unet.dtype).expand(batch, -1)
    return {"added_cond_kwargs": {"text_embeds": pooled, "time_ids": time_ids}}


def image_pooled_or(extras: dict[str, Any], width: int, pooled: Any) -> Any:
    """unCLIPConditioning's image embedding in place of the pooled text on SDXL (ComfyUI's "revision")."""
    if not extras.get("unclip_conditioning"):
        return pooled
    from nodes.clip_vision.unclip import image_pooled

    return image_pooled(extras, width)
