"""Tiny random-weight models in the real on-disk formats, for tests, benchmarks and offline demos.

Not worker runtime: nothing in gpu_worker/ or nodes/ imports this package. Each module writes one
kind of model (sd15, sdxl, lora, controlnet, upscaler; ldm_layout and sgm_layout rename diffusers
weights to the original single-file keys); registry.py maps (family, format) to its writer and
``python -m tiny_models FAMILY FORMAT PATH`` writes one (``--list`` shows them all). Django-free.
"""
