"""Schemas of the local LLM nodes: Crucible's own names (`crucible=True`), not ComfyUI's.

ComfyUI core's `TextGenerate` generates text with a CLIP-typed text encoder (the LLM inside an image
model's text encoder, loaded by CLIPLoader); it cannot load a Hugging Face model folder, and a graph
using that name must keep ComfyUI's meaning. These nodes load `MODELS_DIR/llm/<name>/` and
`MODELS_DIR/vlm/<name>/` folders, so they carry names of their own (docs/llm.md). Input names
follow TextGenerate's where they mean the same (prompt, temperature, top_k, top_p, seed).
"""

from __future__ import annotations

from nodes.llm.families import LLM_FOLDER, VLM_FOLDER
from nodes.schema import BOOLEAN, COMBO, FLOAT, IMAGE, INT, STRING, InputSpec, NodeSpec, OutputSpec

OPS = "nodes.llm.ops"
LLM = "LLM"
VLM = "VLM"
MAX_NEW_TOKENS = 4096  # also what the cost rule bounds a generated text by
CAPTION_MAX_NEW_TOKENS = 512
# What one generated token may add to the text: characters, and prompt tokens as nodes.cost
# estimate_tokens counts them (a word-like token is one or two). The nodes cut their text at these,
# so the cost rule's bound on a generated prompt (nodes/cost_text.py) holds for any tokenizer.
MAX_CHARS_PER_TOKEN = 32
PROMPT_TOKENS_PER_TOKEN = 4

SPECS = (
    NodeSpec(
        class_type="LLMLoader",
        display_name="Load LLM",
        category="llm",
        description="Loads a causal language model (Llama, Qwen2, Gemma, Mistral) from a model folder.",
        impl=f"{OPS}:load_llm",
        crucible=True,
        inputs=(
            InputSpec(
                "llm_name",
                COMBO,
                choices_source=LLM_FOLDER,
                tooltip="A Hugging Face model folder in models/llm/ (config.json, safetensors, tokenizer).",
            ),
        ),
        outputs=(OutputSpec(LLM, name="llm"),),
    ),
    NodeSpec(
        class_type="LLMGenerate",
        display_name="Generate Text (LLM)",
        category="llm",
        description="Generates text from a prompt with a local language model; deterministic for a seed.",
        impl=f"{OPS}:llm_generate",
        crucible=True,
        inputs=(
            InputSpec("llm", LLM, tooltip="The language model, from Load LLM."),
            InputSpec(
                "prompt",
                STRING,
                default="",
                options={"multiline": True, "dynamicPrompts": True},
                tooltip="The user message (or, without the chat template, the text to continue).",
            ),
            InputSpec(
                "system_prompt",
                STRING,
                default="",
                options={"multiline": True},
                tooltip="Instructions sent as the system message; empty sends none.",
            ),
            InputSpec(
                "max_new_tokens",
                INT,
                default=256,
                min=1,
                max=MAX_NEW_TOKENS,
                tooltip="The most tokens generated; generation also stops at the model's end of turn.",
            ),
            InputSpec(
                "temperature",
                FLOAT,
                default=0.7,
                min=0.0,
                max=2.0,
                step=0.01,
                tooltip="Randomness of the sampling; 0 always takes the most likely token (greedy).",
            ),
            InputSpec(
                "top_p",
                FLOAT,
                default=0.95,
                min=0.0,
                max=1.0,
                step=0.01,
                tooltip="Samples from the likeliest tokens whose probabilities add up to this; 1 keeps all.",
            ),
            InputSpec(
                "top_k",
                INT,
                default=64,
                min=0,
                max=1000,
                tooltip="Samples from this many most likely tokens at most; 0 keeps all.",
            ),
            InputSpec(
                "seed",
                INT,
                default=0,
                min=0,
                max=18446744073709551615,
                options={"control_after_generate": True},
                tooltip="The same seed, prompt and settings give the same text.",
            ),
            InputSpec(
                "use_chat_template",
                BOOLEAN,
                default=True,
                tooltip="Wrap the prompt in the model's chat template (instruct models); off sends it raw.",
            ),
        ),
        outputs=(OutputSpec(STRING, name="text", tooltip="The generated text, without the prompt."),),
    ),
    NodeSpec(
        class_type="VLMLoader",
        display_name="Load Vision-Language Model",
        category="llm",
        description="Loads an image-to-text model (BLIP, Qwen2-VL) from a Hugging Face folder.",
        impl=f"{OPS}:load_vlm",
        crucible=True,
        inputs=(
            InputSpec(
                "vlm_name",
                COMBO,
                choices_source=VLM_FOLDER,
                tooltip="A Hugging Face model folder in models/vlm/.",
            ),
        ),
        outputs=(OutputSpec(VLM, name="vlm"),),
    ),
    NodeSpec(
        class_type="ImageCaption",
        display_name="Caption Image",
        category="llm",
        description="Describes each image of the batch in text (one line per image).",
        impl=f"{OPS}:image_caption",
        crucible=True,
        inputs=(
            InputSpec("vlm", VLM, tooltip="The vision-language model, from Load Vision-Language Model."),
            InputSpec("image", IMAGE),
            InputSpec(
                "prompt",
                STRING,
                default="",
                options={"multiline": False},
                tooltip=(
                    'BLIP: an optional start of the caption, which it continues ("a photograph of"). '
                    "Qwen2-VL: the instruction; empty asks for a one-sentence description."
                ),
            ),
            InputSpec(
                "max_new_tokens",
                INT,
                default=40,
                min=1,
                max=CAPTION_MAX_NEW_TOKENS,
                tooltip="The most tokens generated per caption.",
            ),
        ),
        outputs=(OutputSpec(STRING, name="text", tooltip="The captions, one line per image."),),
    ),
)
