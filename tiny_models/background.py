"""Tiny background-removal ONNX graphs with the signatures of the files rembg and BRIA distribute.

Each is a real (if small) encoder-decoder of standard ONNX operators with random weights: a strided
convolution down, one at half resolution, a bilinear resize back up and a 1-channel head, at the
family's real input name, size and output layout (U²-Net's seven sigmoid side outputs, IS-Net's
six, one map of logits for BiRefNet ...). onnxruntime runs them exactly as it runs the real files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class GraphShape:
    input_name: str
    size: int
    outputs: int  # side outputs: the first is the one the pipelines read
    sigmoid: bool  # the network ends in a sigmoid (U²-Net, IS-Net, RMBG-1.4) or gives logits
    channels: int = 4
    open_batch: bool = False  # RMBG-2.0's export leaves the batch axis open


SHAPES: dict[str, GraphShape] = {
    "u2net": GraphShape("input.1", 320, 7, sigmoid=True),
    "u2netp": GraphShape("input.1", 320, 7, sigmoid=True, channels=2),
    "isnet": GraphShape("input_image", 1024, 6, sigmoid=True),
    "birefnet": GraphShape("input_image", 1024, 1, sigmoid=False),
    "rmbg14": GraphShape("input", 1024, 1, sigmoid=True),
    "rmbg2": GraphShape("pixel_values", 1024, 1, sigmoid=False, open_batch=True),
}
# ONNX IR 10 / opset 17: what the real exports use and every maintained onnxruntime reads.
IR_VERSION = 10
OPSET = 17


def write_tiny_background_model(path: Path, *, family: str, seed: int = 0, open_size: bool = False) -> Path:
    """Write the tiny graph of `family` (a key of SHAPES) to `path` (an .onnx file); `open_size` leaves
    height and width open, as dynamic-resolution exports (BiRefNet_HR, BiRefNet_dynamic) do."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    shape = SHAPES[family]
    rng = np.random.default_rng(seed)
    c = shape.channels
    weights = {
        "enc.weight": rng.normal(0, 0.5, (c, 3, 3, 3)),
        "enc.bias": rng.normal(0, 0.1, (c,)),
        "mid.weight": rng.normal(0, 0.5, (c, c, 3, 3)),
        "mid.bias": rng.normal(0, 0.1, (c,)),
        "scales": np.array([1.0, 1.0, 2.0, 2.0]),
    }
    nodes = [
        helper.make_node(
            "Conv", [shape.input_name, "enc.weight", "enc.bias"], ["e"], pads=[1, 1, 1, 1], strides=[2, 2]
        ),
        helper.make_node("Relu", ["e"], ["e_act"]),
        helper.make_node("Conv", ["e_act", "mid.weight", "mid.bias"], ["m"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["m"], ["m_act"]),
        helper.make_node("Resize", ["m_act", "", "scales"], ["up"], mode="linear"),
    ]
    batch: int | str = "batch" if shape.open_batch else 1
    side: tuple[int | str, int | str] = ("height", "width") if open_size else (shape.size, shape.size)
    outputs = []
    for index in range(shape.outputs):
        weights[f"head{index}.weight"] = rng.normal(0, 0.5, (1, c, 3, 3))
        weights[f"head{index}.bias"] = rng.normal(0, 0.1, (1,))
        logits = f"d{index}" if not shape.sigmoid else f"d{index}_logits"
        nodes.append(
            helper.make_node(
                "Conv", ["up", f"head{index}.weight", f"head{index}.bias"], [logits], pads=[1, 1, 1, 1]
            )
        )
        if shape.sigmoid:
            nodes.append(helper.make_node("Sigmoid", [logits], [f"d{index}"]))
        outputs.append(helper.make_tensor_value_info(f"d{index}", TensorProto.FLOAT, [batch, 1, *side]))
    graph = helper.make_graph(
        nodes,
        f"tiny_{family}",
        [helper.make_tensor_value_info(shape.input_name, TensorProto.FLOAT, [batch, 3, *side])],
        outputs,
        initializer=[numpy_helper.from_array(v.astype(np.float32), name=k) for k, v in weights.items()],
    )
    model = helper.make_model(
        graph,
        producer_name="crucible-tiny-models",
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
    )
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
