"""The video and animation nodes on real encoders: what they store decodes to the frames, size, rate
and audio they were given (PyAV for MP4/WebM, Pillow for animated WebP/PNG)."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from nodes.video import ops
from nodes.video.decode import VideoLimits, VideoRejected, decode_video, probe_video
from nodes.video.limits import worker_video_limits
from tests.support.node_context import NodeTestContext

LIMITS = VideoLimits(max_frame_pixels=2**20, max_frames=64, max_total_pixels=2**22)


def gradient_frames(count: int, height: int, width: int, channels: int = 3) -> torch.Tensor:
    """Smooth frames that move: lossy codecs keep them close, so pixel checks stay meaningful."""
    y = torch.linspace(0, 1, height)[:, None]
    x = torch.linspace(0, 1, width)[None, :]
    frames = [
        torch.stack(
            [
                (x + t / count) % 1.0 * torch.ones_like(y),
                y * torch.ones_like(x),
                0.5 * torch.ones(height, width),
            ][:channels]
            + ([torch.full((height, width), 0.25 + 0.5 * (t % 2))] if channels == 4 else []),
            dim=-1,
        )
        for t in range(count)
    ]
    return torch.stack(frames).clamp(0, 1)


def tone(seconds: float, rate: int = 16000, channels: int = 2) -> dict:
    t = torch.arange(int(seconds * rate)) / rate
    waves = [torch.sin(2 * math.pi * 440 * (c + 1) * t) * 0.5 for c in range(channels)]
    return {"waveform": torch.stack(waves)[None], "sample_rate": rate}


def stored(ctx: NodeTestContext, item: dict) -> bytes:
    return ctx.artifacts[item["filename"]]


def test_save_video_writes_h264_mp4_with_its_audio() -> None:
    ctx = NodeTestContext()
    images = gradient_frames(12, 40, 56)
    (video,) = ops.create_video(ctx, images, 24.0, tone(0.5))
    item = ops.save_video(ctx, video, "video/ComfyUI", "auto", "auto").ui["videos"][0]
    assert item["contentType"] == "video/mp4" and item["filename"].endswith(".mp4")
    assert (item["width"], item["height"], item["frames"], item["fps"]) == (56, 40, 12, 24.0)
    assert item["durationSeconds"] == 0.5 and item["hasAudio"] is True
    data = stored(ctx, item)
    assert item["sizeBytes"] == len(data)

    decoded = decode_video(data, LIMITS)
    assert (decoded.info.width, decoded.info.height, decoded.info.frames, decoded.info.fps) == (
        56,
        40,
        12,
        24.0,
    )
    assert decoded.info.content_type == "video/mp4" and decoded.info.has_audio
    import av

    with av.open(io.BytesIO(data)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert container.streams.audio[0].codec_context.name == "aac"
    assert decoded.frames is not None and decoded.audio is not None
    expected = (images.numpy() * 255).round()
    assert np.abs(decoded.frames.astype(np.float32) - expected).mean() < 6  # lossy, but the same picture
    assert decoded.sample_rate == 16000 and decoded.audio.shape[0] == 2
    # AAC pads its last frame: at least the half second given, never a second more.
    assert 8000 <= decoded.audio.shape[1] < 8000 + 2048


@pytest.mark.parametrize(("codec", "decoder"), [("vp9", "vp9"), ("av1", "av1")])
def test_save_webm_offers_comfyuis_codecs(codec: str, decoder: str) -> None:
    ctx = NodeTestContext()
    item = ops.save_webm(ctx, gradient_frames(5, 33, 48), "ComfyUI", codec, 10.0, 32.0).ui["videos"][0]
    assert item["contentType"] == "video/webm" and item["codec"] == codec
    # 4:2:0 video needs even sides: an odd height loses its last row, and poll says what was stored.
    assert (item["width"], item["height"], item["frames"], item["durationSeconds"]) == (48, 32, 5, 0.5)
    import av

    with av.open(io.BytesIO(stored(ctx, item))) as container:
        stream = container.streams.video[0]
        assert decoder in stream.codec_context.codec.long_name.lower() or decoder in stream.codec_context.name
        assert sum(1 for _ in container.decode(stream)) == 5
        assert float(stream.average_rate) == 10.0


def test_animated_webp_and_png_keep_frames_timing_and_alpha() -> None:
    ctx = NodeTestContext()
    images = gradient_frames(4, 24, 32, channels=4)
    webp = ops.save_animated_webp(ctx, images, "anim", 8.0, True, 80, "fastest").ui
    png = ops.save_animated_png(ctx, images, "anim", 8.0, 9).ui
    for ui, fmt in ((webp, "WEBP"), (png, "PNG")):
        assert ui["animated"] == [True]
        item = ui["images"][0]
        assert (item["width"], item["height"], item["frames"], item["fps"], item["durationSeconds"]) == (
            32,
            24,
            4,
            8.0,
            0.5,
        )
        image = Image.open(io.BytesIO(stored(ctx, item)))
        assert (image.format, image.size, getattr(image, "n_frames", 1), image.mode) == (
            fmt,
            (32, 24),
            4,
            "RGBA",
        )
        image.seek(1)
        image.load()
        assert image.info["duration"] == 125  # ms per frame at 8 fps
        alpha = np.asarray(image.convert("RGBA"))[:, :, 3]
        assert abs(int(alpha.mean()) - round(0.75 * 255)) <= 1  # lossless: frame 1's alpha as given


def test_load_video_gives_its_components_back() -> None:
    ctx = NodeTestContext()
    images = gradient_frames(6, 32, 32)
    (video,) = ops.create_video(ctx, images, 12.0, tone(0.5, rate=22050, channels=1))
    ctx.files["clip.mp4"] = stored(ctx, ops.save_video(ctx, video, "v", "mp4", "h264").ui["videos"][0])
    (loaded,) = ops.load_video(ctx, "clip.mp4")
    frames, audio, fps = ops.get_video_components(ctx, loaded)
    assert frames.shape == (6, 32, 32, 3) and frames.dtype == torch.float32 and fps == 12.0
    assert 0 <= float(frames.min()) and float(frames.max()) <= 1
    assert (frames - images).abs().mean() < 0.03
    assert audio is not None and audio["sample_rate"] == 22050 and audio["waveform"].shape[:2] == (1, 1)


def test_videos_are_bounded_and_bad_bytes_are_refused() -> None:
    ctx = NodeTestContext()
    (video,) = ops.create_video(ctx, gradient_frames(10, 32, 32), 10.0)
    data = stored(ctx, ops.save_video(ctx, video, "v", "auto", "auto").ui["videos"][0])
    assert probe_video(data, LIMITS).frames == 10
    with pytest.raises(VideoRejected, match="more than 4 frames") as too_long:
        probe_video(data, VideoLimits(max_frame_pixels=2**20, max_frames=4, max_total_pixels=2**22))
    assert too_long.value.kind == "too_large"
    with pytest.raises(VideoRejected, match="32x32 pixels") as too_wide:
        probe_video(data, VideoLimits(max_frame_pixels=32 * 31, max_frames=64, max_total_pixels=2**22))
    assert too_wide.value.kind == "too_large"
    for garbage in (b"", b"not a video at all" * 10, data[: len(data) // 3]):
        with pytest.raises(VideoRejected) as bad:
            probe_video(garbage, LIMITS)
        assert bad.value.kind in ("unreadable", "invalid")
    assert worker_video_limits().max_frames >= 1


def test_bad_node_inputs_are_clear_errors() -> None:
    ctx = NodeTestContext()
    with pytest.raises(ValueError, match="images must be an IMAGE batch"):
        ops.save_webm(ctx, torch.rand(4, 4, 3), "x", "vp9", 24.0, 32.0)
    with pytest.raises(ValueError, match="audio: the waveform must be"):
        ops.create_video(
            ctx, torch.rand(2, 8, 8, 3), 24.0, {"waveform": torch.rand(100), "sample_rate": 16000}
        )
    with pytest.raises(ValueError, match="sample_rate"):
        ops.create_video(
            ctx, torch.rand(2, 8, 8, 3), 24.0, {"waveform": torch.rand(1, 1, 100), "sample_rate": 3}
        )
    assert ctx.artifacts == {}


def test_crf_trades_size_for_quality() -> None:
    ctx = NodeTestContext()
    images = torch.rand(4, 32, 32, 3, generator=torch.Generator().manual_seed(0))
    sizes = [
        ops.save_webm(ctx, images, "q", "vp9", 24.0, crf).ui["videos"][0]["sizeBytes"] for crf in (4.0, 60.0)
    ]
    assert sizes[0] > 2 * sizes[1]
