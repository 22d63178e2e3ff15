"""Tiny ControlNets in the test model store, under the names ComfyUI users' files have, and a node
context over a real model store for the unit tests."""

from __future__ import annotations

from pathlib import Path

from nodes.model_store import ModelStore
from tests.support.graphs import TINY_CHECKPOINT
from tests.support.node_context import NodeTestContext

# The same random weights in both formats: a diffusers folder and lllyasviel's single-file layout.
FOLDER_CONTROLNET = "control_v11p_sd15_canny"
SINGLE_FILE_CONTROLNET = "control_v11p_sd15_canny_fp16.safetensors"
# Another seed: a second, different ControlNet to chain after the first.
OTHER_CONTROLNET = "control_v11f1p_sd15_depth_fp16.safetensors"


def write_controlnet_models(root: Path) -> None:
    """Write the tiny ControlNets under root/controlnet/ (needs the tiny SD1.5 folder checkpoint first)."""
    from tiny_models.controlnet import write_tiny_controlnet

    checkpoint = root / "checkpoints" / TINY_CHECKPOINT
    folder = root / "controlnet"
    write_tiny_controlnet(folder / FOLDER_CONTROLNET, checkpoint_dir=checkpoint, seed=0, single_file=False)
    write_tiny_controlnet(
        folder / SINGLE_FILE_CONTROLNET, checkpoint_dir=checkpoint, seed=0, single_file=True
    )
    write_tiny_controlnet(folder / OTHER_CONTROLNET, checkpoint_dir=checkpoint, seed=1, single_file=True)


class StoreContext(NodeTestContext):
    """A node context over a real model store holding the tiny checkpoint and ControlNets."""

    store: ModelStore  # always given here (optional in the base)

    def __init__(self, root: Path) -> None:
        from tiny_models.sd15 import write_tiny_sd15_diffusers

        write_tiny_sd15_diffusers(root / "checkpoints" / TINY_CHECKPOINT, seed=0)
        write_controlnet_models(root)
        super().__init__(root, cache_bytes=2**30)
