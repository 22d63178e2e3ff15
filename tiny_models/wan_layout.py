"""diffusers' AutoencoderKLWan keys -> the Wan 2.1 VAE's original layout (``wan_2.1_vae.safetensors``).

Only the tiny-model writer needs this direction: loading goes the other way through diffusers' own
single-file loader. The original stacks each decoder stage flat (num_res_blocks + 1 residual blocks, then
the upsampler), so ``up_blocks.i.resnets.j`` is ``upsamples.{i * (num_res_blocks + 2) + j}``.
"""

from __future__ import annotations

import re
from typing import Any

_RESNET = {
    "norm1.gamma": "residual.0.gamma",
    "conv1.weight": "residual.2.weight",
    "conv1.bias": "residual.2.bias",
    "norm2.gamma": "residual.3.gamma",
    "conv2.weight": "residual.6.weight",
    "conv2.bias": "residual.6.bias",
    "conv_shortcut.weight": "shortcut.weight",
    "conv_shortcut.bias": "shortcut.bias",
}
_WHOLE = {
    "quant_conv": "conv1",
    "post_quant_conv": "conv2",
    "encoder.conv_in": "encoder.conv1",
    "decoder.conv_in": "decoder.conv1",
    "encoder.norm_out": "encoder.head.0",
    "decoder.norm_out": "decoder.head.0",
    "encoder.conv_out": "encoder.head.2",
    "decoder.conv_out": "decoder.head.2",
}


def _resnet(rest: str) -> str:
    return _RESNET.get(rest, rest)


def wan_vae_to_original(state: dict[str, Any], num_res_blocks: int) -> dict[str, Any]:
    stage = num_res_blocks + 2  # residual blocks, one more in the decoder, and the resampler
    out: dict[str, Any] = {}
    for key, value in state.items():
        module, _, param = key.rpartition(".")
        if module in _WHOLE:
            out[f"{_WHOLE[module]}.{param}"] = value
        elif m := re.match(r"^(encoder|decoder)\.mid_block\.(resnets|attentions)\.(\d)\.(.+)$", key):
            side, kind, index, rest = m.groups()
            slot = 1 if kind == "attentions" else 2 * int(index)
            out[f"{side}.middle.{slot}.{rest if kind == 'attentions' else _resnet(rest)}"] = value
        elif m := re.match(r"^encoder\.down_blocks\.(\d+)\.(.+)$", key):
            index, rest = m.groups()
            out[f"encoder.downsamples.{index}.{_resnet(rest)}"] = value
        elif m := re.match(r"^decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$", key):
            block, index, rest = m.groups()
            out[f"decoder.upsamples.{int(block) * stage + int(index)}.{_resnet(rest)}"] = value
        elif m := re.match(r"^decoder\.up_blocks\.(\d+)\.upsamplers\.0\.(.+)$", key):
            block, rest = m.groups()
            out[f"decoder.upsamples.{int(block) * stage + num_res_blocks + 1}.{rest}"] = value
        else:
            raise ValueError(f"no original name for the Wan VAE key {key!r}")
    return out
