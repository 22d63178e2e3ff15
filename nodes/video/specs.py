"""Schemas of the video and animation nodes: animated WebP/PNG, WebM, MP4 and the VIDEO value."""

from __future__ import annotations

from nodes.comfy_v3 import V3NodeSpec
from nodes.schema import BOOLEAN, COMBO, FLOAT, IMAGE, INT, STRING, InputSpec, NodeSpec, OutputSpec

VIDEO = "VIDEO"
AUDIO = "AUDIO"
OPS = "nodes.video.ops"
PREFIX_TOOLTIP = (
    "The prefix for the file to save. This may include formatting information such as "
    "%date:yyyy-MM-dd% or %Empty Latent Image.width% to include values from nodes."
)


def _fps(default: float) -> InputSpec:
    return InputSpec("fps", FLOAT, default=default, min=0.01, max=1000.0, step=0.01)


SPECS = (
    NodeSpec(
        class_type="SaveAnimatedWEBP",
        category="image/animation",
        impl=f"{OPS}:save_animated_webp",
        output_node=True,
        inputs=(
            InputSpec("images", IMAGE),
            InputSpec("filename_prefix", STRING, default="ComfyUI"),
            _fps(6.0),
            InputSpec("lossless", BOOLEAN, default=True),
            InputSpec("quality", INT, default=80, min=0, max=100),
            InputSpec("method", COMBO, choices=("default", "fastest", "slowest")),
        ),
    ),
    NodeSpec(
        class_type="SaveAnimatedPNG",
        category="image/animation",
        impl=f"{OPS}:save_animated_png",
        output_node=True,
        inputs=(
            InputSpec("images", IMAGE),
            InputSpec("filename_prefix", STRING, default="ComfyUI"),
            _fps(6.0),
            InputSpec("compress_level", INT, default=4, min=0, max=9),
        ),
    ),
    V3NodeSpec(
        class_type="SaveWEBM",
        category="image/video",
        impl=f"{OPS}:save_webm",
        output_node=True,
        inputs=(
            InputSpec("images", IMAGE),
            InputSpec("filename_prefix", STRING, default="ComfyUI", options={"multiline": False}),
            InputSpec("codec", COMBO, choices=("vp9", "av1")),
            InputSpec("fps", FLOAT, default=24.0, min=0.01, max=1000.0, step=0.01),
            InputSpec(
                "crf",
                FLOAT,
                default=32.0,
                min=0,
                max=63.0,
                step=1,
                tooltip="Higher crf means lower quality with a smaller file size, lower crf means higher "
                "quality higher filesize.",
            ),
        ),
    ),
    V3NodeSpec(
        class_type="CreateVideo",
        display_name="Create Video",
        category="image/video",
        description="Create a video from images.",
        impl=f"{OPS}:create_video",
        inputs=(
            InputSpec("images", IMAGE, tooltip="The images to create a video from."),
            InputSpec("fps", FLOAT, default=30.0, min=1.0, max=120.0, step=1.0),
            InputSpec("audio", AUDIO, required=False, tooltip="The audio to add to the video."),
        ),
        outputs=(OutputSpec(VIDEO),),
    ),
    V3NodeSpec(
        class_type="SaveVideo",
        display_name="Save Video",
        category="image/video",
        description="Saves the input images to your ComfyUI output directory.",
        impl=f"{OPS}:save_video",
        output_node=True,
        inputs=(
            InputSpec("video", VIDEO, tooltip="The video to save."),
            InputSpec(
                "filename_prefix",
                STRING,
                default="video/ComfyUI",
                tooltip=PREFIX_TOOLTIP,
                options={"multiline": False},
            ),
            InputSpec(
                "format",
                COMBO,
                default="auto",
                choices=("auto", "mp4"),
                tooltip="The format to save the video as.",
            ),
            InputSpec(
                "codec",
                COMBO,
                default="auto",
                choices=("auto", "h264"),
                tooltip="The codec to use for the video.",
            ),
        ),
    ),
    V3NodeSpec(
        class_type="LoadVideo",
        display_name="Load Video",
        category="image/video",
        impl=f"{OPS}:load_video",
        # The value is a fileId from POST /v1/files or the name a video was uploaded under.
        inputs=(InputSpec("file", COMBO, choices_source="files", options={"video_upload": True}),),
        outputs=(OutputSpec(VIDEO),),
    ),
    V3NodeSpec(
        class_type="GetVideoComponents",
        display_name="Get Video Components",
        category="image/video",
        description="Extracts all components from a video: frames, audio, and framerate.",
        impl=f"{OPS}:get_video_components",
        inputs=(InputSpec("video", VIDEO, tooltip="The video to extract components from."),),
        outputs=(OutputSpec(IMAGE, "images"), OutputSpec(AUDIO, "audio"), OutputSpec(FLOAT, "fps")),
    ),
)
