"""A caption model's inputs for one image, per family: BLIP's processor, or Qwen2-VL's chat.

Qwen2-VL's prompt is a chat turn through its tokenizer's template, with the image as one
<|image_pad|> that is repeated once per merged patch (what transformers' Qwen2VLProcessor does;
that class also wants a video processor, which needs torchvision, so the two parts are used here).
"""

from __future__ import annotations

from typing import Any

from nodes.llm.loading import VisionLanguageModel

DEFAULT_INSTRUCTION = "Describe this image in one sentence."
IMAGE_PAD = "<|image_pad|>"


def caption_inputs(vlm: VisionLanguageModel, picture: Any, prompt: str) -> tuple[dict[str, Any], int]:
    """(keyword arguments for `generate`, how many leading output ids are the prompt's and dropped).
    BLIP's prompt starts the caption and is kept; Qwen2-VL's is an instruction and is not."""
    if vlm.family == "qwen2_vl":
        return _qwen2_vl_inputs(vlm, picture, prompt)
    inputs = dict(vlm.processor(images=picture, text=prompt or None, return_tensors="pt"))
    return inputs, 0


def _qwen2_vl_inputs(vlm: VisionLanguageModel, picture: Any, prompt: str) -> tuple[dict[str, Any], int]:
    pixels = vlm.processor(images=[picture], return_tensors="pt")  # the image processor
    grid = pixels["image_grid_thw"]
    merge = vlm.model.config.vision_config.spatial_merge_size
    patches = int(grid[0].prod()) // (merge * merge)
    messages = [
        {
            "role": "user",
            "content": [{"type": "image"}, {"type": "text", "text": prompt or DEFAULT_INSTRUCTION}],
        }
    ]
    text = vlm.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if text.count(IMAGE_PAD) != 1:
        raise ValueError(
            f"The chat template of model {vlm.name!r} does not place the image as one {IMAGE_PAD}."
        )
    encoded = vlm.tokenizer(
        text.replace(IMAGE_PAD, IMAGE_PAD * patches), add_special_tokens=False, return_tensors="pt"
    )
    inputs = {
        "input_ids": encoded["input_ids"],
        "attention_mask": encoded["attention_mask"],
        "pixel_values": pixels["pixel_values"],
        "image_grid_thw": grid,
    }
    return inputs, int(encoded["input_ids"].shape[1])
