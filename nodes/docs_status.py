"""The status notes of docs/nodes.md's catalogue: what a node limits or refuses, in a few words.

A note that starts with "refused" is the whole status; any other is added to "runs". A node without a
note runs in full (implemented and tested). The split loaders' notes are read from
their tables (nodes/loaders/families.py), so a family that starts loading there updates the catalogue
when the docs are regenerated (`python -m nodes.docs`); the other notes are written by hand: keep them
to what the hand-written sections of docs/nodes.md say, and delete a note when its limit goes.
"""

from __future__ import annotations

from nodes.loaders.families import CLIP_LOADER_INPUTS, CLIP_RECIPES, DIFFUSION_MODEL_LOADERS
from nodes.loaders.specs import SPECS as LOADER_SPECS


def _loaded(names: object) -> str:
    return ", ".join(f"`{n}`" for n in sorted(names))  # type: ignore[call-overload]


def _clip_loader_notes() -> dict[str, str]:
    notes = {}
    for node, (_, fixed_type) in CLIP_LOADER_INPUTS.items():
        spec = next((s for s in LOADER_SPECS if s.class_type == node), None)
        type_input = spec.input("type") if spec else None
        if fixed_type is None and type_input is not None:
            loading = [t for t in type_input.choices if t in CLIP_RECIPES]
            notes[node] = f"types that load: {_loaded(loading)}; another type is refused with that list"
        elif fixed_type not in CLIP_RECIPES:
            notes[node] = f"refused for now: its `{fixed_type}` text encoders do not load yet"
    return notes


_HAND_WRITTEN: dict[str, str] = {
    "VAELoader": "files in `vae/` only (ComfyUI's `pixel_space` and TAESD are not offered)",
    "ModelSamplingDiscrete": "`img_to_img` is a validation error (no model family here predicts it)",
    "LoadBackgroundRemovalModel": "ONNX files; ComfyUI's torch `birefnet.safetensors` is refused "
    "(use an ONNX export)",
    "LoraLoader": "LoRA and LoCon keys; LoHa, LoKr, DoRA and full-difference files are refused",
    "LoraLoaderModelOnly": "as `LoraLoader`",
    "CLIPSetLastLayer": "a layer the model lacks fails the run (ComfyUI uses the last one)",
}

STATUS_NOTES: dict[str, str] = {
    "UNETLoader": f"families that load: {_loaded(DIFFUSION_MODEL_LOADERS)}; other files: listed, refused",
    **_clip_loader_notes(),
    **_HAND_WRITTEN,
}
