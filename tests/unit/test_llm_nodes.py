"""The local LLM nodes on tiny random-weight Llama, Qwen2 and BLIP folders with real tokenizers:
seeded determinism, max tokens, chat templates, cancel, the model cache, and what is refused."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from gpu_worker.model_cache import model_bytes
from nodes.context import ExecutionCancelled
from nodes.cost import estimate_tokens
from nodes.llm.families import UnsupportedModel
from nodes.llm.ops import bounded_text, build_prompt, image_caption, llm_generate, load_llm, load_vlm
from nodes.llm.sampling import generate_tokens, sample_next
from nodes.llm.specs import MAX_CHARS_PER_TOKEN, PROMPT_TOKENS_PER_TOKEN
from nodes.model_store import ModelStore
from tests.support.llm_models import (
    TINY_BLIP,
    TINY_GEMMA,
    TINY_LLAMA,
    TINY_MISTRAL,
    TINY_QWEN2,
    TINY_QWEN2_VL,
    write_llm_models,
)
from tests.support.node_context import NodeTestContext

PROMPT = "a red fox in the snow"
SYSTEM = "expand the prompt with more detail"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models")
    write_llm_models(path)
    return path


@pytest.fixture(scope="module")
def ctx(root: Path) -> NodeTestContext:
    return NodeTestContext(root)  # one per module: the cache keeps each tiny model loaded once


def generate(ctx: NodeTestContext, name: str = TINY_LLAMA, **settings: Any) -> str:
    (llm,) = load_llm(ctx, name)
    options: dict[str, Any] = {"system_prompt": SYSTEM, "max_new_tokens": 12, "seed": 7, **settings}
    return llm_generate(ctx, llm, options.pop("prompt", PROMPT), **options)[0]


class CancelAfter(NodeTestContext):
    """A context whose execution is cancelled after `checks` cancel checks."""

    def __init__(self, root: Path, checks: int) -> None:
        super().__init__(root)
        self.checks = checks

    def check_cancelled(self) -> None:
        self.checks -= 1
        if self.checks < 0:
            raise ExecutionCancelled("cancelled by the test")


@pytest.mark.parametrize("name", [TINY_LLAMA, TINY_QWEN2, TINY_MISTRAL, TINY_GEMMA])
def test_the_same_seed_gives_the_same_text_and_another_seed_another(ctx: NodeTestContext, name: str) -> None:
    system = "" if name == TINY_GEMMA else SYSTEM  # Gemma's template has no system role
    first = generate(ctx, name, seed=7, system_prompt=system)
    assert first and first == generate(ctx, name, seed=7, system_prompt=system)
    assert generate(ctx, name, seed=8, system_prompt=system) != first


def test_sampling_leaves_the_global_random_state_alone(ctx: NodeTestContext) -> None:
    before = torch.random.get_rng_state()
    generate(ctx, seed=3)
    assert torch.equal(before, torch.random.get_rng_state())
    # ...and does not depend on it: moving the global RNG changes nothing.
    torch.manual_seed(12345)
    text = generate(ctx, seed=3)
    torch.manual_seed(999)
    assert generate(ctx, seed=3) == text


def test_temperature_zero_is_greedy_whatever_the_seed(ctx: NodeTestContext) -> None:
    assert generate(ctx, temperature=0.0, seed=1) == generate(ctx, temperature=0.0, seed=2)


def test_top_p_and_top_k_keep_only_the_most_likely_tokens() -> None:
    logits = torch.tensor([5.0, 4.0, 0.0, -1.0])
    generator = torch.Generator().manual_seed(0)
    picks = {sample_next(logits, temperature=1.0, top_p=1.0, top_k=2, generator=generator) for _ in range(99)}
    assert picks == {0, 1}
    # The first token alone holds ~73% of the mass: top_p 0.5 keeps it only.
    picks = {sample_next(logits, temperature=1.0, top_p=0.5, top_k=0, generator=generator) for _ in range(50)}
    assert picks == {0}


def test_max_new_tokens_is_honoured_and_progress_counts_tokens(root: Path) -> None:
    ctx = NodeTestContext(root)
    (llm,) = load_llm(ctx, TINY_LLAMA)
    ids = torch.tensor([build_prompt(llm, PROMPT, SYSTEM, True)])
    # Without a stop token the loop runs to the limit exactly.
    tokens = generate_tokens(
        llm.model, ids, max_new_tokens=9, temperature=1.0, top_p=1.0, top_k=0, seed=0, stop_ids=()
    )
    assert len(tokens) == 9
    llm_generate(ctx, llm, PROMPT, max_new_tokens=9, seed=0)
    steps = [step for step, total in ctx.steps if total == 9]
    assert steps == sorted(steps) and steps[-1] == 9 and len(steps) >= 2
    # The node's text is those tokens decoded (the tiny model emits no end of turn at this seed).
    assert len(llm.tokenizer(generate(ctx, max_new_tokens=5), add_special_tokens=False).input_ids) <= 5 * 2


def test_the_chat_template_wraps_system_and_user_turns(ctx: NodeTestContext) -> None:
    (llm,) = load_llm(ctx, TINY_QWEN2)
    templated = llm.tokenizer.decode(build_prompt(llm, PROMPT, SYSTEM, True))
    assert templated == (
        f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{PROMPT}<|im_end|>\n<|im_start|>assistant\n"
    )
    no_system = llm.tokenizer.decode(build_prompt(llm, PROMPT, "", True))
    assert no_system.startswith("<|im_start|>user\n")
    raw = llm.tokenizer.decode(build_prompt(llm, PROMPT, SYSTEM, False))
    assert "<|im_start|>" not in raw and raw.endswith(PROMPT)
    assert generate(ctx, TINY_QWEN2, use_chat_template=False) != generate(ctx, TINY_QWEN2)


def test_llama_3_turns_start_with_one_bos_and_end_on_eot(ctx: NodeTestContext) -> None:
    (llm,) = load_llm(ctx, TINY_LLAMA)
    templated = llm.tokenizer.decode(build_prompt(llm, PROMPT, SYSTEM, True))
    # The template writes <|begin_of_text|>; the tokenizer must not add a second one.
    assert templated.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n")
    assert templated.count("<|begin_of_text|>") == 1
    assert templated.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    raw = llm.tokenizer.decode(build_prompt(llm, PROMPT, "", False))
    assert raw == f"<|begin_of_text|>{PROMPT}"
    # A reply ends at the end of text or of the turn (generation_config.json lists both).
    assert llm.stop_ids == {llm.tokenizer.convert_tokens_to_ids(t) for t in ("<|end_of_text|>", "<|eot_id|>")}


def test_mistral_puts_the_system_prompt_in_its_first_instruction(ctx: NodeTestContext) -> None:
    (llm,) = load_llm(ctx, TINY_MISTRAL)
    templated = llm.tokenizer.decode(build_prompt(llm, PROMPT, SYSTEM, True))
    assert templated == f"<s>[INST] {SYSTEM}\n\n{PROMPT} [/INST]"


def test_a_template_that_refuses_a_system_message_says_so(ctx: NodeTestContext) -> None:
    (llm,) = load_llm(ctx, TINY_GEMMA)
    refused = r"chat template of model 'gemma-2b-it' refused.*System role not supported"
    with pytest.raises(ValueError, match=refused):
        build_prompt(llm, PROMPT, SYSTEM, True)
    templated = llm.tokenizer.decode(build_prompt(llm, PROMPT, "", True))
    assert templated == f"<bos><start_of_turn>user\n{PROMPT}<end_of_turn>\n<start_of_turn>model\n"


def test_a_model_without_a_chat_template_says_to_turn_it_off(root: Path, tmp_path: Path) -> None:
    folder = tmp_path / "llm" / "no-template"
    shutil.copytree(root / "llm" / TINY_LLAMA, folder)
    config_file = folder / "tokenizer_config.json"
    config = json.loads(config_file.read_text())
    del config["chat_template"]
    config_file.write_text(json.dumps(config))
    ctx = NodeTestContext(tmp_path)
    (llm,) = load_llm(ctx, "no-template")
    with pytest.raises(ValueError, match=r"no chat template.*use_chat_template to false"):
        llm_generate(ctx, llm, PROMPT)
    assert llm_generate(ctx, llm, PROMPT, use_chat_template=False, max_new_tokens=3)[0] is not None


def test_a_prompt_and_reply_past_the_context_are_refused_before_generating(ctx: NodeTestContext) -> None:
    (llm,) = load_llm(ctx, TINY_LLAMA)  # a 512-token context
    with pytest.raises(
        ValueError, match=re.escape("over the 512-token context of model 'Llama-3.2-1B-Instruct'")
    ):
        llm_generate(ctx, llm, PROMPT, max_new_tokens=500)
    with pytest.raises(ValueError, match="shorten the prompt"):
        llm_generate(ctx, llm, "fox " * 600, max_new_tokens=1)


def test_cancel_stops_generation_between_tokens(root: Path) -> None:
    ctx = CancelAfter(root, checks=3)
    (llm,) = load_llm(ctx, TINY_LLAMA)
    with pytest.raises(ExecutionCancelled):
        llm_generate(ctx, llm, PROMPT, max_new_tokens=200)
    assert max(step for step, _ in ctx.steps) <= 3


def test_cancel_stops_a_caption_between_tokens(root: Path) -> None:
    ctx = CancelAfter(root, checks=2)
    (vlm,) = load_vlm(ctx, TINY_BLIP)
    with pytest.raises(ExecutionCancelled):
        image_caption(ctx, vlm, torch.rand(1, 24, 24, 3), max_new_tokens=100)
    assert max(step for step, _ in ctx.steps) <= 3


def test_models_load_once_through_the_model_cache(root: Path) -> None:
    ctx = NodeTestContext(root)
    (first,) = load_llm(ctx, TINY_LLAMA)
    (again,) = load_llm(ctx, TINY_LLAMA)
    (vlm,) = load_vlm(ctx, TINY_BLIP)
    assert first is again and ctx.models.loads == 2 and ctx.models.hits == 1
    weights = sum(t.numel() * t.element_size() for t in [*first.model.parameters(), *first.model.buffers()])
    assert model_bytes(first) == weights > 0 and model_bytes(vlm) > 0
    assert first.device == "cpu" and next(first.model.parameters()).dtype == torch.float32


def test_a_caption_per_image_continues_the_prompt_and_is_deterministic(ctx: NodeTestContext) -> None:
    (vlm,) = load_vlm(ctx, TINY_BLIP)
    images = torch.rand(2, 30, 40, 3, generator=torch.Generator().manual_seed(0))
    (text,) = image_caption(ctx, vlm, images, prompt="a photo of", max_new_tokens=6)
    lines = text.split("\n")
    assert len(lines) == 2 and all(line.startswith("a photo of") for line in lines)
    assert image_caption(ctx, vlm, images, prompt="a photo of", max_new_tokens=6) == (text,)
    (unprompted,) = image_caption(ctx, vlm, images[:1], max_new_tokens=6)
    assert unprompted and "\n" not in unprompted


def test_qwen2_vl_describes_each_image_from_a_chat_turn_with_one_pad_per_merged_patch(
    ctx: NodeTestContext,
) -> None:
    from PIL import Image

    from nodes.llm.vision import DEFAULT_INSTRUCTION, caption_inputs

    (vlm,) = load_vlm(ctx, TINY_QWEN2_VL)
    inputs, skip = caption_inputs(vlm, Image.new("RGB", (60, 40)), "")
    pads = int((inputs["input_ids"][0] == vlm.model.config.image_token_id).sum())
    assert pads == int(inputs["image_grid_thw"][0].prod()) // 4 and skip == inputs["input_ids"].shape[1]
    prompt = vlm.tokenizer.decode(inputs["input_ids"][0])
    assert prompt.startswith("<|im_start|>user\n<|vision_start|><|image_pad|>")
    assert prompt.endswith(f"<|vision_end|>{DEFAULT_INSTRUCTION}<|im_end|>\n<|im_start|>assistant\n")

    images = torch.rand(2, 40, 60, 3, generator=torch.Generator().manual_seed(1))
    (text,) = image_caption(ctx, vlm, images, max_new_tokens=6)
    assert len(text.split("\n")) == 2 and image_caption(ctx, vlm, images, max_new_tokens=6) == (text,)
    assert DEFAULT_INSTRUCTION not in text  # the instruction is the prompt's, not the caption's


def test_the_store_lists_transformers_folders_with_their_family(root: Path) -> None:
    store = ModelStore(root, ttl_seconds=0)
    llms = {e.name: e for e in store.entries("llm")}
    assert {n: (e.family, e.format, e.refusal) for n, e in llms.items()} == {
        TINY_LLAMA: ("llama", "transformers", None),
        TINY_QWEN2: ("qwen2", "transformers", None),
        TINY_MISTRAL: ("mistral", "transformers", None),
        TINY_GEMMA: ("gemma", "transformers", None),
    }
    assert [(e.name, e.family) for e in store.entries("vlm")] == [
        (TINY_QWEN2_VL, "qwen2_vl"),
        (TINY_BLIP, "blip"),
    ]


def _broken(root: Path, tmp_path: Path, change: str) -> Path:
    folder = tmp_path / "llm" / change
    shutil.copytree(root / "llm" / TINY_LLAMA, folder)
    config = json.loads((folder / "config.json").read_text())
    if change == "remote-code":
        config["auto_map"] = {"AutoModelForCausalLM": "modeling_x.XForCausalLM"}
    elif change == "python-file":
        (folder / "modeling_x.py").write_text("import os\n")
    elif change == "pickled":
        (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    elif change == "bert":
        config["model_type"] = "bert"
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("remote-code", "trust_remote_code, which this platform never enables"),
        ("python-file", "holds Python files (modeling_x.py)"),
        ("pickled", "no .safetensors weights"),
        ("bert", "model_type 'bert' is not a supported llm/ family"),
    ],
)
def test_folders_that_bring_code_or_pickles_are_listed_as_not_loadable_and_refused(
    root: Path, tmp_path: Path, change: str, reason: str
) -> None:
    _broken(root, tmp_path, change)
    (entry,) = ModelStore(tmp_path, ttl_seconds=0).entries("llm")
    assert entry.to_public()["loadable"] is False and reason.split(".")[0] in str(entry.refusal)
    with pytest.raises(UnsupportedModel, match=re.escape(reason)):
        load_llm(NodeTestContext(tmp_path), change)


def test_a_generated_text_is_cut_to_its_token_bound() -> None:
    assert bounded_text("a red fox", 3) == "a red fox"
    symbols = "=" * 100  # 100 estimated prompt tokens from what may be a handful of LLM tokens
    cut = bounded_text(symbols, 2)
    assert estimate_tokens(cut) == 2 * PROMPT_TOKENS_PER_TOKEN and symbols.startswith(cut)
    assert len(bounded_text("abcd" * 100, 1)) <= MAX_CHARS_PER_TOKEN
