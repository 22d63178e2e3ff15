"""LLMLoader, LLMGenerate, VLMLoader and ImageCaption. IMAGE is float [B, H, W, C] in [0, 1].

Models come from the worker's model cache (one copy per folder and device); generation checks for a
cancel and reports progress (tokens generated of max_new_tokens) between tokens.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from nodes.context import NodeContext
from nodes.cost import estimate_tokens
from nodes.llm import loading
from nodes.llm.families import LLM_FOLDER, VLM_FOLDER
from nodes.llm.loading import LanguageModel, VisionLanguageModel
from nodes.llm.sampling import generate_tokens
from nodes.llm.specs import MAX_CHARS_PER_TOKEN, PROMPT_TOKENS_PER_TOKEN
from nodes.llm.vision import caption_inputs


def load_llm(ctx: NodeContext, llm_name: str) -> tuple[LanguageModel]:
    path = ctx.model_path(LLM_FOLDER, llm_name)
    model = ctx.models.get(
        ("llm", str(path), ctx.device), lambda: loading.load_language_model(path, llm_name, ctx.device)
    )
    return (model,)


def load_vlm(ctx: NodeContext, vlm_name: str) -> tuple[VisionLanguageModel]:
    path = ctx.model_path(VLM_FOLDER, vlm_name)
    model = ctx.models.get(
        ("vlm", str(path), ctx.device),
        lambda: loading.load_vision_language_model(path, vlm_name, ctx.device),
    )
    return (model,)


def build_prompt(llm: LanguageModel, prompt: str, system_prompt: str, use_chat_template: bool) -> list[int]:
    """The prompt's token ids: through the model's chat template (system + user turn, then the
    assistant's turn opened), or the plain text with the tokenizer's own special tokens."""
    tokenizer = llm.tokenizer
    if not use_chat_template:
        text = f"{system_prompt}\n\n{prompt}" if system_prompt else prompt
        return list(tokenizer(text, add_special_tokens=True).input_ids)
    if not tokenizer.chat_template:
        raise ValueError(
            f"Model {llm.name!r} has no chat template (tokenizer_config.json has no chat_template and "
            "there is no chat_template.jinja); set use_chat_template to false to send the prompt as it is."
        )
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages.append({"role": "user", "content": prompt})
    try:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except Exception as exc:  # jinja's TemplateError: the template refuses the messages (Gemma: no system)
        raise ValueError(f"The chat template of model {llm.name!r} refused the prompt: {exc}") from None
    # The template writes the special tokens itself (Llama 3's <|begin_of_text|>): add none twice.
    return list(tokenizer(text, add_special_tokens=False).input_ids)


def check_context(llm: LanguageModel, prompt_tokens: int, max_new_tokens: int) -> None:
    """Refuse, before any work, a prompt and reply longer than the model's context (its position
    embeddings would run out mid-generation with an error that names no input)."""
    context = getattr(llm.model.config, "max_position_embeddings", None)
    if isinstance(context, int) and prompt_tokens + max_new_tokens > context:
        raise ValueError(
            f"The prompt is {prompt_tokens} tokens and max_new_tokens is {max_new_tokens}, over the "
            f"{context}-token context of model {llm.name!r}; shorten the prompt or lower max_new_tokens."
        )


def llm_generate(
    ctx: NodeContext,
    llm: LanguageModel,
    prompt: str,
    system_prompt: str = "",
    max_new_tokens: int = 256,
    temperature: float = 0.7,
    top_p: float = 0.95,
    top_k: int = 64,
    seed: int = 0,
    use_chat_template: bool = True,
) -> tuple[str]:
    ids = build_prompt(llm, prompt, system_prompt, use_chat_template)
    check_context(llm, len(ids), max_new_tokens)
    input_ids = torch.tensor([ids], dtype=torch.long, device=llm.device)

    def before_step(step: int) -> None:
        ctx.check_cancelled()
        if step:
            ctx.progress(step, max_new_tokens)

    with ctx.stepwise():
        tokens = generate_tokens(
            llm.model,
            input_ids,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            top_k=top_k,
            seed=seed,
            stop_ids=llm.stop_ids,
            before_step=before_step,
        )
    ctx.progress(max_new_tokens, max_new_tokens)
    return (bounded_text(llm.tokenizer.decode(tokens, skip_special_tokens=True).strip(), max_new_tokens),)


def image_caption(
    ctx: NodeContext,
    vlm: VisionLanguageModel,
    image: torch.Tensor,
    prompt: str = "",
    max_new_tokens: int = 40,
) -> tuple[str]:
    """One caption per image of the batch, one per line. BLIP: a prompt starts each caption
    (conditional captioning: "a photograph of" goes on as the model sees the image). Qwen2-VL: the
    prompt is the instruction (DEFAULT_INSTRUCTION when empty)."""
    from PIL import Image

    captions = []
    total = image.shape[0] * max_new_tokens
    for index in range(image.shape[0]):
        pixels = (image[index, ..., :3].detach().cpu().float().clamp(0, 1) * 255).round().to(torch.uint8)
        picture = Image.fromarray(np.ascontiguousarray(pixels.numpy()), mode="RGB")
        inputs, skip = caption_inputs(vlm, picture, prompt)
        inputs = {k: v.to(vlm.device) for k, v in inputs.items()}
        inputs["pixel_values"] = inputs["pixel_values"].to(vlm.model.dtype)
        with ctx.stepwise(), torch.inference_mode():
            out = vlm.model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                do_sample=False,  # greedy: a caption is the same for the same image
                stopping_criteria=_step_check(ctx, index * max_new_tokens, total),
            )
        caption = vlm.tokenizer.decode(out[0, skip:], skip_special_tokens=True)
        captions.append(" ".join(caption.split()))  # one line per image, whatever the model wrote
    ctx.progress(total, total)
    return (bounded_text("\n".join(captions), total),)


def bounded_text(text: str, tokens: int) -> str:
    """The text cut to what `tokens` generated tokens may give (MAX_CHARS_PER_TOKEN characters and
    PROMPT_TOKENS_PER_TOKEN estimated prompt tokens each). Ordinary text is far inside it; a run of
    long symbol tokens ("=====") is what gets cut."""
    text = text[: tokens * MAX_CHARS_PER_TOKEN]
    budget = tokens * PROMPT_TOKENS_PER_TOKEN
    if estimate_tokens(text) <= budget:
        return text
    # A longer prefix never has fewer estimated tokens: the longest one within budget, by bisection.
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if estimate_tokens(text[:middle]) <= budget else (low, middle - 1)
    return text[:low]


def _step_check(ctx: NodeContext, done: int, total: int) -> Any:
    """A StoppingCriteriaList whose one criterion checks for a cancel and reports progress per token
    (transformers calls it after every generated token); it never stops generation itself."""
    from transformers import StoppingCriteria, StoppingCriteriaList

    class CancelCheck(StoppingCriteria):
        def __init__(self) -> None:
            self.start: int | None = None

        def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
            ctx.check_cancelled()
            if self.start is None:
                self.start = input_ids.shape[1] - 1
            ctx.progress(done + input_ids.shape[1] - self.start, total)
            return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([CancelCheck()])
