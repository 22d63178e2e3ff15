"""The shapes of an execution's `outputs` in the OpenAPI schema (documentation only: poll builds them
in `selectors.execution_public_outputs`, from what the gpu worker reported)."""

from __future__ import annotations

from rest_framework import serializers

MEDIA_TYPES = ("image", "video", "text", "json", "file")


class ArtifactOutput(serializers.Serializer):
    url = serializers.URLField(help_text="Presigned, minted at read time (valid S3_PRESIGN_SECONDS).")
    contentType = serializers.CharField(
        help_text="image/png, image/webp, video/mp4, video/webm, text/plain ..."
    )
    mediaType = serializers.ChoiceField(choices=MEDIA_TYPES)
    filename = serializers.CharField()
    sizeBytes = serializers.IntegerField(
        required=False, help_text="Absent on images stored before it existed."
    )


class ImageArtifactOutput(ArtifactOutput):
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    frames = serializers.IntegerField(required=False, help_text="Animated WebP/PNG only.")
    fps = serializers.FloatField(required=False, help_text="Animated WebP/PNG only.")
    durationSeconds = serializers.FloatField(required=False, help_text="Animated WebP/PNG only.")


class VideoArtifactOutput(ArtifactOutput):
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    frames = serializers.IntegerField()
    fps = serializers.FloatField()
    durationSeconds = serializers.FloatField()
    codec = serializers.CharField(help_text="h264, vp9 or av1.")
    hasAudio = serializers.BooleanField()


class TextArtifactOutput(ArtifactOutput):
    text = serializers.CharField(help_text="The text inline, cut at 64 KiB of UTF-8; the file holds it all.")
    truncated = serializers.BooleanField(help_text="Whether `text` was cut.")


class NodeOutputsOutput(serializers.Serializer):
    """One output node's data; other keys a node reports are passed through as they are."""

    images = ImageArtifactOutput(many=True, required=False)
    videos = VideoArtifactOutput(many=True, required=False)
    text = TextArtifactOutput(many=True, required=False)
    animated = serializers.ListField(child=serializers.BooleanField(), required=False)


OUTPUTS_FIELD = serializers.DictField(
    child=NodeOutputsOutput(), help_text="Every output node's data by node id (docs/api.md, Outputs)."
)
