"""Stable Video Diffusion image to video (ComfyUI's SVD nodes), see docs/video.md."""
