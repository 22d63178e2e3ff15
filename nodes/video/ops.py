"""The video and animation nodes. Frames leave the device here, as uint8 arrays; the encode itself is
handed to the worker (`ctx.save_artifact`), which may run it off the GPU's critical path."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from nodes.context import NodeContext
from nodes.schema import NodeResult
from nodes.video.decode import decode_video
from nodes.video.encode import (
    VIDEO_FORMATS,
    Audio,
    encode_animation,
    encode_video,
    even_frames,
    video_rate,
)
from nodes.video.limits import worker_video_limits
from nodes.video.value import Video, audio_value, check_audio

WEBP_METHODS = {"default": 4, "fastest": 0, "slowest": 6}


def frames_uint8(images: torch.Tensor, name: str = "images") -> np.ndarray:
    """IMAGE [T, H, W, C] in 0..1 as uint8 on the CPU (what every encoder takes)."""
    if images.ndim != 4 or images.shape[0] == 0 or images.shape[3] not in (1, 3, 4):
        raise ValueError(
            f"{name} must be an IMAGE batch [frames, height, width, 1|3|4], got {list(images.shape)}."
        )
    frames = (images.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    return np.repeat(frames, 3, axis=3) if frames.shape[3] == 1 else frames


def _animation(
    ctx: NodeContext, images: torch.Tensor, prefix: str, fps: float, fmt: str, **opts: Any
) -> NodeResult:
    frames = frames_uint8(images)
    count, height, width = frames.shape[:3]
    meta = {
        "width": width,
        "height": height,
        "frames": count,
        "fps": round(float(fps), 3),
        "durationSeconds": round(count / float(fps), 3),
    }
    item = ctx.save_artifact(
        lambda: encode_animation(frames, fps=fps, image_format=fmt, **opts).data,
        content_type=f"image/{fmt}",
        extension=fmt,
        prefix=prefix,
        meta=meta,
    )
    return NodeResult(ui={"images": [item], "animated": [True]})


def save_animated_webp(
    ctx: NodeContext,
    images: torch.Tensor,
    filename_prefix: str,
    fps: float,
    lossless: bool,
    quality: int,
    method: str,
) -> NodeResult:
    return _animation(
        ctx,
        images,
        filename_prefix,
        fps,
        "webp",
        lossless=lossless,
        quality=quality,
        method=WEBP_METHODS[method],
    )


def save_animated_png(
    ctx: NodeContext, images: torch.Tensor, filename_prefix: str, fps: float, compress_level: int
) -> NodeResult:
    return _animation(ctx, images, filename_prefix, fps, "png", compress_level=compress_level)


def _save_video(
    ctx: NodeContext,
    frames: np.ndarray,
    *,
    prefix: str,
    fps: float,
    codec: str,
    crf: float | None,
    audio: Audio | None,
) -> NodeResult:
    container, _, _, content_type = VIDEO_FORMATS[codec]
    _, height, width = even_frames(frames[:1]).shape[:3]
    count = frames.shape[0]
    rate = video_rate(fps)
    meta = {
        "width": width,
        "height": height,
        "frames": count,
        "fps": round(float(rate), 3),
        "durationSeconds": round(count / float(rate), 3),
        "codec": codec,
        "hasAudio": audio is not None,
    }
    item = ctx.save_artifact(
        lambda: encode_video(frames, fps=fps, codec=codec, crf=crf, audio=audio).data,
        content_type=content_type,
        extension=container,
        prefix=prefix,
        meta=meta,
    )
    return NodeResult(ui={"videos": [item]})


def save_webm(
    ctx: NodeContext, images: torch.Tensor, filename_prefix: str, codec: str, fps: float, crf: float
) -> NodeResult:
    return _save_video(
        ctx, frames_uint8(images), prefix=filename_prefix, fps=fps, codec=codec, crf=crf, audio=None
    )


def save_video(ctx: NodeContext, video: Video, filename_prefix: str, format: str, codec: str) -> NodeResult:
    # "auto" is MP4 with H.264, the only pair ComfyUI offers here; a loaded video is encoded anew.
    frames = frames_uint8(video.images, "video")
    audio = None
    if video.audio is not None:
        waveform = video.audio["waveform"]
        audio = Audio(waveform[0].detach().float().cpu().numpy(), int(video.audio["sample_rate"]))
    return _save_video(
        ctx, frames, prefix=filename_prefix, fps=video.fps, codec="h264", crf=None, audio=audio
    )


def create_video(
    ctx: NodeContext, images: torch.Tensor, fps: float, audio: dict[str, Any] | None = None
) -> tuple[Video]:
    frames_uint8(images[:1])  # the shape check, with the message naming `images`
    if audio is not None:
        check_audio(audio, "audio")
    return (Video(images=images, fps=float(fps), audio=audio),)


def load_video(ctx: NodeContext, file: str) -> tuple[Video]:
    decoded = decode_video(ctx.read_file(file), worker_video_limits())
    assert decoded.frames is not None
    images = torch.from_numpy(decoded.frames).float().div_(255.0)
    audio = audio_value(decoded.audio, decoded.sample_rate) if decoded.audio is not None else None
    return (Video(images=images, fps=decoded.info.fps, audio=audio),)


def get_video_components(ctx: NodeContext, video: Video) -> tuple[torch.Tensor, dict[str, Any] | None, float]:
    return (video.images, video.audio, video.fps)
