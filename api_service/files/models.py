from __future__ import annotations

from django.db import models

from api_service.core.ids import new_id


def new_file_id() -> str:
    return new_id("file")


class File(models.Model):
    """An uploaded input (an image for LoadImage, a video for LoadVideo, or a named workflow input)."""

    id = models.CharField(primary_key=True, max_length=40, default=new_file_id, editable=False)
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="files")
    key = models.CharField(max_length=512, unique=True)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size_bytes = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    # Videos only (LoadVideo): None for an image.
    frames = models.PositiveIntegerField(null=True, blank=True)
    fps = models.FloatField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [
            models.Index(fields=["tenant", "-created_at"]),
            # LoadImage may name a file by its upload name, as ComfyUI workflows do.
            models.Index(fields=["tenant", "filename"]),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.filename})"
