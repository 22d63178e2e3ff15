"""Several conditionings at once: areas, masks, strengths and timestep ranges, on a tiny random SD1.5."""

from __future__ import annotations

import pytest
import torch

from nodes.conditioning import ops as conditioning_ops
from nodes.conditioning import ops_regions as regions
from nodes.diffusion import guidance
from nodes.diffusion import ops as diffusion
from tests.unit.test_ksampler_advanced_and_noise_masks import ksampler
from tests.unit.test_latent_ops import CTX

LATENT = torch.Size((2, 4, 16, 16))  # 128x128 pixels


def x_in() -> torch.Tensor:
    return torch.randn(LATENT, generator=torch.Generator().manual_seed(5))


def predict(model, positive, negative, t: float = 500.0, cfg: float = 7.0) -> torch.Tensor:
    pos = guidance.prepare(positive, LATENT, "cpu", "positive")
    neg = guidance.prepare(negative, LATENT, "cpu", "negative")
    with torch.inference_mode():
        return guidance.predict_noise(model, x_in(), torch.tensor(t), pos, neg, cfg)


def test_area_weight_fades_in_over_inner_edges_only() -> None:
    (cond,) = regions.conditioning_set_area(
        CTX, [[torch.zeros(1, 77, 8), {}]], width=64, height=128, x=64, y=0, strength=2.0
    )
    (entry,) = guidance.prepare(cond, LATENT, "cpu", "positive")
    region = entry.region
    assert (region.top, region.left, region.height, region.width) == (0, 8, 16, 8)
    row = region.weight[0, 0, 5]
    # The left edge lies inside the latent: it ramps 1/8 .. 8/8 of the strength; the right is the border.
    assert torch.allclose(row, torch.tensor([(i + 1) / 8 * 2.0 for i in range(8)]))
    assert torch.allclose(region.weight[0, 0, :, -1], torch.full((16,), 2.0))


def test_percentage_area_resolves_against_the_latent() -> None:
    (cond,) = regions.conditioning_set_area_percentage(
        CTX, [[torch.zeros(1, 77, 8), {}]], width=0.5, height=0.25, x=0.5, y=0.5, strength=1.0
    )
    (entry,) = guidance.prepare(cond, LATENT, "cpu", "positive")
    assert (entry.region.top, entry.region.left, entry.region.height, entry.region.width) == (8, 8, 4, 8)


def test_full_area_is_the_plain_prediction(checkpoint, prompts) -> None:
    pos, neg = prompts
    (full,) = regions.conditioning_set_area(CTX, pos, width=128, height=128, x=0, y=0, strength=3.0)
    assert torch.equal(predict(checkpoint.model, full, neg), predict(checkpoint.model, pos, neg))


def test_combined_with_itself_is_the_same_prediction(checkpoint, prompts) -> None:
    pos, neg = prompts
    (twice,) = conditioning_ops.conditioning_combine(CTX, pos, pos)
    assert len(twice) == 2
    assert torch.allclose(
        predict(checkpoint.model, twice, neg), predict(checkpoint.model, pos, neg), atol=1e-5
    )


def test_cells_outside_an_area_follow_the_other_entry(checkpoint, prompts) -> None:
    pos, neg = prompts
    (other,) = diffusion.clip_text_encode(CTX, "a red sports car", checkpoint.clip)
    (left,) = regions.conditioning_set_area(CTX, other, width=64, height=128, x=0, y=0, strength=1.0)
    (combined,) = conditioning_ops.conditioning_combine(CTX, pos, left)
    mixed = predict(checkpoint.model, combined, neg)
    plain = predict(checkpoint.model, pos, neg)
    assert torch.allclose(mixed[..., 8:], plain[..., 8:], atol=1e-5)
    assert not torch.allclose(mixed[..., :8], plain[..., :8], atol=1e-3)


def test_uncovered_cells_predict_zero_noise(checkpoint, prompts) -> None:
    pos, _ = prompts
    (top,) = regions.conditioning_set_area(CTX, pos, width=128, height=64, x=0, y=0, strength=1.0)
    pred = predict(checkpoint.model, top, pos, cfg=1.0)
    assert torch.count_nonzero(pred[:, :, 8:]) == 0
    assert torch.count_nonzero(pred[:, :, :8]) > 0


def test_mask_weights_an_entry_and_mask_bounds_crop_to_it(checkpoint, prompts) -> None:
    pos, neg = prompts
    (other,) = diffusion.clip_text_encode(CTX, "a red sports car", checkpoint.clip)
    empty = torch.zeros(128, 128)
    (masked_out,) = regions.conditioning_set_mask(CTX, other, empty, strength=1.0, set_cond_area="default")
    (combined,) = conditioning_ops.conditioning_combine(CTX, pos, masked_out)
    assert torch.allclose(
        predict(checkpoint.model, combined, neg), predict(checkpoint.model, pos, neg), atol=1e-5
    )

    corner = torch.zeros(128, 128)
    corner[64:, 64:] = 1.0
    (bounded,) = regions.conditioning_set_mask(CTX, other, corner, strength=0.5, set_cond_area="mask bounds")
    (entry,) = guidance.prepare(bounded, LATENT, "cpu", "positive")
    assert (entry.region.top, entry.region.left, entry.region.height, entry.region.width) == (8, 8, 8, 8)
    assert float(entry.region.weight.max()) == pytest.approx(0.5)


def test_timestep_range_switches_an_entry_on_late(checkpoint, prompts) -> None:
    pos, neg = prompts
    (other,) = diffusion.clip_text_encode(CTX, "a red sports car", checkpoint.clip)
    (late,) = regions.conditioning_set_timestep_range(CTX, other, start=0.5, end=1.0)
    (combined,) = conditioning_ops.conditioning_combine(CTX, pos, late)
    # Early in sampling (high timestep) only `pos` is active; late, both are.
    assert torch.allclose(
        predict(checkpoint.model, combined, neg, t=900.0),
        predict(checkpoint.model, pos, neg, t=900.0),
        atol=1e-5,
    )
    assert not torch.allclose(
        predict(checkpoint.model, combined, neg, t=100.0),
        predict(checkpoint.model, pos, neg, t=100.0),
        atol=1e-3,
    )
    with pytest.raises(ValueError, match="start"):
        regions.conditioning_set_timestep_range(CTX, other, start=0.8, end=0.2)


def test_concat_appends_tokens_and_inputs_stay_unchanged(prompts) -> None:
    pos, neg = prompts
    before = dict(pos[0][1])
    (joined,) = conditioning_ops.conditioning_concat(CTX, pos, neg)
    assert joined[0][0].shape[1] == pos[0][0].shape[1] + neg[0][0].shape[1]
    (regions_out,) = regions.conditioning_set_area(CTX, pos, width=64, height=64, x=0, y=0, strength=1.0)
    assert pos[0][1] == before and "area" in regions_out[0][1]


def test_ksampler_with_areas_is_deterministic_per_seed(checkpoint, prompts) -> None:
    pos, neg = prompts
    (other,) = diffusion.clip_text_encode(CTX, "a red sports car", checkpoint.clip)
    (left,) = regions.conditioning_set_area(CTX, other, width=64, height=64, x=0, y=0, strength=1.5)
    (combined,) = conditioning_ops.conditioning_combine(CTX, pos, left)
    empty = {"samples": torch.zeros(2, 4, 8, 16)}
    first = ksampler(checkpoint, (combined, neg), empty, steps=3)
    again = ksampler(checkpoint, (combined, neg), empty, steps=3)
    plain = ksampler(checkpoint, (pos, neg), empty, steps=3)
    assert first.shape == (2, 4, 8, 16)
    assert torch.equal(first, again)
    assert not torch.equal(first, plain)


def test_prompts_of_other_lengths_share_one_call_only_when_repeating_them_is_cheap() -> None:
    """ComfyUI's rule: 77 and 154 tokens repeat to 154 (one call); 274 and 154 would repeat to 21,098
    tokens, so each side runs on its own (a 1024-pixel SD3 run took minutes, not seconds, before)."""

    def side(tokens: int) -> list[guidance.Entry]:
        return guidance.prepare([[torch.zeros(1, tokens, 8), {}]], LATENT, "cpu", "positive")

    assert guidance._batchable([side(77), side(154)])
    assert guidance._batchable([side(77), side(77)])
    assert not guidance._batchable([side(274), side(154)])
    assert guidance._match_lengths([torch.zeros(1, 77, 8), torch.zeros(1, 154, 8)])[0].shape[1] == 154
