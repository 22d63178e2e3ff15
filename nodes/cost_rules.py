"""Cost rule of every node in the catalogue: the shapes it outputs and what it costs to run.

One table keyed by class type, so a reader sees every size-changing node in one place. A node
added to the catalogue without a rule here fails `tests/unit/test_cost.py` (a node without a rule
would still be costed, as the largest image, never as free).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from nodes.cost import (
    IMAGE_KIND,
    LATENT_KIND,
    MASK_KIND,
    Conditioning,
    NodeCost,
    Pixels,
    Rule,
)
from nodes.cost_text import RULES as TEXT_RULES
from nodes.cost_text import text_of
from nodes.custom_sampling.choices import SAMPLER_NODES
from nodes.custom_sampling.cost import (
    custom_sampler,
    extend_sigmas,
    guider,
    same_steps,
    sigma_steps,
    split_sigmas,
    split_sigmas_denoise,
)
from nodes.llm_remote.cost import RULES as LLM_REMOTE_RULES
from nodes.svd.cost import RULES as SVD_RULES

# The largest factor an upscale model may have: the api cannot read it without loading the model.
UPSCALE_MODEL_MAX_SCALE = 8
# Upscale models are named for their factor ("4x-UltraSharp", "RealESRGAN_x2plus"). The files are
# the operator's (MODELS_DIR), not a tenant's, so a factor in the name is taken at its word.
_SCALE_IN_NAME = re.compile(r"(?:^|[^a-z0-9])(?:(1[0-6]|[1-9])x|x(1[0-6]|[1-9])(?![0-9]))", re.IGNORECASE)
# A prompt is encoded in windows of 75 tokens; even an empty one costs a window.
CLIP_WINDOW = 75


def none(n: NodeCost) -> tuple[Any, ...]:
    """Loaders and the like: no image or prompt flows out."""
    return tuple(None for _ in n.spec.outputs)


def passthrough(name: str) -> Rule:
    """Same shape out as in (filters, blends onto the first input, mask edits, conditioning edits)."""

    def rule(n: NodeCost) -> tuple[Any, ...]:
        value = n.linked(name)
        if value is None:
            value = _cond(n, name) if n.spec.outputs[0].type == "CONDITIONING" else n.pixels(name)
        return (value,) * len(n.spec.outputs)

    return rule


def converted(name: str, kind: str) -> Rule:
    """The same size in another kind: VAE encode/decode, image <-> mask."""
    return lambda n: (n.pixels(name).as_kind(kind, name),)


def empty_latent(n: NodeCost) -> tuple[Any, ...]:
    latent = Pixels(
        LATENT_KIND, int(n.number("width")), int(n.number("height")), 1, _larger_side(n), "batch_size"
    )
    return (latent.rebatched(int(n.number("batch_size")), "batch_size"),)


def empty_video_latent(n: NodeCost) -> Pixels:
    """A video latent costs as its pixel frames (batch_size x length images): what VAEDecode gives."""
    frames = int(n.number("batch_size")) * int(n.number("length"))
    latent = Pixels(
        LATENT_KIND, int(n.number("width")), int(n.number("height")), 1, _larger_side(n), "length"
    )
    return latent.rebatched(frames, "length")


def wan_image_to_video(n: NodeCost) -> tuple[Any, ...]:
    # The start image is encoded at the clip's size; the sampler pays for the latent.
    return (_cond(n, "positive"), _cond(n, "negative"), empty_video_latent(n))


def solid_mask(n: NodeCost) -> tuple[Any, ...]:
    return (Pixels(MASK_KIND, int(n.number("width")), int(n.number("height")), 1, _larger_side(n)),)


def load_image(n: NodeCost) -> tuple[Any, ...]:
    width, height = n.image_size(n.value("image"))
    # Without an alpha channel the mask is smaller, never larger, than the image.
    return tuple(Pixels(kind, width, height, 1, "image") for kind in (IMAGE_KIND, MASK_KIND))[
        : len(n.spec.outputs)
    ]


def load_image_mask(n: NodeCost) -> tuple[Any, ...]:
    width, height = n.image_size(n.value("image"))
    return (Pixels(MASK_KIND, width, height, 1, "image"),)


def scale_to(name: str) -> Rule:
    """width/height given, a zero side keeping the aspect ratio; both zero keep the size."""

    def rule(n: NodeCost) -> tuple[Any, ...]:
        src = n.pixels(name)
        width, height = n.number("width"), n.number("height")
        if not width and not height:
            return (src,)
        width = width or src.width * height / src.height
        height = height or src.height * width / src.width
        return (src.resized(width, height, _larger_side(n)),)

    return rule


def scale_by(name: str) -> Rule:
    def rule(n: NodeCost) -> tuple[Any, ...]:
        src, factor = n.pixels(name), n.number("scale_by")
        return (src.resized(src.width * factor, src.height * factor, "scale_by"),)

    return rule


def scale_to_total(n: NodeCost) -> tuple[Any, ...]:
    src = n.pixels("image")
    factor = (n.number("megapixels") * 1024 * 1024 / src.area) ** 0.5
    return (src.resized(src.width * factor, src.height * factor, "megapixels"),)


@dataclass(frozen=True)
class UpscaleModel:
    scale: int


def upscale_model_loader(n: NodeCost) -> tuple[Any, ...]:
    return (UpscaleModel(upscale_factor(n.value("model_name"))),)


def upscale_factor(model_name: Any) -> int:
    """The factor a model's name states, else the largest an upscale model may have."""
    found = _SCALE_IN_NAME.search(model_name) if isinstance(model_name, str) else None
    return int(found.group(1) or found.group(2)) if found else UPSCALE_MODEL_MAX_SCALE


def upscale_with_model(n: NodeCost) -> tuple[Any, ...]:
    src, model = n.pixels("image"), n.linked("upscale_model")
    factor = model.scale if isinstance(model, UpscaleModel) else UPSCALE_MODEL_MAX_SCALE
    return (src.resized(src.width * factor, src.height * factor, "upscale_model"),)


def crop(name: str) -> Rule:
    def rule(n: NodeCost) -> tuple[Any, ...]:
        src = n.pixels(name)
        return (
            src.resized(
                min(src.width, n.number("width")), min(src.height, n.number("height")), _larger_side(n)
            ),
        )

    return rule


def pad_for_outpaint(n: NodeCost) -> tuple[Any, ...]:
    src = n.pixels("image")
    width = src.width + n.number("left") + n.number("right")
    height = src.height + n.number("top") + n.number("bottom")
    side = max(("left", "right", "top", "bottom"), key=n.number)
    image = src.resized(width, height, side)
    return image, image.as_kind(MASK_KIND, side)


def rotate(n: NodeCost) -> tuple[Any, ...]:
    src = n.pixels("samples")
    if n.value("rotation") in ("90 degrees", "270 degrees"):
        return (src.resized(src.height, src.width, "rotation"),)
    return (src,)


def from_batch(n: NodeCost) -> tuple[Any, ...]:
    src = n.pixels("samples")
    return (src.rebatched(min(src.batch, int(n.number("length"))), "length"),)


def repeat_batch(n: NodeCost) -> tuple[Any, ...]:
    src = n.pixels("samples")
    return (src.rebatched(src.batch * int(n.number("amount")), "amount"),)


def image_batch(n: NodeCost) -> tuple[Any, ...]:
    first, second = n.pixels("image1"), n.pixels("image2")
    # The second batch is resized to the first one's size, then appended.
    return (first.rebatched(first.batch + second.batch, "image2"),)


def text_encode(*names: str) -> Rule:
    def rule(n: NodeCost) -> tuple[Any, ...]:
        longest = 0
        for name in names:
            # Typed, or made by string nodes upstream (their bound, nodes/cost_text.py).
            tokens = text_of(n, name).tokens
            n.measure("prompt_tokens", tokens, name, f"the prompt is about {tokens:,} tokens long")
            longest = max(longest, tokens)
        # Each of SDXL's two encoders pads to the longer prompt; both run.
        padded = max(CLIP_WINDOW, longest)
        return (Conditioning(entries=1, tokens=padded, longest=padded),)

    return rule


def _cond(n: NodeCost, name: str) -> Conditioning:
    value = n.linked(name)
    return value if isinstance(value, Conditioning) else Conditioning(1, CLIP_WINDOW, CLIP_WINDOW)


def combine(n: NodeCost) -> tuple[Any, ...]:
    a, b = _cond(n, "conditioning_1"), _cond(n, "conditioning_2")
    return (
        Conditioning(
            a.entries + b.entries, a.tokens + b.tokens, max(a.longest, b.longest), a.prompts + b.prompts
        ),
    )


def concat(n: NodeCost) -> tuple[Any, ...]:
    to, src = _cond(n, "conditioning_to"), _cond(n, "conditioning_from")
    # Every entry of `to` gets the first entry of `from` (at most its longest) appended.
    tokens = to.tokens + to.entries * src.longest
    return (Conditioning(to.entries, tokens, to.longest + src.longest, to.prompts + src.prompts),)


def sampler(n: NodeCost) -> tuple[Any, ...]:
    latent = n.pixels("latent_image")
    steps = int(n.number("steps"))
    n.measure("steps", steps, "steps", f"{steps:,} steps")
    positive, negative = _cond(n, "positive"), _cond(n, "negative")
    for name, cond in (("positive", positive), ("negative", negative)):
        if cond.prompts > 1:  # a single prompt was measured at its text input
            n.measure(
                "prompt_tokens",
                cond.tokens,
                name,
                f"the {name} conditioning holds {cond.entries:,} prompts, {cond.tokens:,} tokens in all",
            )
    # Each conditioning entry is one more UNet pass per step; plain positive + negative count as 1.
    passes = max(1.0, (positive.entries + negative.entries) / 2)
    n.add_sampling(steps=steps, latent=latent, passes=passes, input_name="steps")
    return (latent,)


def save(n: NodeCost) -> tuple[Any, ...]:
    n.add_output_images(n.pixels("images").batch, "images")
    return ()


def stitch(n: NodeCost) -> tuple[Any, ...]:
    """Side by side (right, left) or stacked (down, up); image2 resized to image1 when asked."""
    first = n.pixels("image1")
    second = n.linked("image2")
    if not isinstance(second, Pixels):
        return (first,)
    spacing = n.number("spacing_width")
    spacing += spacing % 2
    width: float
    height: float
    batch = max(first.batch, second.batch)
    side_by_side = n.value("direction") in ("left", "right")
    if n.value("match_image_size") is not False:
        if side_by_side:
            width, height = first.width + first.height * second.width / second.height + spacing, first.height
        else:
            width, height = first.width, first.height + first.width * second.height / second.width + spacing
    elif side_by_side:
        width, height = first.width + second.width + spacing, max(first.height, second.height)
    else:
        width, height = max(first.width, second.width), first.height + second.height + spacing
    return (first.resized(width, height, "image2").rebatched(batch, "image2"),)


def image_rotate(n: NodeCost) -> tuple[Any, ...]:
    src = n.pixels("image")
    if n.value("rotation") in ("90 degrees", "270 degrees"):
        return (src.resized(src.height, src.width, "rotation"),)
    return (src,)


def image_from_batch(n: NodeCost) -> tuple[Any, ...]:
    src = n.pixels("image")
    return (src.rebatched(min(src.batch, int(n.number("length"))), "length"),)


def empty_image(n: NodeCost) -> tuple[Any, ...]:
    image = Pixels(IMAGE_KIND, int(n.number("width")), int(n.number("height")), 1, _larger_side(n))
    return (image.rebatched(int(n.number("batch_size")), "batch_size"),)


def remove_background(n: NodeCost) -> tuple[Any, ...]:
    # The model runs at its own square size; what flows on is the input's size, as a mask and as RGBA.
    src = n.pixels("image")
    return src.as_kind(MASK_KIND, "image"), src


def save_file(name: str) -> Rule:
    """A video, an animation or a text: one stored file, whatever its frames."""

    def rule(n: NodeCost) -> tuple[Any, ...]:
        n.add_output_images(1, name)
        return tuple(None for _ in n.spec.outputs)

    return rule


# An uploaded video of unknown length counts as this many frames (FILE_UPLOAD_MAX_VIDEO_FRAMES).
VIDEO_UNKNOWN_FRAMES = 1024


def load_video(n: NodeCost) -> tuple[Any, ...]:
    """A VIDEO is costed as its frames: an IMAGE batch."""
    width, height = n.image_size(n.value("file"))
    frames = n.frames(n.value("file")) or VIDEO_UNKNOWN_FRAMES
    return (Pixels(IMAGE_KIND, width, height, frames, "file", "file"),)


def _larger_side(n: NodeCost) -> str:
    return "height" if n.number("height") > n.number("width") else "width"


RULES: dict[str, Rule] = {
    # loaders and model patches
    "CheckpointLoaderSimple": none,
    "VAELoader": none,
    "CLIPSetLastLayer": none,
    "LoraLoader": none,
    "LoraLoaderModelOnly": none,
    "ControlNetLoader": none,
    "UpscaleModelLoader": upscale_model_loader,
    "unCLIPCheckpointLoader": none,
    "CLIPVisionLoader": none,
    "UNETLoader": none,
    "CLIPLoader": none,
    "DualCLIPLoader": none,
    "TripleCLIPLoader": none,
    # One CLIP vision pass at the tower's own size (224 px), whatever the image's size.
    "CLIPVisionEncode": none,
    # prompts and conditioning
    "CLIPTextEncode": text_encode("text"),
    "CLIPTextEncodeSDXL": text_encode("text_g", "text_l"),
    "CLIPTextEncodeSDXLRefiner": text_encode("text"),
    "CLIPTextEncodeFlux": text_encode("clip_l", "t5xxl"),
    "CLIPTextEncodeSD3": text_encode("clip_l", "clip_g", "t5xxl"),
    "FluxGuidance": passthrough("conditioning"),
    "ConditioningAverage": passthrough("conditioning_to"),
    "ConditioningCombine": combine,
    "ConditioningConcat": concat,
    "ConditioningSetArea": passthrough("conditioning"),
    "ConditioningSetAreaPercentage": passthrough("conditioning"),
    "ConditioningSetAreaStrength": passthrough("conditioning"),
    "ConditioningSetMask": passthrough("conditioning"),
    "ConditioningSetTimestepRange": passthrough("conditioning"),
    "ConditioningZeroOut": passthrough("conditioning"),
    "unCLIPConditioning": passthrough("conditioning"),
    # The control image is resized to the latent, which the sampler pays for.
    "ControlNetApply": passthrough("conditioning"),
    "ControlNetApplyAdvanced": lambda n: (_cond(n, "positive"), _cond(n, "negative")),
    # latents
    "EmptyLatentImage": empty_latent,
    "EmptySD3LatentImage": empty_latent,
    "EmptyHunyuanLatentVideo": lambda n: (empty_video_latent(n),),
    "WanImageToVideo": wan_image_to_video,
    "EmptyLTXVLatentVideo": lambda n: (empty_video_latent(n),),
    "LTXVImgToVideo": wan_image_to_video,  # the same outputs: both conditionings and the clip's latent
    "LTXVConditioning": lambda n: (_cond(n, "positive"), _cond(n, "negative")),
    "KSampler": sampler,
    "KSamplerAdvanced": sampler,
    # custom sampling: schedules carry their step count to the sampler that runs them
    "SamplerCustom": custom_sampler,
    "SamplerCustomAdvanced": custom_sampler,
    "BasicScheduler": sigma_steps(),
    "KarrasScheduler": sigma_steps(),
    "ExponentialScheduler": sigma_steps(),
    "PolyexponentialScheduler": sigma_steps(),
    "LaplaceScheduler": sigma_steps(),
    "VPScheduler": sigma_steps(),
    "BetaSamplingScheduler": sigma_steps(),
    "SDTurboScheduler": sigma_steps(),
    "LTXVScheduler": sigma_steps(),
    "SplitSigmas": split_sigmas,
    "SplitSigmasDenoise": split_sigmas_denoise,
    "FlipSigmas": same_steps,
    "SetFirstSigma": same_steps,
    "ExtendIntermediateSigmas": extend_sigmas,
    "SamplingPercentToSigma": none,
    "BasicGuider": guider("conditioning"),
    "CFGGuider": guider("positive", "negative"),
    "DualCFGGuider": guider("cond1", "cond2", "negative"),
    "RandomNoise": none,
    "AddNoise": passthrough("latent_image"),
    "DisableNoise": none,
    "KSamplerSelect": none,
    **{name: none for name in SAMPLER_NODES},
    "ModelSamplingDiscrete": none,
    "ModelSamplingSD3": none,
    "ModelSamplingAuraFlow": none,
    "ModelSamplingFlux": none,
    "ModelSamplingLTXV": none,
    "LatentUpscale": scale_to("samples"),
    "LatentUpscaleBy": scale_by("samples"),
    "LatentCrop": crop("samples"),
    "LatentComposite": passthrough("samples_to"),
    "LatentBlend": passthrough("samples1"),
    "LatentFlip": passthrough("samples"),
    "LatentRotate": rotate,
    "LatentFromBatch": from_batch,
    "RepeatLatentBatch": repeat_batch,
    "SetLatentNoiseMask": passthrough("samples"),
    "VAEEncode": converted("pixels", LATENT_KIND),
    "VAEEncodeForInpaint": converted("pixels", LATENT_KIND),
    "VAEDecode": converted("samples", IMAGE_KIND),
    # images
    "LoadImage": load_image,
    "ImageScale": scale_to("image"),
    "ImageScaleBy": scale_by("image"),
    "ImageScaleToTotalPixels": scale_to_total,
    "ImageUpscaleWithModel": upscale_with_model,
    "ImageCrop": crop("image"),
    "ImagePadForOutpaint": pad_for_outpaint,
    "ImageBatch": image_batch,
    "ImageBlend": passthrough("image1"),
    "ImageCompositeMasked": passthrough("destination"),
    "ImageBlur": passthrough("image"),
    "ImageSharpen": passthrough("image"),
    "ImageQuantize": passthrough("image"),
    "ImageInvert": passthrough("image"),
    "ImageToMask": converted("image", MASK_KIND),
    "SaveImage": save,
    "PreviewImage": save,
    # masks
    "LoadImageMask": load_image_mask,
    "SolidMask": solid_mask,
    "CropMask": crop("mask"),
    "FeatherMask": passthrough("mask"),
    "GrowMask": passthrough("mask"),
    "InvertMask": passthrough("mask"),
    "ThresholdMask": passthrough("mask"),
    "MaskComposite": passthrough("destination"),
    "MaskToImage": converted("mask", IMAGE_KIND),
    # local LLMs (their texts' bounds: nodes/cost_text.py)
    "LLMLoader": none,
    "VLMLoader": none,
    # background removal
    "LoadBackgroundRemovalModel": none,
    "RemoveBackground": remove_background,
    # image utilities
    "ImageStitch": stitch,
    "ImageFlip": passthrough("image"),
    "ImageRotate": image_rotate,
    "ImageAddNoise": passthrough("image"),
    "EmptyImage": empty_image,
    "ImageFromBatch": image_from_batch,
    "JoinImageWithAlpha": passthrough("image"),
    # A list of smaller batches, as many images in all: what flows on costs what came in.
    "RebatchImages": passthrough("images"),
    "SplitImageWithAlpha": lambda n: (n.pixels("image"), n.pixels("image").as_kind(MASK_KIND, "image")),
    # primitives and strings: no image flows out; texts carry their length to the prompts they feed
    **{
        class_type: none
        for class_type in (
            "PrimitiveInt",
            "PrimitiveFloat",
            "PrimitiveBoolean",
            "StringLength",
            "StringContains",
            "StringCompare",
            "RegexMatch",
        )
    },
    **TEXT_RULES,
    **LLM_REMOTE_RULES,
    **SVD_RULES,
    # video and animation (a VIDEO is costed as its frames); text outputs
    "SaveAnimatedWEBP": save_file("images"),
    "SaveAnimatedPNG": save_file("images"),
    "SaveWEBM": save_file("images"),
    "CreateVideo": passthrough("images"),
    "SaveVideo": save_file("video"),
    "LoadVideo": load_video,
    "GetVideoComponents": lambda n: (n.pixels("video"), None, None),
    "PreviewAny": save_file("source"),
    "SaveText": save_file("text"),
}


# Filters, the largest-side resizer and latent arithmetic (nodes/image/specs_filters.py,
# nodes/latent/specs_math.py).
def scale_to_max_dimension(n: NodeCost) -> tuple[Any, ...]:
    src, largest = n.pixels("image"), max(1, int(n.number("largest_size")))
    factor = largest / max(src.width, src.height)
    return (src.resized(src.width * factor, src.height * factor, "largest_size"),)


def latent_batch(n: NodeCost) -> tuple[Any, ...]:
    first, second = n.pixels("samples1"), n.pixels("samples2")
    return (first.rebatched(first.batch + second.batch, "samples2"),)


RULES.update(
    {
        "Canny": passthrough("image"),
        "Morphology": passthrough("image"),
        "ImageScaleToMaxDimension": scale_to_max_dimension,
        "LatentAdd": passthrough("samples1"),
        "LatentSubtract": passthrough("samples1"),
        "LatentMultiply": passthrough("samples"),
        "LatentInterpolate": passthrough("samples1"),
        "LatentBatch": latent_batch,
        "LatentBatchSeedBehavior": passthrough("samples"),
        "LatentCompositeMasked": passthrough("destination"),
    }
)
