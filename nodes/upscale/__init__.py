"""Upscale-model nodes: ESRGAN-family super-resolution models loaded through spandrel."""
