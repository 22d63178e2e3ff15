"""LoRA loaders and weight patching on the tiny SD1.5 model: delta math, exact restore, stacking, caching."""

from __future__ import annotations

import logging
import os
import select
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import pytest
import torch
from safetensors.torch import load_file, save_file

from nodes.diffusion import ops as diffusion
from nodes.diffusion.patching import patched
from nodes.lora import ops as lora_ops
from tests.support.node_context import NodeTestContext
from tiny_models.lora import lora_layers, write_tiny_lora
from tiny_models.sd15 import write_tiny_sd15_diffusers

TO_Q = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"
CONV = "up_blocks.1.resnets.0.conv1"  # 3x3: a conv LoRA with a 4-D lora_down


Context = NodeTestContext


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    checkpoint = write_tiny_sd15_diffusers(root / "checkpoints" / "tiny", seed=0)
    for layout in ("kohya_diffusers", "kohya_ldm", "peft"):
        write_tiny_lora(
            root / "loras" / f"{layout}.safetensors", checkpoint_dir=checkpoint, seed=1, layout=layout
        )
    write_tiny_lora(root / "loras" / "other.safetensors", checkpoint_dir=checkpoint, seed=2)
    write_tiny_lora(
        root / "loras" / "unet-only.safetensors", checkpoint_dir=checkpoint, seed=3, text_encoder=False
    )
    lora = load_file(str(root / "loras" / "kohya_diffusers.safetensors"))
    te_only = {k: v for k, v in lora.items() if k.startswith("lora_te_")}
    save_file(te_only, str(root / "loras" / "te-only.safetensors"))
    foreign = {
        "lora_unet_no_such_layer.lora_down.weight": torch.ones(2, 8),
        "lora_unet_no_such_layer.lora_up.weight": torch.ones(8, 2),
    }
    save_file(foreign, str(root / "loras" / "foreign.safetensors"))
    save_file({**foreign, **lora}, str(root / "loras" / "partly-foreign.safetensors"))
    save_file({"lora_unet_conv_in.hada_w1_a": torch.ones(2, 2)}, str(root / "loras" / "loha.safetensors"))
    wrong = {
        k: (v[:, :3].contiguous() if k.endswith(".lora_down.weight") and "to_q" in k else v)
        for k, v in lora.items()
    }
    save_file(wrong, str(root / "loras" / "wrong-shape.safetensors"))
    return root


@pytest.fixture()
def ctx(root: Path) -> Context:
    return Context(root)


def load(ctx: Context):
    return diffusion.checkpoint_loader_simple(ctx, "tiny")


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def weight(module: torch.nn.Module, path: str) -> torch.Tensor:
    layer = module.get_submodule(path)
    assert isinstance(layer.weight, torch.Tensor)
    return layer.weight.detach().clone()


def test_delta_is_up_times_down_times_alpha_over_rank_times_strength(ctx, root) -> None:
    model, clip, _ = load(ctx)
    patched_model, _ = lora_ops.lora_loader(ctx, model, clip, "kohya_diffusers.safetensors", 0.7, 1.0)
    file = load_file(str(root / "loras" / "kohya_diffusers.safetensors"))
    for path in (TO_Q, CONV):
        base = "lora_unet_" + path.replace(".", "_")
        down, up = file[f"{base}.lora_down.weight"], file[f"{base}.lora_up.weight"]
        alpha, rank = float(file[f"{base}.alpha"]), down.shape[0]
        assert alpha / rank == 0.5  # the writer's alpha is not the rank: the scale matters
        if down.ndim == 2:
            delta = up @ down
        else:  # (out, rank, 1, 1) x (rank, in, 3, 3): each output channel sums rank kernels
            delta = torch.einsum("or,rikl->oikl", up[:, :, 0, 0], down)
        expected = weight(model.unet, path) + delta * alpha / rank * 0.7
        with patched(patched_model.unet, patched_model.patches, role="unet") as unet:
            assert torch.allclose(weight(unet, path), expected, atol=1e-6)


def test_weights_are_restored_bit_for_bit_also_after_an_error(ctx) -> None:
    model, clip, _ = load(ctx)
    unet_before, clip_before = snapshot(model.unet), snapshot(clip.text_encoder)
    new_model, new_clip = lora_ops.lora_loader(ctx, model, clip, "kohya_ldm.safetensors", 1.3, -0.8)
    assert snapshot(model.unet).keys() == unet_before.keys()  # loading a LoRA patches nothing yet
    with patched(new_model.unet, new_model.patches, role="unet"):
        assert not torch.equal(weight(model.unet, TO_Q), unet_before[f"{TO_Q}.weight"])
    with pytest.raises(RuntimeError, match="inside"):
        with patched(new_clip.text_encoder, new_clip.patches, role="text_encoder"):
            raise RuntimeError("failure inside the block")
    for before, module in ((unet_before, model.unet), (clip_before, clip.text_encoder)):
        after = snapshot(module)
        assert all(torch.equal(after[k], before[k]) for k in before)


def test_every_layout_makes_the_same_change_to_every_layer(ctx, root) -> None:
    model, clip, _ = load(ctx)
    results = []
    for layout in ("kohya_diffusers", "kohya_ldm", "peft"):
        new_model, new_clip = lora_ops.lora_loader(ctx, model, clip, f"{layout}.safetensors", 1.0, 1.0)
        with patched(new_model.unet, new_model.patches, role="unet") as unet:
            unet_state = snapshot(unet)
        with patched(new_clip.text_encoder, new_clip.patches, role="text_encoder") as encoder:
            clip_state = snapshot(encoder)
        results.append({**unet_state, **{f"te.{k}": v for k, v in clip_state.items()}})
    base = snapshot(model.unet)
    changed = {k for k, v in results[0].items() if not torch.equal(v, base.get(k, v))}
    layers = lora_layers(root / "checkpoints" / "tiny")
    assert len(changed) == len([layer for layer in layers if layer[0] == "unet"]) > 30
    for other in results[1:]:
        assert all(torch.allclose(other[k], results[0][k], atol=1e-6) for k in results[0])


def test_strength_zero_returns_the_same_handles_without_reading_the_file(ctx) -> None:
    model, clip, _ = load(ctx)
    loads = ctx.models.loads
    assert lora_ops.lora_loader(ctx, model, clip, "foreign.safetensors", 0.0, 0.0) == (model, clip)
    assert lora_ops.lora_loader_model_only(ctx, model, "foreign.safetensors", 0.0) == (model,)
    assert ctx.models.loads == loads
    only_clip = lora_ops.lora_loader(ctx, model, clip, "kohya_diffusers.safetensors", 0.0, 1.0)
    assert only_clip[0] is model and only_clip[1] is not clip and len(only_clip[1].patches) == 1


def test_two_loras_stack(ctx) -> None:
    model, clip, _ = load(ctx)
    base = weight(model.unet, TO_Q)
    deltas = []
    for name in ("kohya_diffusers.safetensors", "other.safetensors"):
        (alone,) = lora_ops.lora_loader_model_only(ctx, model, name, 0.6)
        with patched(alone.unet, alone.patches, role="unet") as unet:
            deltas.append(weight(unet, TO_Q) - base)
    first, _ = lora_ops.lora_loader(ctx, model, clip, "kohya_diffusers.safetensors", 0.6, 1.0)
    (both,) = lora_ops.lora_loader_model_only(ctx, first, "other.safetensors", 0.6)
    assert len(both.patches) == 2 and model.patches == ()
    with patched(both.unet, both.patches, role="unet") as unet:
        assert torch.allclose(weight(unet, TO_Q), base + deltas[0] + deltas[1], atol=1e-6)
    assert torch.equal(weight(model.unet, TO_Q), base)


def test_only_the_lora_loads_again_and_its_keys_resolve_once(ctx) -> None:
    model, clip, _ = load(ctx)
    for strength in (0.25, 0.5, 1.0):
        load(ctx)
        new_model, _ = lora_ops.lora_loader(ctx, model, clip, "kohya_ldm.safetensors", strength, strength)
    assert ctx.models.loads == 2  # the checkpoint and the LoRA file, once each
    lora = new_model.patches[0].lora
    assert lora.resolve(model.unet, "unet") is lora.resolve(model.unet, "unet")


def test_lora_changes_the_sampled_latent_and_strength_zero_does_not(ctx) -> None:
    model, clip, _ = load(ctx)

    def sample(model, clip) -> torch.Tensor:
        (positive,) = diffusion.clip_text_encode(ctx, "a photo of a cat", clip)
        (negative,) = diffusion.clip_text_encode(ctx, "", clip)
        latent = {"samples": torch.zeros(1, 4, 8, 8)}
        args: dict[str, Any] = dict(seed=3, steps=2, cfg=7.0, sampler_name="euler", scheduler="normal")
        return diffusion.ksampler(
            ctx, model, positive=positive, negative=negative, latent_image=latent, **args
        )[0]["samples"]

    plain = sample(model, clip)
    assert torch.equal(sample(*lora_ops.lora_loader(ctx, model, clip, "peft.safetensors", 0.0, 0.0)), plain)
    with_lora = sample(*lora_ops.lora_loader(ctx, model, clip, "peft.safetensors", 1.0, 1.0))
    clip_only = sample(*lora_ops.lora_loader(ctx, model, clip, "peft.safetensors", 0.0, 1.0))
    assert (with_lora - plain).abs().mean() > 1e-3 and (clip_only - plain).abs().mean() > 1e-4
    assert torch.equal(sample(model, clip), plain)  # the cached model came back unchanged


def test_lora_loader_model_only_and_text_encoder_only_files(ctx) -> None:
    model, clip, _ = load(ctx)
    (new_model,) = lora_ops.lora_loader_model_only(ctx, model, "unet-only.safetensors", 1.0)
    assert len(new_model.patches) == 1
    new_model, new_clip = lora_ops.lora_loader(ctx, model, clip, "unet-only.safetensors", 1.0, 1.0)
    assert new_clip is clip  # nothing for the text encoder: the CLIP handle stays as it was
    with pytest.raises(ValueError, match=r"'te-only\.safetensors' matches no weights of this model"):
        lora_ops.lora_loader_model_only(ctx, model, "te-only.safetensors", 1.0)


def test_a_lora_for_another_model_fails_clearly_and_stray_keys_are_skipped(ctx, caplog) -> None:
    model, clip, _ = load(ctx)
    with pytest.raises(ValueError, match=r"'foreign\.safetensors' matches no weights of this model"):
        lora_ops.lora_loader(ctx, model, clip, "foreign.safetensors", 1.0, 1.0)
    with caplog.at_level(logging.WARNING, logger="nodes.lora.weights"):
        new_model, _ = lora_ops.lora_loader(ctx, model, clip, "partly-foreign.safetensors", 1.0, 1.0)
    assert "lora_unet_no_such_layer.lora_down.weight" in caplog.text and len(new_model.patches) == 1
    with pytest.raises(ValueError, match="LoHa"):
        lora_ops.lora_loader(ctx, model, clip, "loha.safetensors", 1.0, 1.0)
    with pytest.raises(ValueError, match=r"has shape .*another model"):
        lora_ops.lora_loader(ctx, model, clip, "wrong-shape.safetensors", 1.0, 1.0)


class AddOne:
    def apply(self, module, role, keep) -> None:
        for layer in module:
            keep(layer.weight)
            layer.weight.add_(1.0)


@contextmanager
def _soft_time_limit() -> Iterator[Callable[[], None]]:
    """SIGUSR1 raises as Celery's soft time limit does (billiard's handler raises SoftTimeLimitExceeded).

    Gives a function that waits until a sent signal has reached the process: CPython's C-level
    handler, in whichever thread got it, writes it to the wakeup fd, and from then on the Python
    handler is due in the main thread at its next bytecode. (A thread that the scheduler keeps
    waiting would otherwise get its signal only after the test, when nothing handles it anymore.)
    """

    def on_usr1(signum, frame):
        raise TimeoutError("soft time limit")

    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    previous = signal.signal(signal.SIGUSR1, on_usr1)
    previous_fd = signal.set_wakeup_fd(write_end)

    def arrived() -> None:
        ready, _, _ = select.select([read_end], [], [], 60)
        assert ready and os.read(read_end, 1) == bytes([signal.SIGUSR1]), "the signal never arrived"

    try:
        yield arrived
    finally:
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGUSR1, previous)
        os.close(read_end)
        os.close(write_end)


@contextmanager
def _another_thread() -> Iterator[threading.Thread]:
    """A live thread that does not block signals, as torch's worker threads are."""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join()


@pytest.mark.parametrize("receiver", ["process", "another thread"])
def test_a_signal_during_the_restore_waits_until_every_weight_is_back(receiver: str) -> None:
    # "another thread": the kernel gives the signal to a thread other than the one restoring (torch
    # starts such threads), which is what masking signals in the restoring thread did not cover.
    layers = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 4), torch.nn.Linear(4, 4))
    before = snapshot(layers)
    first = cast(torch.Tensor, layers[0].weight)
    with _another_thread() as other, _soft_time_limit() as arrived:

        def copy_and_signal(source: torch.Tensor) -> torch.Tensor:
            # Celery's soft time limit arrives right now, in the middle of the restore.
            if receiver == "process":
                os.kill(os.getpid(), signal.SIGUSR1)
            else:
                assert other.ident is not None
                signal.pthread_kill(other.ident, signal.SIGUSR1)
            arrived()
            return torch.Tensor.copy_(first, source)

        first.copy_ = copy_and_signal  # type: ignore[method-assign,assignment]  # a restore that is interrupted
        with pytest.raises(TimeoutError), patched(layers, (AddOne(),), role="unet"):
            assert not torch.equal(weight(layers, "2"), before["2.weight"])
    # The handler ran (the run still fails with its timeout) only once every weight was back.
    assert all(torch.equal(v, before[k]) for k, v in layers.state_dict().items())
    assert signal.getsignal(signal.SIGUSR1) is not None  # the handlers are back too


def test_an_exception_that_lands_before_the_handlers_wait_does_not_stop_the_restore() -> None:
    # As a signal arriving in the instant before the restore defers its handler: the copy raises once.
    layers = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 4), torch.nn.Linear(4, 4))
    before = snapshot(layers)
    last = cast(torch.Tensor, layers[2].weight)  # restored first
    raised: list[bool] = []

    def copy_once_interrupted(source: torch.Tensor) -> torch.Tensor:
        if not raised:
            raised.append(True)
            raise TimeoutError("soft time limit")
        return torch.Tensor.copy_(last, source)

    last.copy_ = copy_once_interrupted  # type: ignore[method-assign,assignment]  # a restore that is interrupted
    with pytest.raises(TimeoutError), patched(layers, (AddOne(),), role="unet"):
        pass
    assert raised and all(torch.equal(v, before[k]) for k, v in layers.state_dict().items())


def test_patching_works_off_the_main_thread() -> None:
    # Signal handlers can be set only in the main thread, and run only there: nothing to defer elsewhere.
    layers = torch.nn.Sequential(torch.nn.Linear(4, 4))
    before = snapshot(layers)
    seen: list[bool] = []

    def use() -> None:
        with patched(layers, (AddOne(),), role="unet"):
            seen.append(not torch.equal(weight(layers, "0"), before["0.weight"]))

    thread = threading.Thread(target=use)
    thread.start()
    thread.join()
    assert seen == [True]
    assert all(torch.equal(v, before[k]) for k, v in layers.state_dict().items())
