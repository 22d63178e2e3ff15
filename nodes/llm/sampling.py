"""The token loop: one forward pass per token with the KV cache, sampled from a seeded generator.

Why not `model.generate(do_sample=True)`: it samples from torch's global RNG, so a seed would have to
be set globally (leaking into every other node of the worker) and could not be reproduced per run.
Here each run owns a `torch.Generator`, on the CPU, so the same seed picks the same tokens on a CPU
and a GPU worker as long as the logits agree. The loop also gives the node a place to check for a
cancel and report progress between tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import torch


def sample_next(
    logits: torch.Tensor, *, temperature: float, top_p: float, top_k: int, generator: torch.Generator
) -> int:
    """One token id from the last position's logits [vocab]: greedy at temperature 0, else sampled
    from the top-k tokens, then the smallest set whose probability reaches top_p."""
    if temperature <= 0:
        return int(torch.argmax(logits))
    scaled = logits.float() / temperature
    if 0 < top_k < scaled.numel():
        kth = torch.topk(scaled, top_k).values[-1]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    probs = torch.softmax(scaled, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        # Keep a token while the probability before it is still short of top_p (the first always).
        before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
        sorted_probs = sorted_probs.masked_fill(before >= top_p, 0.0)
        sorted_probs[0] = max(float(sorted_probs[0]), 1e-12)
        choice = torch.multinomial(sorted_probs, 1, generator=generator)
        return int(order[choice])
    return int(torch.multinomial(probs, 1, generator=generator))


def generate_tokens(
    model: Any,
    input_ids: torch.Tensor,
    *,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    top_k: int,
    seed: int,
    stop_ids: Collection[int],
    before_step: Callable[[int], None] = lambda step: None,
) -> list[int]:
    """The new token ids after `input_ids` [1, T] (the stop token excluded), at most max_new_tokens.
    `before_step(n)` runs before token n is computed (n tokens are done): the cancel check."""
    generator = torch.Generator(device="cpu")
    generator.manual_seed(seed)
    tokens: list[int] = []
    past: Any = None
    step_input = input_ids
    with torch.inference_mode():
        for step in range(max_new_tokens):
            before_step(step)
            out = model(input_ids=step_input, past_key_values=past, use_cache=True)
            past = out.past_key_values
            logits = out.logits[0, -1].float().cpu()
            token = sample_next(
                logits, temperature=temperature, top_p=top_p, top_k=top_k, generator=generator
            )
            if token in stop_ids:
                break
            tokens.append(token)
            step_input = torch.tensor([[token]], device=input_ids.device)
    return tokens
