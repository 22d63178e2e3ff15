"""Background removal: U²-Net, IS-Net, BiRefNet and BRIA RMBG as ONNX graphs run by onnxruntime."""
