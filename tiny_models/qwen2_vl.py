"""A tiny random-weight Qwen2-VL folder for models/vlm/: the real architecture (a ViT with 2x2 patch
merging feeding a Qwen2 decoder with multimodal rotary positions) at toy sizes, with a trained
byte-level BPE tokenizer carrying Qwen2-VL's vision tokens and a ChatML template that places an
image part as <|vision_start|><|image_pad|><|vision_end|>, as Qwen2-VL's own template does."""

from __future__ import annotations

import json
from pathlib import Path

from tiny_models.llm import _bpe_tokenizer, _Chat, _template_in_tokenizer_config

VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
QWEN2_VL_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{{ '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
_CHAT = _Chat(
    ("<|endoftext|>", "<|im_start|>", "<|im_end|>", *VISION_TOKENS),
    bos=None,
    eos="<|im_end|>",
    pad="<|endoftext|>",
    turn_end="<|im_end|>",
    template=QWEN2_VL_TEMPLATE,
)


def write_tiny_qwen2_vl(path: Path, *, seed: int = 0) -> Path:
    """config.json (model_type qwen2_vl), model.safetensors, preprocessor_config.json (Qwen2-VL's
    image processor, 14 px patches, at most 112x112 pixels), tokenizer.json, tokenizer_config.json."""
    import torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLImageProcessorPil

    tokenizer = _bpe_tokenizer(_CHAT)
    ids = tokenizer.convert_tokens_to_ids
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 512,
            # Multimodal rotary sections (time, height, width) over the head's 4 frequency pairs.
            "rope_parameters": {"rope_type": "default", "mrope_section": [1, 1, 2], "rope_theta": 10000.0},
            "eos_token_id": ids("<|im_end|>"),
            "pad_token_id": ids("<|endoftext|>"),
            "bos_token_id": None,  # Qwen2 has none (the default is the 151k vocab's)
            "tie_word_embeddings": False,
        },
        vision_config={
            "depth": 2,
            "embed_dim": 32,
            "hidden_size": 32,
            "num_heads": 4,
            "mlp_ratio": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = Qwen2VLForConditionalGeneration(config).eval()
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    _template_in_tokenizer_config(path, QWEN2_VL_TEMPLATE)
    Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=112 * 112).save_pretrained(path)
    # Named as published folders name it; transformers picks its PIL variant where torchvision is absent.
    processor_file = path / "preprocessor_config.json"
    processor = json.loads(processor_file.read_text(encoding="utf-8"))
    processor["image_processor_type"] = "Qwen2VLImageProcessor"
    processor_file.write_text(json.dumps(processor, indent=2) + "\n", encoding="utf-8")
    return path
