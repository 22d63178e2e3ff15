"""The control object's residuals, the apply nodes and sampling with a control, on tiny random models.

The tiny ControlNet is built from the tiny SD1.5 UNet and loaded through the real loader; its zero
convolutions are random, so a control visibly changes the UNet's output.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from nodes.controlnet import ops as controlnet
from nodes.controlnet.control import Control, fit_hint, hint_rows
from nodes.diffusion import ops as diffusion
from nodes.sampling.model_sampling import ModelSampling
from tests.support.controlnet_models import (
    FOLDER_CONTROLNET,
    OTHER_CONTROLNET,
    SINGLE_FILE_CONTROLNET,
    StoreContext,
)
from tests.support.graphs import TINY_CHECKPOINT


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> StoreContext:
    return StoreContext(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def sd(ctx: StoreContext) -> dict[str, Any]:
    model, clip, _ = diffusion.checkpoint_loader_simple(ctx, TINY_CHECKPOINT)
    (positive,) = diffusion.clip_text_encode(ctx, "a photo of a cat", clip)
    (negative,) = diffusion.clip_text_encode(ctx, "text, watermark", clip)
    return {"model": model, "positive": positive, "negative": negative}


def hint_image(height: int = 64, width: int = 64, batch: int = 1, seed: int = 3) -> torch.Tensor:
    """An IMAGE [B, H, W, C] of random pixels in 0..1."""
    return torch.rand(batch, height, width, 3, generator=torch.Generator().manual_seed(seed))


def call(
    control: Control, sd: dict[str, Any], x: torch.Tensor, t: float, groups: int = 1, prompt: str = "positive"
) -> dict[str, Any]:
    context = sd[prompt][0][0].expand(x.shape[0], -1, -1)
    with torch.inference_mode():
        return control.residuals(x=x, t=torch.tensor(t), context=context, dtype=torch.float32, groups=groups)


def latent_x(batch: int = 1, size: int = 8) -> torch.Tensor:
    return torch.randn(batch, 4, size, size, generator=torch.Generator().manual_seed(5))


def test_fit_hint_crops_the_centre_to_the_aspect_then_resizes_nearest() -> None:
    wide = torch.arange(16, dtype=torch.float32).reshape(1, 1, 2, 8)  # 2 x 8 to a square
    assert fit_hint(wide, (2, 2)).tolist() == [[[[3.0, 4.0], [11.0, 12.0]]]]
    tall = torch.arange(8, dtype=torch.float32).reshape(1, 1, 8, 1)  # 8 x 1 to 4 x 2: rows 3 and 4
    assert fit_hint(tall, (4, 2)).tolist() == [[[[3.0, 3.0], [3.0, 3.0], [4.0, 4.0], [4.0, 4.0]]]]
    same = torch.rand(2, 3, 16, 24)
    assert fit_hint(same, (16, 24)) is same
    assert fit_hint(same, (64, 96)).shape == (2, 3, 64, 96)


def test_hint_rows_cycle_the_hint_batch_within_each_group() -> None:
    assert hint_rows(1, 4, groups=2).tolist() == [0, 0, 0, 0]
    assert hint_rows(2, 6, groups=2).tolist() == [0, 1, 0, 0, 1, 0]  # negative rows, then positive
    assert hint_rows(4, 2, groups=2).tolist() == [0, 0]  # more hints than rows: the first ones
    assert hint_rows(2, 3).tolist() == [0, 1, 0]


def test_residuals_fit_the_unet_and_change_its_output(ctx: StoreContext, sd: dict[str, Any]) -> None:
    (cn,) = controlnet.controlnet_loader(ctx, FOLDER_CONTROLNET)
    # A hint of another size and aspect than the latent's 64 x 64 pixels is fitted to it.
    control = Control(cn.model, hint_image(48, 80).movedim(-1, 1), 1.0)
    x = latent_x(batch=2)
    residuals = call(control, sd, x, 500.0)
    assert set(residuals) == {"down_block_additional_residuals", "mid_block_additional_residual"}
    assert all(r.shape[0] == 2 for r in residuals["down_block_additional_residuals"])
    unet = sd["model"].unet
    context = sd["positive"][0][0].expand(2, -1, -1)
    with torch.inference_mode():
        plain = unet(x, 500.0, encoder_hidden_states=context).sample
        controlled = unet(x, 500.0, encoder_hidden_states=context, **residuals).sample
    assert plain.shape == controlled.shape
    assert (plain - controlled).abs().mean() > 1e-3


def test_strength_scales_the_residuals(ctx: StoreContext, sd: dict[str, Any]) -> None:
    (cn,) = controlnet.controlnet_loader(ctx, FOLDER_CONTROLNET)
    hint = hint_image().movedim(-1, 1)
    one = call(Control(cn.model, hint, 1.0), sd, latent_x(), 700.0)
    half = call(Control(cn.model, hint, 0.5), sd, latent_x(), 700.0)
    torch.testing.assert_close(
        half["mid_block_additional_residual"], one["mid_block_additional_residual"] * 0.5
    )
    for a, b in zip(
        half["down_block_additional_residuals"], one["down_block_additional_residuals"], strict=True
    ):
        torch.testing.assert_close(a, b * 0.5)


def test_the_percent_window_maps_onto_training_timesteps(ctx: StoreContext, sd: dict[str, Any]) -> None:
    (cn,) = controlnet.controlnet_loader(ctx, FOLDER_CONTROLNET)
    control = Control(cn.model, hint_image().movedim(-1, 1), 1.0, start_percent=0.2, end_percent=0.5)
    # 20% of the way is timestep 0.8 * 999 = 799.2, 50% is 499.5: the sigmas there bound the window.
    sd_sampling = ModelSampling.discrete({})
    sigmas = [sd_sampling.sigma(torch.tensor(t)) for t in (999.0, 799.2, 600.0, 499.5, 400.0)]
    assert [control.active(sigma, sd_sampling) for sigma in sigmas] == [
        False,
        True,
        True,
        True,
        False,
    ]
    assert call(control, sd, latent_x(), 900.0) == {}
    assert call(control, sd, latent_x(), 600.0)


def test_chained_controls_add_up_each_with_its_own_strength_and_window(
    ctx: StoreContext, sd: dict[str, Any]
) -> None:
    (first,) = controlnet.controlnet_loader(ctx, FOLDER_CONTROLNET)
    (second,) = controlnet.controlnet_loader(ctx, OTHER_CONTROLNET)
    earlier = Control(first.model, hint_image(seed=1).movedim(-1, 1), 0.7)
    later = Control(second.model, hint_image(seed=2).movedim(-1, 1), 1.3, end_percent=0.5)
    alone = Control(second.model, later.hint, 1.3, end_percent=0.5)
    chained = Control(
        later.model, later.hint, later.strength, later.start_percent, later.end_percent, earlier
    )
    x = latent_x()
    a, b, both = call(earlier, sd, x, 800.0), call(alone, sd, x, 800.0), call(chained, sd, x, 800.0)
    torch.testing.assert_close(
        both["mid_block_additional_residual"],
        a["mid_block_additional_residual"] + b["mid_block_additional_residual"],
    )
    # Past the later one's window only the earlier one is left.
    late = call(chained, sd, x, 100.0)
    torch.testing.assert_close(
        late["mid_block_additional_residual"], call(earlier, sd, x, 100.0)["mid_block_additional_residual"]
    )


def test_stacked_negative_and_positive_rows_each_get_their_hint(
    ctx: StoreContext, sd: dict[str, Any]
) -> None:
    (cn,) = controlnet.controlnet_loader(ctx, FOLDER_CONTROLNET)
    hints = torch.cat([hint_image(seed=1), hint_image(seed=2)]).movedim(-1, 1)
    control = Control(cn.model, hints, 1.0)
    x = latent_x(batch=3)
    stacked = call(control, sd, torch.cat([x, x]), 500.0, groups=2)
    single = call(control, sd, x, 500.0)
    mid = stacked["mid_block_additional_residual"]
    torch.testing.assert_close(mid[:3], single["mid_block_additional_residual"])
    torch.testing.assert_close(mid[3:], single["mid_block_additional_residual"])


def test_apply_advanced_returns_new_lists_sharing_one_control(ctx: StoreContext, sd: dict[str, Any]) -> None:
    (cn,) = controlnet.controlnet_loader(ctx, FOLDER_CONTROLNET)
    positive, negative = sd["positive"], sd["negative"]
    before = [dict(extras) for _, extras in positive]
    pos, neg = controlnet.controlnet_apply_advanced(ctx, positive, negative, cn, hint_image(), 0.8, 0.1, 0.9)
    assert [dict(extras) for _, extras in positive] == before  # inputs untouched (results are cached)
    assert pos is not positive and "control" not in positive[0][1]
    control = pos[0][1]["control"]
    assert neg[0][1]["control"] is control  # one object: guidance batches both sides
    assert (control.strength, control.start_percent, control.end_percent) == (0.8, 0.1, 0.9)
    assert control.hint.shape == (1, 3, 64, 64)
    assert pos[0][0] is positive[0][0]
    # Applying a second ControlNet chains it after the first.
    (other,) = controlnet.controlnet_loader(ctx, OTHER_CONTROLNET)
    pos2, neg2 = controlnet.controlnet_apply_advanced(ctx, pos, neg, other, hint_image(), 1.0, 0.0, 1.0)
    assert pos2[0][1]["control"].previous is control
    assert neg2[0][1]["control"] is pos2[0][1]["control"]
    # Strength 0 leaves the conditioning as it was.
    assert controlnet.controlnet_apply_advanced(ctx, positive, negative, cn, hint_image(), 0.0, 0.0, 1.0) == (
        positive,
        negative,
    )


def test_apply_old_controls_the_given_conditioning(ctx: StoreContext, sd: dict[str, Any]) -> None:
    (cn,) = controlnet.controlnet_loader(ctx, SINGLE_FILE_CONTROLNET)
    (out,) = controlnet.controlnet_apply(ctx, sd["positive"], cn, hint_image(), 1.5)
    extras = out[0][1]
    assert extras["control"].strength == 1.5 and extras["control_apply_to_uncond"] is True
    assert "control" not in sd["positive"][0][1]
    assert controlnet.controlnet_apply(ctx, sd["positive"], cn, hint_image(), 0.0) == (sd["positive"],)
    with pytest.raises(ValueError, match="3 channels, got 4"):
        controlnet.controlnet_apply(ctx, sd["positive"], cn, torch.rand(1, 8, 8, 4), 1.0)


def test_apply_old_steers_the_negative_too_unless_it_has_its_own(
    ctx: StoreContext, sd: dict[str, Any]
) -> None:
    from nodes.diffusion.guidance import with_uncond_controls

    (cn,) = controlnet.controlnet_loader(ctx, SINGLE_FILE_CONTROLNET)
    (positive,) = controlnet.controlnet_apply(ctx, sd["positive"], cn, hint_image(), 1.0)
    shared = with_uncond_controls(positive, sd["negative"])
    assert shared[0][1]["control"] is positive[0][1]["control"]
    assert "control" not in sd["negative"][0][1]  # a new list; the input is untouched
    (own,) = controlnet.controlnet_apply(ctx, sd["negative"], cn, hint_image(seed=9), 1.0)
    assert with_uncond_controls(positive, own) is own
    positive_adv, _ = controlnet.controlnet_apply_advanced(
        ctx, sd["positive"], sd["negative"], cn, hint_image(), 1.0, 0.0, 1.0
    )
    assert with_uncond_controls(positive_adv, sd["negative"]) is sd["negative"]


def sample(
    ctx: StoreContext, sd: dict[str, Any], positive: Any, negative: Any, seed: int = 4
) -> torch.Tensor:
    (out,) = diffusion.ksampler(
        ctx,
        sd["model"],
        seed=seed,
        steps=3,
        cfg=7.0,
        sampler_name="euler",
        scheduler="normal",
        positive=positive,
        negative=negative,
        latent_image={"samples": torch.zeros(1, 4, 8, 8)},
    )
    return out["samples"]


def test_sampling_with_a_control_changes_the_result_only_inside_its_window(
    ctx: StoreContext, sd: dict[str, Any]
) -> None:
    (cn,) = controlnet.controlnet_loader(ctx, SINGLE_FILE_CONTROLNET)
    positive, negative = sd["positive"], sd["negative"]
    plain = sample(ctx, sd, positive, negative)

    def controlled(start: float, end: float) -> torch.Tensor:
        pos, neg = controlnet.controlnet_apply_advanced(
            ctx, positive, negative, cn, hint_image(), 1.0, start, end
        )
        return sample(ctx, sd, pos, neg)

    full = controlled(0.0, 1.0)
    assert (full - plain).abs().mean() > 1e-3
    assert torch.equal(full, controlled(0.0, 1.0))  # deterministic for a seed
    # Euler "normal" with 3 steps runs timesteps 999, 499.5 and 0: none lies in 60%..70% (399.6..299.7).
    assert torch.equal(controlled(0.6, 0.7), plain)
    # The old node controls the positive side only; the result still changes.
    (pos,) = controlnet.controlnet_apply(ctx, positive, cn, hint_image(), 1.0)
    assert not torch.equal(sample(ctx, sd, pos, negative), plain)


def test_guidance_batches_both_sides_with_the_same_residuals_as_one_side_at_a_time(
    ctx: StoreContext, sd: dict[str, Any]
) -> None:
    from nodes.diffusion import guidance

    (cn,) = controlnet.controlnet_loader(ctx, FOLDER_CONTROLNET)
    hints = hint_image(batch=2)  # two hints for three latents: each side restarts at the first hint
    pos, neg = controlnet.controlnet_apply_advanced(
        ctx, sd["positive"], sd["negative"], cn, hints, 1.0, 0.0, 1.0
    )
    x, t = latent_x(batch=3), torch.tensor(500.0)
    entries = [
        guidance.prepare(c, x.shape, "cpu", name) for c, name in ((pos, "positive"), (neg, "negative"))
    ]
    with torch.inference_mode():
        batched = guidance.predict_noise(sd["model"], x, t, entries[0], entries[1], 7.0)
        unet = sd["model"].unet
        cond, uncond = (
            unet(
                x,
                t,
                encoder_hidden_states=c[0][0].expand(3, -1, -1),
                **call(c[0][1]["control"], sd, x, 500.0, prompt=name),
            ).sample
            for c, name in ((pos, "positive"), (neg, "negative"))
        )
    torch.testing.assert_close(batched, uncond + 7.0 * (cond - uncond), rtol=1e-4, atol=1e-4)


def test_a_controlnet_of_another_family_fails_with_a_clear_message(ctx: StoreContext) -> None:
    (cn,) = controlnet.controlnet_loader(ctx, FOLDER_CONTROLNET)
    (pos,) = controlnet.controlnet_apply(ctx, [[torch.zeros(1, 77, 64), {}]], cn, hint_image(), 1.0)
    control = pos[0][1]["control"]
    with pytest.raises(ValueError, match="width 32, but the prompt has 64"), torch.inference_mode():
        control.residuals(x=latent_x(), t=torch.tensor(10.0), context=pos[0][0], dtype=torch.float32)
