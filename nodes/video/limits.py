"""How large a video LoadVideo decodes: the same bounds the api checks uploads against.

Env-driven (the api's settings read the same variables), so a video the api accepted always loads.
"""

from __future__ import annotations

import os

from nodes.video.decode import VideoLimits

DEFAULT_MAX_FRAME_PIXELS = 64 * 2**20  # as FILE_UPLOAD_MAX_PIXELS
DEFAULT_MAX_FRAMES = 1024
DEFAULT_MAX_TOTAL_PIXELS = 2**27  # 512 frames of 512x512: 1.6 GB as float32 RGB


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def worker_video_limits() -> VideoLimits:
    return VideoLimits(
        max_frame_pixels=_env_int("FILE_UPLOAD_MAX_PIXELS", DEFAULT_MAX_FRAME_PIXELS),
        max_frames=_env_int("FILE_UPLOAD_MAX_VIDEO_FRAMES", DEFAULT_MAX_FRAMES),
        max_total_pixels=_env_int("FILE_UPLOAD_MAX_VIDEO_PIXELS", DEFAULT_MAX_TOTAL_PIXELS),
    )
