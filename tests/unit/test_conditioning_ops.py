"""Conditioning transforms: exact values on small tensors, inputs never mutated."""

from __future__ import annotations

import torch

from nodes.conditioning.ops import conditioning_average, conditioning_zero_out
from tests.support.node_context import NodeTestContext

CTX = NodeTestContext()


def cond(value: float, tokens: int) -> list:
    return [[torch.full((1, tokens, 4), value), {"pooled_output": torch.full((1, 4), value)}]]


def test_zero_out_zeroes_embeddings_and_pooled_without_touching_the_input() -> None:
    source = cond(3.0, 77)
    (out,) = conditioning_zero_out(CTX, source)
    assert torch.equal(out[0][0], torch.zeros(1, 77, 4))
    assert torch.equal(out[0][1]["pooled_output"], torch.zeros(1, 4))
    assert torch.equal(source[0][0], torch.full((1, 77, 4), 3.0))


def test_average_blends_with_the_given_strength() -> None:
    (out,) = conditioning_average(CTX, cond(1.0, 77), cond(3.0, 77), 0.25)
    assert torch.allclose(out[0][0], torch.full((1, 77, 4), 2.5))
    assert torch.allclose(out[0][1]["pooled_output"], torch.full((1, 4), 2.5))


def test_average_cuts_or_zero_pads_the_source_to_the_target_length() -> None:
    (longer,) = conditioning_average(CTX, cond(1.0, 77), cond(3.0, 154), 0.5)
    assert longer[0][0].shape == (1, 77, 4)
    assert torch.allclose(longer[0][0], torch.full((1, 77, 4), 2.0))
    (padded,) = conditioning_average(CTX, cond(1.0, 154), cond(3.0, 77), 0.5)
    assert torch.allclose(padded[0][0][:, :77], torch.full((1, 77, 4), 2.0))
    assert torch.allclose(padded[0][0][:, 77:], torch.full((1, 77, 4), 0.5))
