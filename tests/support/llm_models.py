"""Tiny language models for the test model store (llm/, vlm/), under the names their families publish
them as. The weights are random; the tokenizers are real ones trained on a few sentences."""

from __future__ import annotations

from pathlib import Path

TINY_LLAMA = "Llama-3.2-1B-Instruct"
TINY_QWEN2 = "Qwen2.5-0.5B-Instruct"
TINY_MISTRAL = "Mistral-7B-Instruct-v0.3"
TINY_GEMMA = "gemma-2b-it"
TINY_BLIP = "blip-image-captioning-base"
TINY_QWEN2_VL = "Qwen2-VL-2B-Instruct"


def write_llm_models(root: Path) -> None:
    """Write the tiny Llama, Qwen2, Mistral and Gemma folders under ``root/llm`` and BLIP under
    BLIP and Qwen2-VL under ``root/vlm`` (called by the models_dir fixture)."""
    from tiny_models.llm import write_tiny_blip, write_tiny_causal_lm
    from tiny_models.qwen2_vl import write_tiny_qwen2_vl

    write_tiny_causal_lm(root / "llm" / TINY_LLAMA, family="llama", seed=0)
    write_tiny_causal_lm(root / "llm" / TINY_QWEN2, family="qwen2", seed=1)
    write_tiny_causal_lm(root / "llm" / TINY_MISTRAL, family="mistral", seed=2)
    write_tiny_causal_lm(root / "llm" / TINY_GEMMA, family="gemma", seed=3)
    write_tiny_blip(root / "vlm" / TINY_BLIP, seed=0)
    write_tiny_qwen2_vl(root / "vlm" / TINY_QWEN2_VL, seed=0)
