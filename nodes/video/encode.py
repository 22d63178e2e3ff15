"""Encoding frames (uint8 [T, H, W, 3|4] arrays) and audio into files: MP4, WebM, animated WebP and PNG.

Torch-free and free of the worker: a node turns its tensors into arrays on the worker's thread, and
the encode itself (CPU work that may run off the GPU's critical path) only needs numpy, PyAV and
Pillow. Every function returns the file's bytes and what poll reports about it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, cast

import numpy as np

# Container and codec per ComfyUI choice: (PyAV format, encoder, audio encoder, content type).
VIDEO_FORMATS = {
    "h264": ("mp4", "libx264", "aac", "video/mp4"),
    "vp9": ("webm", "libvpx-vp9", "libopus", "video/webm"),
    "av1": ("webm", "libsvtav1", "libopus", "video/webm"),
}
OPUS_RATE = 48000  # the only rate libopus encodes at


@dataclass(frozen=True)
class Audio:
    """An AUDIO value's first clip as numpy: float32 [channels, samples] at sample_rate."""

    samples: np.ndarray
    sample_rate: int


@dataclass(frozen=True)
class Encoded:
    data: bytes
    content_type: str
    extension: str
    meta: dict[str, Any]  # width, height, frames, fps, durationSeconds (and hasAudio for videos)


def video_rate(fps: float) -> Fraction:
    """A frame rate as the exact fraction a container stores (29.97 -> 2997/100)."""
    if not fps > 0:
        raise ValueError(f"fps must be above 0, got {fps}.")
    return Fraction(str(round(float(fps), 3))).limit_denominator(1001)


def even_frames(frames: np.ndarray) -> np.ndarray:
    """4:2:0 video needs even sides: an odd side loses its last row or column (a 1-pixel side is doubled)."""
    _, height, width, _ = frames.shape
    if height == 1 or width == 1:
        frames = np.repeat(np.repeat(frames, 2 if height == 1 else 1, 1), 2 if width == 1 else 1, 2)
        _, height, width, _ = frames.shape
    return frames[:, : height - height % 2, : width - width % 2, :3]


def encode_video(
    frames: np.ndarray, *, fps: float, codec: str, crf: float | None = None, audio: Audio | None = None
) -> Encoded:
    """MP4 (H.264, AAC audio) or WebM (VP9 or AV1, Opus audio); the audio is cut to the video's length."""
    if codec not in VIDEO_FORMATS:
        raise ValueError(f"codec must be one of {sorted(VIDEO_FORMATS)}, got {codec!r}.")
    if frames.ndim != 4 or frames.shape[0] == 0:
        raise ValueError(f"images must be a batch of at least one frame, got shape {list(frames.shape)}.")
    import av

    container_format, encoder, audio_encoder, content_type = VIDEO_FORMATS[codec]
    frames = even_frames(frames)
    count, height, width, _ = frames.shape
    rate = video_rate(fps)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container_format) as container:
        options: dict[str, str] = {"crf": f"{crf:g}"} if crf is not None else {}
        if codec == "vp9" and crf is not None:
            options["b:v"] = "0"  # constant quality: VP9 honours crf only without a bitrate target
        stream = cast("av.VideoStream", container.add_stream(encoder, rate=rate, options=options))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        sound = None
        if audio is not None:
            rate_hz = OPUS_RATE if audio_encoder == "libopus" else audio.sample_rate
            sound = container.add_stream(audio_encoder, rate=rate_hz, layout=_layout(audio))
        for frame in frames:
            image = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            container.mux(stream.encode(image))
        container.mux(stream.encode())
        if sound is not None and audio is not None:
            _encode_audio(container, sound, audio, seconds=count / float(rate))
    meta = _video_meta(width, height, count, rate)
    return Encoded(buffer.getvalue(), content_type, container_format, {**meta, "hasAudio": audio is not None})


def _layout(audio: Audio) -> str:
    # Mono stays mono; more than two channels keep the first two.
    return "mono" if audio.samples.shape[0] == 1 else "stereo"


def _encode_audio(container: Any, stream: Any, audio: Audio, *, seconds: float) -> None:
    import av

    layout = _layout(audio)
    samples = audio.samples[: 1 if layout == "mono" else 2, : max(1, round(seconds * audio.sample_rate))]
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(samples, dtype=np.float32), format="fltp", layout=layout
    )
    frame.sample_rate = audio.sample_rate
    resampler = av.AudioResampler(format=stream.codec_context.format.name, layout=layout, rate=stream.rate)
    for chunk in [*resampler.resample(frame), *resampler.resample(None)]:
        container.mux(stream.encode(chunk))
    container.mux(stream.encode())


def encode_animation(
    frames: np.ndarray,
    *,
    fps: float,
    image_format: str,
    lossless: bool = True,
    quality: int = 80,
    method: int = 4,
    compress_level: int = 4,
) -> Encoded:
    """Animated WebP or PNG (APNG) through Pillow, as ComfyUI writes them; alpha is kept."""
    from PIL import Image

    if frames.ndim != 4 or frames.shape[0] == 0:
        raise ValueError(f"images must be a batch of at least one frame, got shape {list(frames.shape)}.")
    mode = "RGBA" if frames.shape[3] == 4 else "RGB"
    images = [
        Image.fromarray(np.ascontiguousarray(f[:, :, :4] if mode == "RGBA" else f[:, :, :3]), mode)
        for f in frames
    ]
    buffer = io.BytesIO()
    duration_ms = round(1000.0 / fps)
    if image_format == "webp":
        images[0].save(
            buffer,
            "WEBP",
            save_all=True,
            append_images=images[1:],
            duration=duration_ms,
            lossless=lossless,
            quality=quality,
            method=method,
            loop=0,
        )
        content_type, extension = "image/webp", "webp"
    elif image_format == "png":
        images[0].save(
            buffer,
            "PNG",
            save_all=True,
            append_images=images[1:],
            duration=duration_ms,
            compress_level=compress_level,
            loop=0,
        )
        content_type, extension = "image/png", "png"
    else:
        raise ValueError(f"image_format must be 'webp' or 'png', got {image_format!r}.")
    count, height, width = frames.shape[:3]
    return Encoded(
        buffer.getvalue(), content_type, extension, _video_meta(width, height, count, Fraction(fps))
    )


def _video_meta(width: int, height: int, count: int, rate: Fraction) -> dict[str, Any]:
    return {
        "width": width,
        "height": height,
        "frames": count,
        "fps": round(float(rate), 3),
        "durationSeconds": round(count / float(rate), 3),
    }
