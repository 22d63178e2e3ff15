"""``python -m tiny_models``: every (family, format) in its registry writes a model that the model store
lists with the right family and that the worker's own loader loads; single files carry the non-weight
keys of real ones; bad arguments are clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from nodes.model_family import read_safetensors_header
from nodes.model_store import ModelStore
from tiny_models.cli import main
from tiny_models.ldm_layout import SCHEDULE_KEYS
from tiny_models.registry import ENTRIES, WRITERS, TinyModel

pytestmark = pytest.mark.usefixtures("one_thread")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The tiny SD1.5 and SDXL checkpoints as the loader returns them, to fit LoRAs onto."""
    from nodes.diffusion.loading import load_checkpoint

    root = tmp_path_factory.mktemp("bases")
    return {
        family: load_checkpoint(WRITERS[(family, "diffusers")].write(root / family, 0, None), "cpu")
        for family in ("sd15", "sdxl")
    }


def _target(root: Path, entry: TinyModel) -> Path:
    name = f"my-{entry.family}-{entry.format}"
    return root / entry.folder / (name + entry.suffixes[0] if entry.single_file else name)


def _load(entry: TinyModel, path: Path, bases: dict[str, Any]) -> None:
    """Load `path` with the loader its model store folder uses, and check it fits what it is for."""
    if entry.store_family == "svd":  # ImageOnlyCheckpointLoader's files: a video model, no text encoder
        from nodes.svd.loading import load_svd_checkpoint

        checkpoint = load_svd_checkpoint(path, "cpu")
        assert (checkpoint.model.family, checkpoint.vae.temporal) == ("svd", True)
    elif entry.folder == "checkpoints":
        from nodes.diffusion.loading import load_checkpoint

        # The store names FLUX files by variant (flux_dev); the loaded model is of the "flux" family.
        expected = "flux" if entry.store_family.startswith("flux") else entry.store_family
        assert load_checkpoint(path, "cpu").model.family == expected
    elif entry.folder == "vae":
        from nodes.diffusion.single_file import load_vae

        vae = load_vae(path, "cpu")
        if entry.store_family == "wan_vae":  # the video VAE names its latent channels z_dim
            assert vae.vae.config.z_dim == 16
        else:
            assert vae.vae.config.latent_channels == (16 if entry.store_family == "flux_vae" else 4)
        if entry.family == "sd3-vae":  # SD3's latent scale and shift, not FLUX's
            assert (vae.scaling_factor, vae.shift_factor) == (1.5305, 0.0609)
    elif entry.folder == "diffusion_models":
        from nodes.loaders.families import DIFFUSION_MODEL_LOADERS, loader_for

        model = loader_for(DIFFUSION_MODEL_LOADERS, entry.store_family, "model")(path, "cpu")
        # The store names FLUX files by variant (flux_dev), Wan's by task (wan21_t2v): the family is one.
        assert model.family == entry.store_family.split("_")[0].removesuffix("21")  # sd3, flux, wan
    elif entry.folder == "text_encoders":
        from nodes.loaders.families import TEXT_ENCODER_LOADERS, loader_for

        encoder, tokenizer = loader_for(TEXT_ENCODER_LOADERS, entry.store_family, "encoder")(path, "cpu")
        assert tokenizer("a cat")["input_ids"] and encoder.config.vocab_size == len(tokenizer)
    elif entry.folder == "loras":
        from nodes.lora.weights import load_lora

        lora = load_lora(path, path.name, "cpu")
        base = bases[entry.base or ""]
        modules = {"unet": base.model.unet, "text_encoder": base.clip.text_encoder}
        if entry.base == "sdxl":
            modules["text_encoder_2"] = base.clip.text_encoder_2
        assert lora.roles() == set(modules)
        # Every layer of the file lands on a layer of the base model (names and shapes both right).
        assert sum(len(lora.resolve(module, role)) for role, module in modules.items()) == len(lora.layers)
    elif entry.folder == "controlnet":
        from nodes.controlnet.loading import load_controlnet

        model = load_controlnet(path, "cpu").model
        unet = bases[entry.base or ""].model.unet
        assert model.config.cross_attention_dim == unet.config.cross_attention_dim
    elif entry.folder == "background_removal":
        from nodes.background.loading import load_background_removal_model

        model = load_background_removal_model(path, path.name, "cpu")
        assert model.family.name == entry.store_family  # the graph's signature agrees with the name
    elif entry.folder == "llm":
        from nodes.llm.loading import load_language_model

        llm = load_language_model(path, path.name, "cpu")
        assert llm.family == entry.store_family and llm.tokenizer.chat_template
        assert llm.model.config.vocab_size == len(llm.tokenizer)
    elif entry.folder == "vlm":
        from nodes.llm.loading import load_vision_language_model

        vlm = load_vision_language_model(path, path.name, "cpu")
        assert vlm.family == entry.store_family
        assert vlm.model.config.text_config.vocab_size == len(vlm.tokenizer)
    elif entry.folder == "clip_vision":
        from nodes.clip_vision.loading import load_clip_vision

        assert load_clip_vision(path, "cpu").model.config.projection_dim > 0
    else:
        from nodes.upscale.loading import load_upscale_model

        model = load_upscale_model(path, "cpu")
        assert (model.architecture, model.scale) == ("ESRGAN", 4)


@pytest.mark.parametrize("entry", ENTRIES, ids=[f"{e.family}:{e.format}" for e in ENTRIES])
def test_each_family_and_format_is_listed_with_its_family_and_loads(
    entry: TinyModel, tmp_path: Path, bases: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    path = _target(tmp_path / "models", entry)
    assert main([entry.family, entry.format, str(path), "--seed", "3"]) == 0
    assert f"wrote a tiny random {entry.family} {entry.format}" in capsys.readouterr().out

    (listed,) = ModelStore(tmp_path / "models").entries(entry.folder)
    assert (listed.name, listed.family) == (path.name, entry.store_family)
    folder_format = "transformers" if entry.folder in ("llm", "vlm") else "diffusers"
    assert listed.format == ("single_file" if entry.single_file else folder_format)
    _load(entry, path, bases)


PICKLED = [(e, suffix) for e in ENTRIES for suffix in e.suffixes[1:] if e.folder in ("checkpoints", "loras")]


@pytest.mark.parametrize(("entry", "suffix"), PICKLED, ids=[f"{e.family}:{e.format}{s}" for e, s in PICKLED])
def test_the_pickled_formats_users_have_are_written_listed_and_loaded(
    entry: TinyModel, suffix: str, tmp_path: Path, bases: dict[str, Any]
) -> None:
    """``v1-5-pruned-emaonly.ckpt`` as torch.save of {"state_dict": ...}; LoRAs as .pt/.pth state dicts."""
    path = tmp_path / "models" / entry.folder / f"v1-5-pruned-emaonly{suffix}"
    assert main([entry.family, entry.format, str(path), "--seed", "3"]) == 0
    saved = torch.load(path, weights_only=True)
    assert (set(saved) == {"state_dict"}) == (suffix == ".ckpt")
    (listed,) = ModelStore(tmp_path / "models").entries(entry.folder)
    assert (listed.name, listed.family, listed.refusal) == (path.name, entry.store_family, None)
    _load(entry, path, bases)


def test_single_files_hold_the_non_weight_keys_of_real_checkpoints(tmp_path: Path) -> None:
    """An SD1.5 file: the 12 DDPM schedule buffers (1000 float32 each, the scheduler's own numbers), the
    EMA scalars, CLIP's int64 position ids. An SDXL file: CLIP-L's int64 position ids, bigG's logit scale."""
    from diffusers import PNDMScheduler
    from safetensors.torch import load_file

    from tiny_models.sd15 import SCHEDULER_CONFIG

    sd15 = WRITERS[("sd15", "single-file")].write(tmp_path / "sd15.safetensors", 0, None)
    header = read_safetensors_header(sd15)
    for key in SCHEDULE_KEYS:
        assert (header[key]["dtype"], header[key]["shape"]) == ("F32", [1000]), key
    assert (header["model_ema.decay"]["dtype"], header["model_ema.decay"]["shape"]) == ("F32", [])
    assert (header["model_ema.num_updates"]["dtype"], header["model_ema.num_updates"]["shape"]) == ("I32", [])
    position_ids = header["cond_stage_model.transformer.text_model.embeddings.position_ids"]
    assert (position_ids["dtype"], position_ids["shape"]) == ("I64", [1, 77])
    tensors = load_file(str(sd15))
    scheduler = PNDMScheduler(**SCHEDULER_CONFIG)
    torch.testing.assert_close(tensors["betas"], scheduler.betas)
    torch.testing.assert_close(tensors["alphas_cumprod"], scheduler.alphas_cumprod)
    noise_scale = (1 - scheduler.alphas_cumprod).sqrt()
    torch.testing.assert_close(tensors["sqrt_one_minus_alphas_cumprod"], noise_scale)
    assert torch.isfinite(torch.stack([tensors[key] for key in SCHEDULE_KEYS])).all()

    sdxl_file = WRITERS[("sdxl", "single-file")].write(tmp_path / "sdxl.safetensors", 0, None)
    sdxl = read_safetensors_header(sdxl_file)
    position_ids = sdxl["conditioner.embedders.0.transformer.text_model.embeddings.position_ids"]
    assert (position_ids["dtype"], position_ids["shape"]) == ("I64", [1, 77])
    assert sdxl["conditioner.embedders.1.model.logit_scale"]["shape"] == []


def test_a_lora_and_a_controlnet_are_built_for_the_base_they_are_given(
    tmp_path: Path, bases: dict[str, Any]
) -> None:
    """--base takes a single file too: its sidecar configs (for a LoRA) or its loaded UNet (ControlNet)."""
    base = tmp_path / "checkpoints" / "base.safetensors"
    assert main(["sd15", "single-file", str(base)]) == 0
    lora = tmp_path / "loras" / "for-base.safetensors"
    assert main(["sd15-lora", "peft", str(lora), "--base", str(base)]) == 0
    _load(WRITERS[("sd15-lora", "peft")], lora, bases)
    controlnet = tmp_path / "controlnet" / "for-base.safetensors"
    assert main(["sd15-controlnet", "single-file", str(controlnet), "--base", str(base), "--seed", "2"]) == 0
    _load(WRITERS[("sd15-controlnet", "single-file")], controlnet, bases)


def test_the_same_seed_writes_the_same_bytes_and_another_seed_other_weights(tmp_path: Path) -> None:
    paths = [tmp_path / f"{n}.safetensors" for n in range(3)]
    for path, seed in zip(paths, (5, 5, 6), strict=True):
        assert main(["sd15-lora", "kohya-ldm", str(path), "--seed", str(seed)]) == 0
    assert paths[0].read_bytes() == paths[1].read_bytes() != paths[2].read_bytes()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["flux", "diffusers", "x"], "unknown family 'flux'; choose one of: sd15, sdxl"),
        (["sd15", "gguf", "x"], "sd15 has no format 'gguf'; choose one of: diffusers, single-file"),
        (["sd15", "single-file"], "give the PATH"),
        ([], "give FAMILY FORMAT PATH"),
        (["sd15", "single-file", "x.pth"], "give PATH a .safetensors or .ckpt suffix, not 'x.pth'"),
        (["sdxl", "diffusers", "x.safetensors"], "writes a folder: give PATH without a weights suffix"),
        (["esrgan", "basicsr", "x.pth", "--base", "y"], "--base is only for LoRAs and ControlNets"),
        (["sd15-lora", "peft", "x.safetensors", "--base", "no/such/base"], "no such file or folder"),
        (["sd15", "diffusers", "x", "--seed", "-1"], "--seed must be between 0 and"),
    ],
)
def test_bad_arguments_are_clear_errors(
    argv: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_an_existing_path_and_a_base_that_is_no_checkpoint_of_the_family_are_refused(
    tmp_path: Path, capsys: Any
) -> None:
    sdxl = tmp_path / "sdxl.safetensors"
    assert main(["sdxl", "single-file", str(sdxl)]) == 0
    before = sdxl.read_bytes()
    with pytest.raises(SystemExit):
        main(["sdxl", "single-file", str(sdxl), "--seed", "1"])
    assert "already exists; choose another PATH or pass --force" in capsys.readouterr().err
    assert sdxl.read_bytes() == before
    with pytest.raises(SystemExit):
        main(["sd15-lora", "kohya-diffusers", str(tmp_path / "l.safetensors"), "--base", str(sdxl)])
    assert "is of family 'sdxl'; sd15-lora kohya-diffusers is built for an sd15 checkpoint" in (
        capsys.readouterr().err
    )
    lora = tmp_path / "l.safetensors"
    assert main(["sdxl-lora", "peft", str(lora)]) == 0
    with pytest.raises(SystemExit):
        main(["sdxl-controlnet", "diffusers", str(tmp_path / "cn"), "--base", str(lora)])
    assert "is not a checkpoint: give a diffusers folder" in capsys.readouterr().err
    assert main(["sdxl", "single-file", str(sdxl), "--seed", "1", "--force"]) == 0
    assert sdxl.read_bytes() != before


def test_the_module_lists_every_entry_without_importing_torch() -> None:
    script = (
        "import sys, runpy; sys.argv = ['tiny_models', '--list']\n"
        "try:\n    runpy.run_module('tiny_models', run_name='__main__')\n"
        "except SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
        "assert 'torch' not in sys.modules, 'listing imported torch'\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    for entry in ENTRIES:
        assert f"{entry.family} {entry.format}" in out and f"{entry.folder}/" in out
