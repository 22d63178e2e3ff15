"""LoRA loaders: low-rank weight patches for the MODEL and CLIP handles."""
