"""Reading a video file (MP4, WebM, MOV, MKV) with PyAV: a bounded probe and a bounded decode.

Torch-free, so the api checks an upload with the same code that LoadVideo decodes it with: what the
api accepted, a worker can load. Every frame is decoded in the probe; a header proves nothing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy only where frames are kept: the api's probe needs PyAV alone
    import numpy as np

VIDEO_CONTAINERS = {
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "webm": "video/webm",
    "matroska": "video/x-matroska",
}


class VideoRejected(ValueError):
    """The bytes are no video (`kind` "unreadable"), a corrupt one ("invalid") or too big ("too_large")."""

    def __init__(self, message: str, *, kind: str = "invalid") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class VideoLimits:
    max_frame_pixels: int  # width x height of one frame
    max_frames: int
    max_total_pixels: int  # width x height x frames: what the decoded frames hold in memory


@dataclass(frozen=True)
class VideoInfo:
    content_type: str
    width: int
    height: int
    frames: int
    fps: float
    duration_seconds: float
    has_audio: bool


@dataclass(frozen=True)
class DecodedVideo:
    info: VideoInfo
    frames: np.ndarray | None  # uint8 [T, H, W, 3], None for a probe
    audio: np.ndarray | None  # float32 [channels, samples]
    sample_rate: int


def probe_video(data: bytes, limits: VideoLimits) -> VideoInfo:
    """Format and size of a video whose every frame decodes; VideoRejected otherwise."""
    return _read(data, limits, keep=False).info


def decode_video(data: bytes, limits: VideoLimits) -> DecodedVideo:
    return _read(data, limits, keep=True)


def _read(data: bytes, limits: VideoLimits, *, keep: bool) -> DecodedVideo:
    import av

    if keep:
        import numpy as np
    try:
        container = av.open(io.BytesIO(data), "r")
    except (av.FFmpegError, ValueError, OSError):
        raise VideoRejected(
            "The file is not a readable video. Upload an MP4, WebM, MOV or MKV.", kind="unreadable"
        ) from None
    with container:
        names = set(container.format.name.split(","))
        content_type = next((t for n, t in VIDEO_CONTAINERS.items() if n in names), None)
        if content_type is None or not container.streams.video:
            raise VideoRejected(
                f"Container {container.format.name!r} holds no video this accepts. Upload an MP4, WebM, MOV "
                "or MKV.",
                kind="unreadable",
            )
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if width <= 0 or height <= 0:
            raise VideoRejected("The video declares no frame size; export it anew.")
        if width * height > limits.max_frame_pixels:
            raise VideoRejected(
                f"The video's frames are {width}x{height} pixels; the limit is {limits.max_frame_pixels:,} "
                "pixels (width x height).",
                kind="too_large",
            )
        rate = stream.average_rate or stream.guessed_rate
        if not rate or float(rate) <= 0:
            raise VideoRejected("The video declares no frame rate; export it again with a constant rate.")
        frames: list[np.ndarray] = []
        count = 0
        try:
            for frame in container.decode(stream):
                count += 1
                _check_count(count, width, height, limits)
                if (frame.width, frame.height) != (width, height):
                    raise VideoRejected("The video changes its frame size midway; export it with one size.")
                if keep:
                    frames.append(frame.to_ndarray(format="rgb24"))
        except av.FFmpegError:
            raise VideoRejected(
                f"The video ({width}x{height}) is truncated or corrupt: frame {count + 1} does not decode. "
                "Upload the file again, or export it anew."
            ) from None
        if count == 0:
            raise VideoRejected("The video holds no frame that decodes.")
        has_audio = bool(container.streams.audio)
        audio, sample_rate = _audio(container, keep) if has_audio else (None, 0)
    info = VideoInfo(
        content_type,
        width,
        height,
        count,
        round(float(rate), 3),
        round(count / float(rate), 3),
        has_audio,
    )
    return DecodedVideo(info, np.stack(frames) if keep else None, audio, sample_rate)


def _check_count(count: int, width: int, height: int, limits: VideoLimits) -> None:
    if count > limits.max_frames or count * width * height > limits.max_total_pixels:
        raise VideoRejected(
            f"The video has more than {count - 1:,} frames of {width}x{height}; the limits are "
            f"{limits.max_frames:,} frames and {limits.max_total_pixels:,} pixels in all.",
            kind="too_large",
        )


def _audio(container, keep: bool) -> tuple[np.ndarray | None, int]:  # PyAV containers are untyped
    """The first audio track as float32 [channels, samples] (mono or stereo); a probe decodes it too."""
    import av

    stream = container.streams.audio[0]
    container.seek(0)
    if not keep:
        try:
            for _ in container.decode(stream):
                pass
        except av.FFmpegError:
            raise VideoRejected("The video's audio track is corrupt: it does not decode.") from None
        return None, stream.rate or 0
    import numpy as np

    layout = "mono" if stream.channels == 1 else "stereo"
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=stream.rate)
    chunks: list[np.ndarray] = []
    try:
        for frame in container.decode(stream):
            chunks.extend(f.to_ndarray() for f in resampler.resample(frame))
        chunks.extend(f.to_ndarray() for f in resampler.resample(None))
    except av.FFmpegError:
        raise VideoRejected("The video's audio track is corrupt: it does not decode.") from None
    channels = 1 if layout == "mono" else 2
    samples = np.concatenate(chunks, axis=1) if chunks else np.zeros((channels, 0), np.float32)
    return samples.astype(np.float32), stream.rate
