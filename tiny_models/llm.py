"""Tiny random-weight language models in the Hugging Face folder layout: Llama and Qwen2 causal LMs
for models/llm/, a BLIP captioner for models/vlm/. Nothing is downloaded.

The tokenizers are real ones, trained here on a few sentences with the `tokenizers` library (a
byte-level BPE for the causal LMs, as Llama 3 and Qwen2 use; a WordPiece vocab for BLIP's BERT
tokenizer), and saved as transformers saves its own, chat template included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Enough text for a small BPE to learn merges of common English (the tiny models' prompts).
_CORPUS = (
    "a photo of a red fox in the snow, studio light, high detail",
    "a cat sitting on a wooden table next to a cup of coffee",
    "describe the image in one sentence and expand the prompt with more detail",
    "you are a helpful assistant that writes prompts for an image generator",
    "the quick brown fox jumps over the lazy dog at sunset in the mountains",
    "a painting of a castle by the sea, dramatic clouds, golden hour",
)
BOS = "<|begin_of_text|>"
EOS = "<|end_of_text|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
# ChatML, as Qwen2 ships it: each message between <|im_start|>role and <|im_end|>.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
FAMILIES = ("llama", "qwen2")


def write_tiny_causal_lm(path: Path, *, family: str = "llama", seed: int = 0) -> Path:
    """A Llama or Qwen2 folder: config.json, model.safetensors, tokenizer.json, tokenizer_config.json
    (with a ChatML chat template), generation_config.json."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    tokenizer = _bpe_tokenizer()
    common: dict[str, Any] = {
        "vocab_size": len(tokenizer),
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 512,
        "bos_token_id": tokenizer.convert_tokens_to_ids(BOS),
        "eos_token_id": tokenizer.convert_tokens_to_ids(IM_END),
        "pad_token_id": tokenizer.convert_tokens_to_ids(EOS),
        "tie_word_embeddings": False,
    }
    config = LlamaConfig(**common) if family == "llama" else Qwen2Config(**common)
    model_class = LlamaForCausalLM if family == "llama" else Qwen2ForCausalLM
    with torch.random.fork_rng():  # a writer must not move the caller's global RNG
        torch.manual_seed(seed)
        model = model_class(config).eval()
        # Random weights with a large output scale, so sampling settings visibly change the text.
        torch.nn.init.normal_(model.lm_head.weight, std=2.0)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    _template_in_tokenizer_config(path)
    return path


def _template_in_tokenizer_config(path: Path) -> None:
    """The layout most published models have: the chat template inside tokenizer_config.json and the
    generic fast tokenizer class (transformers 5 writes chat_template.jinja and its own class name)."""
    import json

    config_file = path / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config.pop("backend", None)
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config["chat_template"] = CHATML_TEMPLATE
    config_file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (path / "chat_template.jinja").unlink(missing_ok=True)


def _bpe_tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=[BOS, EOS, IM_START, IM_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_CORPUS, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token=BOS,
        eos_token=IM_END,
        pad_token=EOS,
        additional_special_tokens=[IM_START],
        chat_template=CHATML_TEMPLATE,
        model_max_length=512,
    )


# BERT's specials, and [DEC], the token BLIP's text decoder starts a caption with.
_BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]")


def write_tiny_blip(path: Path, *, seed: int = 0) -> Path:
    """A BLIP captioning folder (BlipForConditionalGeneration): config.json, model.safetensors,
    preprocessor_config.json (BlipImageProcessor at 32 px), vocab.txt + tokenizer files (BERT)."""
    import torch
    from transformers import (
        BertTokenizerFast,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    path.mkdir(parents=True, exist_ok=True)
    words = sorted({w.strip(",.") for line in _CORPUS for w in line.split()} - set("abcdefghijklmnopqrstuvwxyz"))
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = [*_BERT_SPECIALS, *words, *letters, *(f"##{c}" for c in letters), ",", "."]
    vocab_file = path / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    ids = {tok: i for i, tok in enumerate(vocab)}
    tokenizer = BertTokenizerFast(vocab=ids, do_lower_case=True, bos_token="[DEC]")
    size = 32
    image_processor = BlipImageProcessor(size={"height": size, "width": size})
    config = BlipConfig(
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": size,
            "patch_size": 8,
        },
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "encoder_hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": 64,
            "bos_token_id": ids["[DEC]"],
            "pad_token_id": ids["[PAD]"],
            "sep_token_id": ids["[SEP]"],
            "eos_token_id": ids["[SEP]"],
        },
        projection_dim=32,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = BlipForConditionalGeneration(config).eval()
    model.save_pretrained(path)
    BlipProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(path)
    image_processor.save_pretrained(path)  # preprocessor_config.json, as published BLIP folders have
    return path
