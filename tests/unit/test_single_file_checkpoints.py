"""Single-file SD1 checkpoints (original ldm layout), VAELoader and CLIPSetLastLayer on tiny random models.

The single file and the diffusers folder are written from the same random weights, so the same
seed must give the same image through both loaders: that proves the key conversion end to end.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from nodes.diffusion import ops as diffusion
from nodes.latent import ops as latent_ops
from nodes.model_store import ModelStore
from tests.support.node_context import NodeTestContext
from tiny_models.sd15 import (
    write_tiny_sd15_diffusers,
    write_tiny_sd15_single_file,
    write_tiny_vae,
)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    write_tiny_sd15_diffusers(root / "checkpoints" / "tiny-folder", seed=0)
    write_tiny_sd15_single_file(root / "checkpoints" / "tiny-single.safetensors", seed=0)
    write_tiny_vae(root / "vae" / "tiny-vae.safetensors", seed=0, single_file=True)
    write_tiny_vae(root / "vae" / "tiny-vae-folder", seed=0, single_file=False)
    write_tiny_vae(root / "vae" / "other-vae.safetensors", seed=5, single_file=True)
    return root


@pytest.fixture(scope="module")
def ctx(root: Path) -> NodeTestContext:
    return NodeTestContext(root)


def text_to_image(
    ctx: NodeTestContext, ckpt_name: str, *, clip_layer: int = -1, vae_name: str | None = None
) -> Any:
    model, clip, vae = diffusion.checkpoint_loader_simple(ctx, ckpt_name)
    if clip_layer != -1:
        (clip,) = diffusion.clip_set_last_layer(ctx, clip, clip_layer)
    if vae_name is not None:
        (vae,) = diffusion.vae_loader(ctx, vae_name)
    (positive,) = diffusion.clip_text_encode(ctx, "a photo of a cat", clip)
    (negative,) = diffusion.clip_text_encode(ctx, "text", clip)
    latent = {"samples": torch.zeros(1, 4, 4, 6)}
    (out,) = diffusion.ksampler(
        ctx,
        model,
        seed=42,
        steps=2,
        cfg=7.0,
        sampler_name="euler",
        scheduler="normal",
        positive=positive,
        negative=negative,
        latent_image=latent,
    )
    (images,) = latent_ops.vae_decode(ctx, out, vae)
    return images


def test_the_store_lists_single_files_and_vae_folders_but_not_sidecar_configs(root: Path) -> None:
    store = ModelStore(root)
    assert store.names("checkpoints") == ["tiny-folder", "tiny-single.safetensors"]
    assert {e.name: e.format for e in store.entries("vae")} == {
        "other-vae.safetensors": "single_file",
        "tiny-vae-folder": "diffusers",
        "tiny-vae.safetensors": "single_file",
    }


def test_a_single_file_checkpoint_gives_the_same_image_as_the_same_weights_as_a_folder(
    ctx: NodeTestContext,
) -> None:
    single = text_to_image(ctx, "tiny-single.safetensors")
    folder = text_to_image(ctx, "tiny-folder")
    assert single.shape == (1, 32, 48, 3)
    assert torch.isfinite(single).all()
    assert torch.equal(single, folder)


def test_each_path_is_its_own_cache_entry_and_loads_once(root: Path) -> None:
    ctx = NodeTestContext(root)
    text_to_image(ctx, "tiny-single.safetensors")
    text_to_image(ctx, "tiny-single.safetensors")
    text_to_image(ctx, "tiny-folder")
    keys = list(ctx.models._entries)
    assert ctx.models.loads == 2
    assert ("checkpoint", str(root / "checkpoints" / "tiny-single.safetensors"), "cpu") in keys


def test_clip_set_last_layer_changes_the_conditioning_without_loading_again(root: Path) -> None:
    ctx = NodeTestContext(root)
    _, clip, _ = diffusion.checkpoint_loader_simple(ctx, "tiny-single.safetensors")
    (penultimate,) = diffusion.clip_set_last_layer(ctx, clip, -2)
    (last,) = diffusion.clip_set_last_layer(ctx, clip, -1)
    assert ctx.models.loads == 1
    assert clip.last_layer == -1  # the cached handle is unchanged
    assert penultimate.text_encoder is clip.text_encoder  # same weights, no copy
    (a,) = diffusion.clip_text_encode(ctx, "a photo of a cat", last)
    (b,) = diffusion.clip_text_encode(ctx, "a photo of a cat", penultimate)
    (plain,) = diffusion.clip_text_encode(ctx, "a photo of a cat", clip)
    assert torch.equal(a[0][0], plain[0][0])
    assert not torch.allclose(a[0][0], b[0][0])
    # -2 is the penultimate layer's output through the final layer norm (SD1, as in ComfyUI).
    ids = torch.tensor(
        [[clip.tokenizer.bos_token_id, clip.tokenizer.eos_token_id] + [clip.tokenizer.eos_token_id] * 75]
    )
    (empty,) = diffusion.clip_text_encode(ctx, "", penultimate)
    hidden = clip.text_encoder(ids, output_hidden_states=True).hidden_states[-2]
    expected = clip.text_encoder.final_layer_norm(hidden)
    torch.testing.assert_close(empty[0][0], expected)


def test_clip_set_last_layer_refuses_a_layer_the_model_does_not_have(ctx: NodeTestContext) -> None:
    _, clip, _ = diffusion.checkpoint_loader_simple(ctx, "tiny-single.safetensors")
    with pytest.raises(ValueError, match="stop_at_clip_layer -3 is outside this CLIP model's 2 layers"):
        diffusion.clip_set_last_layer(ctx, clip, -3)


@pytest.mark.parametrize("vae_name", ["tiny-vae.safetensors", "tiny-vae-folder"])
def test_vae_loader_replaces_the_checkpoint_vae(ctx: NodeTestContext, vae_name: str) -> None:
    own = text_to_image(ctx, "tiny-single.safetensors")
    # The same weights through VAELoader decode to the same image; other weights do not.
    assert torch.equal(text_to_image(ctx, "tiny-single.safetensors", vae_name=vae_name), own)
    other = text_to_image(ctx, "tiny-single.safetensors", vae_name="other-vae.safetensors")
    assert other.shape == own.shape
    assert not torch.equal(other, own)


def test_a_file_without_a_sidecar_gets_clips_vocabulary_and_the_shipped_configs(tmp_path: Path) -> None:
    from nodes.diffusion.single_file import load_single_file_checkpoint

    # No sidecar: CLIP's tokenizer is built from the bundled BPE list and the shipped (full-size)
    # SD1.5 configs apply, which these tiny weights do not fit: the run gets that far, and says so.
    source = write_tiny_sd15_single_file(tmp_path / "src" / "model.safetensors")
    bare = tmp_path / "bare.safetensors"
    shutil.copy(source, bare)
    with pytest.raises(ValueError, match=r"does not match its configs in sd15/"):
        load_single_file_checkpoint(bare, "cpu")


def test_a_file_that_does_not_match_its_configs_fails_with_a_clear_message(tmp_path: Path) -> None:
    from nodes.diffusion.single_file import load_single_file_checkpoint

    path = write_tiny_sd15_single_file(tmp_path / "model.safetensors")
    # The tiny weights paired with the full-size SD1.5 UNet config.
    shutil.copy(
        Path(diffusion.__file__).parent / "configs" / "sd15" / "unet" / "config.json",
        tmp_path / "model.config" / "unet" / "config.json",
    )
    with pytest.raises(ValueError, match=r"does not match its configs in model\.config/"):
        load_single_file_checkpoint(path, "cpu")


def test_a_ckpt_that_is_no_torch_file_is_refused_clearly(tmp_path: Path) -> None:
    from nodes.diffusion.single_file import load_single_file_checkpoint

    pickle = tmp_path / "model.ckpt"
    pickle.write_bytes(b"not loaded")
    with pytest.raises(ValueError, match=r"'model\.ckpt' is not a readable torch weights file"):
        load_single_file_checkpoint(pickle, "cpu")
