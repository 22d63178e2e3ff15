"""Every media type through the whole platform: nodes on the gpu worker encode video, animation and
text, the files land in the test S3 server, and poll, the webhook and history report each one.

The stored files are fetched through their presigned URLs and decoded (PyAV, Pillow): frame count,
size and rate are checked on what was stored, not on what the worker said.
"""

from __future__ import annotations

import copy
import io
import json
import math
from fractions import Fraction

import numpy as np
import pytest
import requests
from PIL import Image

from tests.support.graphs import TEXT_TO_IMAGE
from tests.support.receiver import receiver

pytestmark = pytest.mark.e2e


def fetch(url: str, content_type: str) -> bytes:
    response = requests.get(url, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == content_type  # as stored in S3
    return response.content


def video_facts(data: bytes) -> tuple[str, int, int, int, float, bool]:
    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return (
            stream.codec_context.name,
            stream.codec_context.width,
            stream.codec_context.height,
            frames,
            float(stream.average_rate),
            bool(container.streams.audio),
        )


def make_video(frames: int, size: tuple[int, int], fps: int = 8, audio_seconds: float = 0.0) -> bytes:
    """An MP4 a user could upload: moving gradient frames, an optional stereo tone."""
    import av

    width, height = size
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        sound = container.add_stream("aac", rate=16000, layout="stereo") if audio_seconds else None
        for i in range(frames):
            pixels = np.zeros((height, width, 3), np.uint8)
            pixels[:, :, 0] = (np.arange(width) * 4 + i * 8) % 256
            pixels[:, :, 1] = 128
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode())
        if sound is not None:
            t = np.arange(int(audio_seconds * 16000)) / 16000
            wave = (
                np.stack([np.sin(2 * math.pi * 440 * t), np.sin(2 * math.pi * 660 * t)]).astype(np.float32)
                * 0.3
            )
            frame = av.AudioFrame.from_ndarray(wave, format="fltp", layout="stereo")
            frame.sample_rate = 16000
            container.mux(sound.encode(frame))
            container.mux(sound.encode())
    return buffer.getvalue()


def upload(api, data: bytes, name: str, content_type: str = "video/mp4"):
    return api.post("/v1/files", files={"file": (name, data, content_type)})


def text_to_frames(batch: int) -> dict:
    graph = copy.deepcopy(TEXT_TO_IMAGE)
    graph["5"]["inputs"].update(width=64, height=48, batch_size=batch)
    del graph["9"]
    return graph


def test_generated_frames_become_mp4_webm_and_animations(api) -> None:
    graph = text_to_frames(4)
    graph.update(
        {
            "20": {"class_type": "CreateVideo", "inputs": {"images": ["8", 0], "fps": 8.0}},
            "21": {
                "class_type": "SaveVideo",
                "inputs": {
                    "video": ["20", 0],
                    "filename_prefix": "video/ComfyUI",
                    "format": "auto",
                    "codec": "auto",
                },
            },
            "22": {
                "class_type": "SaveWEBM",
                "inputs": {
                    "images": ["8", 0],
                    "filename_prefix": "clip",
                    "codec": "vp9",
                    "fps": 12.0,
                    "crf": 32.0,
                },
            },
            "23": {
                "class_type": "SaveAnimatedWEBP",
                "inputs": {
                    "images": ["8", 0],
                    "filename_prefix": "anim",
                    "fps": 4.0,
                    "lossless": False,
                    "quality": 80,
                    "method": "default",
                },
            },
            "24": {
                "class_type": "SaveAnimatedPNG",
                "inputs": {"images": ["8", 0], "filename_prefix": "anim", "fps": 4.0, "compress_level": 4},
            },
            "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "still"}},
        }
    )
    workflow = api.create_workflow(graph)
    with receiver() as rx:
        execution_id = api.post(
            f"/v1/workflows/{workflow['id']}/execute", json={"webhookUrl": rx.url}
        ).json()["executionId"]
        result = api.wait(execution_id)
        assert result["status"] == "COMPLETED", result
        webhook = json.loads(rx.wait_for(1)[0].body)

    outputs = result["outputs"]
    video = outputs["21"]["videos"][0]
    assert (video["mediaType"], video["contentType"], video["codec"]) == ("video", "video/mp4", "h264")
    assert (video["width"], video["height"], video["frames"], video["fps"], video["durationSeconds"]) == (
        64, 48, 4, 8.0, 0.5,
    )  # fmt: skip
    data = fetch(video["url"], "video/mp4")
    assert video["sizeBytes"] == len(data)
    assert video_facts(data) == ("h264", 64, 48, 4, 8.0, False)

    webm = outputs["22"]["videos"][0]
    assert (webm["contentType"], webm["frames"], webm["fps"]) == ("video/webm", 4, 12.0)
    assert video_facts(fetch(webm["url"], "video/webm"))[1:5] == (64, 48, 4, 12.0)

    for node_id, fmt, content_type in (("23", "WEBP", "image/webp"), ("24", "PNG", "image/png")):
        item = outputs[node_id]["images"][0]
        assert outputs[node_id]["animated"] == [True]
        assert (item["mediaType"], item["contentType"], item["frames"], item["durationSeconds"]) == (
            "image", content_type, 4, 1.0,
        )  # fmt: skip
        image = Image.open(io.BytesIO(fetch(item["url"], content_type)))
        assert (image.format, image.size, getattr(image, "n_frames", 1)) == (fmt, (64, 48), 4)

    # Plain images keep their fields, with the media type beside them.
    stills = outputs["9"]["images"]
    assert len(stills) == 4 and {k for k in stills[0]} >= {
        "url",
        "contentType",
        "width",
        "height",
        "filename",
    }
    assert (stills[0]["mediaType"], stills[0]["contentType"], stills[0]["width"]) == (
        "image",
        "image/png",
        64,
    )

    # The webhook carries the same outputs (URLs minted anew); history lists them too.
    hooked = webhook["data"]["outputs"]
    assert set(hooked) == set(outputs) and hooked["21"]["videos"][0]["frames"] == 4
    history = api.get(f"/v1/workflows/{workflow['id']}/executions").json()
    listed = next(row for row in history["items"] if row["executionId"] == execution_id)
    assert listed["outputs"]["21"]["videos"][0]["contentType"] == "video/mp4"


def test_an_uploaded_video_is_loaded_split_and_saved_with_its_audio(api) -> None:
    response = upload(api, make_video(6, (32, 24), fps=8, audio_seconds=0.75), "clip.mp4")
    assert response.status_code == 201, response.text
    uploaded = response.json()
    assert (uploaded["contentType"], uploaded["width"], uploaded["height"]) == ("video/mp4", 32, 24)
    assert (uploaded["frames"], uploaded["fps"], uploaded["durationSeconds"]) == (6, 8.0, 0.75)
    graph = {
        "1": {"class_type": "LoadVideo", "inputs": {"file": "clip.mp4"}},
        "2": {"class_type": "GetVideoComponents", "inputs": {"video": ["1", 0]}},
        "3": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
        "4": {
            "class_type": "CreateVideo",
            "inputs": {"images": ["3", 0], "fps": ["2", 2], "audio": ["2", 1]},
        },
        "5": {
            "class_type": "SaveVideo",
            "inputs": {"video": ["4", 0], "filename_prefix": "inverted", "format": "mp4", "codec": "h264"},
        },
        "6": {"class_type": "PreviewAny", "inputs": {"source": ["2", 2]}},
    }
    result = api.wait(api.execute(api.create_workflow(graph)["id"]))
    assert result["status"] == "COMPLETED", result
    video = result["outputs"]["5"]["videos"][0]
    assert (video["frames"], video["fps"], video["hasAudio"]) == (6, 8.0, True)
    assert video_facts(fetch(video["url"], "video/mp4")) == ("h264", 32, 24, 6, 8.0, True)
    fps_text = result["outputs"]["6"]["text"][0]
    assert (fps_text["mediaType"], fps_text["text"], fps_text["truncated"]) == ("text", "8.0", False)
    assert fetch(fps_text["url"], "text/plain; charset=utf-8") == b"8.0"


def test_text_outputs_are_inline_capped_and_stored_whole(api) -> None:
    long_text = "word " * 20000  # 100,000 bytes: over the inline cap
    graph = {
        "1": {
            "class_type": "SaveText",
            "inputs": {"text": long_text, "filename_prefix": "notes", "format": "txt"},
        },
        "2": {
            "class_type": "SaveText",
            "inputs": {"text": '{"ok": true}', "filename_prefix": "data", "format": "json"},
        },
        "3": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    }
    result = api.wait(api.execute(api.create_workflow(graph)["id"]))
    assert result["status"] == "COMPLETED", result
    saved = result["outputs"]["1"]["text"][0]
    assert (
        saved["truncated"] is True
        and len(saved["text"].encode()) == 64 * 1024
        and saved["sizeBytes"] == 100000
    )
    assert fetch(saved["url"], "text/plain; charset=utf-8").decode() == long_text
    as_json = result["outputs"]["2"]["text"][0]
    assert (as_json["mediaType"], as_json["contentType"], as_json["text"]) == (
        "json", "application/json", '{\n  "ok": true\n}',
    )  # fmt: skip
    assert json.loads(fetch(as_json["url"], "application/json")) == {"ok": True}
    assert result["outputs"]["3"]["text"][0]["truncated"] is True


def test_bad_and_oversized_videos_are_refused_at_upload(api) -> None:
    garbage = upload(api, b"\x00\x00\x00\x18ftypmp42" + b"\x07" * 500, "broken.mp4")
    assert garbage.status_code == 400 and garbage.json()["error"]["type"] == "invalid_file", garbage.text
    assert "MP4" in garbage.json()["error"]["message"]
    # More frames than FILE_UPLOAD_MAX_VIDEO_FRAMES (1024): a small file, refused before it is stored.
    too_long = upload(api, make_video(1030, (16, 16), fps=30), "long.mp4")
    assert too_long.status_code == 413 and too_long.json()["error"]["type"] == "video_too_large", (
        too_long.text
    )
    assert "1,024 frames" in too_long.json()["error"]["message"]


def test_an_image_where_a_video_belongs_is_a_validation_error(api) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(buffer, format="PNG")
    image_id = api.post("/v1/files", files={"file": ("still.png", buffer.getvalue(), "image/png")}).json()[
        "fileId"
    ]
    video_id = upload(api, make_video(2, (16, 16)), "moving.mp4").json()["fileId"]
    for class_type, name, file_id in (("LoadVideo", "file", image_id), ("LoadImage", "image", video_id)):
        graph = {
            "1": {"class_type": class_type, "inputs": {name: file_id}},
            "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
        }
        response = api.post("/v1/workflows", json={"name": "x", "graph": graph})
        assert response.status_code == 400, response.text
        error = response.json()["error"]["nodeErrors"]["1"]["errors"][0]
        assert (error["type"], error["input"]) == ("invalid_file_type", name)
