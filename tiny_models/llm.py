"""Tiny random-weight language models in the Hugging Face folder layout: Llama and Qwen2 causal LMs
for models/llm/, a BLIP captioner for models/vlm/. Nothing is downloaded.

The tokenizers are real ones, trained here on a few sentences with the `tokenizers` library (a
byte-level BPE for the causal LMs, as Llama 3 and Qwen2 use; a WordPiece vocab for BLIP's BERT
tokenizer), and saved as transformers saves its own, chat template included.
"""

from __future__ import annotations

from dataclasses import dataclass
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
# ChatML, as Qwen2 ships it: each message between <|im_start|>role and <|im_end|>.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Llama 3's turn format: the template writes <|begin_of_text|> itself, each turn ends in <|eot_id|>.
LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim"
    " + '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

# Mistral's [INST] turns: a system prompt goes in front of the first user message (it has no role).
MISTRAL_TEMPLATE = (
    "{{ bos_token }}{% set system = messages | selectattr('role', 'equalto', 'system') | list %}"
    "{% for message in messages if message['role'] != 'system' %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' }}"
    "{% if loop.first and system %}{{ system[0]['content'] + '\n\n' }}{% endif %}"
    "{{ message['content'] + ' [/INST]' }}{% else %}{{ message['content'] + eos_token }}{% endif %}"
    "{% endfor %}"
)
# Gemma's turns: user and model only; like Gemma's own template it refuses a system message.
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)


@dataclass(frozen=True)
class _Chat:
    """A family's special tokens as its published tokenizer names them, and its chat template."""

    specials: tuple[str, ...]
    bos: str | None
    eos: str  # the tokenizer's eos_token
    pad: str
    turn_end: str  # what ends an assistant turn (generation_config.json's eos_token_id lists it)
    template: str


CHATS = {
    "llama": _Chat(
        ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
        bos="<|begin_of_text|>",
        eos="<|end_of_text|>",
        pad="<|end_of_text|>",
        turn_end="<|eot_id|>",
        template=LLAMA3_TEMPLATE,
    ),
    "qwen2": _Chat(
        ("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
        bos=None,
        eos="<|im_end|>",
        pad="<|endoftext|>",
        turn_end="<|im_end|>",
        template=CHATML_TEMPLATE,
    ),
    "mistral": _Chat(
        ("<unk>", "<s>", "</s>", "[INST]", "[/INST]"),
        bos="<s>",
        eos="</s>",
        pad="<unk>",
        turn_end="</s>",
        template=MISTRAL_TEMPLATE,
    ),
    "gemma": _Chat(
        ("<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"),
        bos="<bos>",
        eos="<eos>",
        pad="<pad>",
        turn_end="<end_of_turn>",
        template=GEMMA_TEMPLATE,
    ),
}
FAMILIES = tuple(CHATS)


def write_tiny_causal_lm(path: Path, *, family: str = "llama", seed: int = 0) -> Path:
    """A Llama (3), Qwen2, Mistral or Gemma folder: config.json, model.safetensors,
    generation_config.json, tokenizer.json and tokenizer_config.json with the family's chat template."""
    import torch
    from transformers import AutoModelForCausalLM, GemmaConfig, LlamaConfig, MistralConfig, Qwen2Config

    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    chat = CHATS[family]
    tokenizer = _bpe_tokenizer(chat)
    ids = tokenizer.convert_tokens_to_ids
    common: dict[str, Any] = {
        "vocab_size": len(tokenizer),
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 512,
        "bos_token_id": ids(chat.bos) if chat.bos else None,
        "eos_token_id": ids(chat.eos),
        "pad_token_id": ids(chat.pad),
        "tie_word_embeddings": False,
    }
    config_class = {
        "llama": LlamaConfig,
        "qwen2": Qwen2Config,
        "mistral": MistralConfig,
        "gemma": GemmaConfig,
    }
    config = config_class[family](**common, **({"head_dim": 8} if family == "gemma" else {}))
    with torch.random.fork_rng():  # a writer must not move the caller's global RNG
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config).eval()
        # Random weights with a large output scale, so sampling settings visibly change the text.
        torch.nn.init.normal_(model.lm_head.weight, std=0.5)
    # As Llama 3 Instruct and Gemma ship it: generation ends on the end of text or of a turn.
    model.generation_config.eos_token_id = sorted({ids(chat.eos), ids(chat.turn_end)})
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    _template_in_tokenizer_config(path, chat.template)
    return path


def _template_in_tokenizer_config(path: Path, template: str) -> None:
    """The layout most published models have: the chat template inside tokenizer_config.json and the
    generic fast tokenizer class (transformers 5 writes chat_template.jinja and its own class name)."""
    import json

    config_file = path / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config.pop("backend", None)
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config["chat_template"] = template
    config_file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (path / "chat_template.jinja").unlink(missing_ok=True)


def _bpe_tokenizer(chat: _Chat) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=list(chat.specials),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_CORPUS, trainer)
    if chat.bos:  # as Llama 3's, Mistral's and Gemma's: every encoded text starts with the BOS
        bos_id = bpe.token_to_id(chat.bos)
        bpe.post_processor = processors.TemplateProcessing(
            single=f"{chat.bos} $A", pair=f"{chat.bos} $A {chat.bos} $B", special_tokens=[(chat.bos, bos_id)]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token=chat.bos,
        eos_token=chat.eos,
        pad_token=chat.pad,
        additional_special_tokens=[t for t in chat.specials if t not in (chat.bos, chat.eos, chat.pad)],
        chat_template=chat.template,
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
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = sorted({w.strip(",.") for line in _CORPUS for w in line.split()} - set(letters))
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
