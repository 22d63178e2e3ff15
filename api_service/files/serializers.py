from __future__ import annotations

from rest_framework import serializers


class FileUploadInput(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=False)


class FileOutput(serializers.Serializer):
    fileId = serializers.CharField(source="id")
    filename = serializers.CharField()
    contentType = serializers.CharField(source="content_type")
    sizeBytes = serializers.IntegerField(source="size_bytes")
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    # Videos only; null for an image.
    frames = serializers.IntegerField(allow_null=True)
    fps = serializers.FloatField(allow_null=True)
    durationSeconds = serializers.FloatField(source="duration_seconds", allow_null=True)
    sha256 = serializers.CharField()
    createdAt = serializers.DateTimeField(source="created_at")
