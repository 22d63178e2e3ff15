from __future__ import annotations

from django.contrib import admin

from api_service.files.models import File


@admin.register(File)
class FileAdmin(admin.ModelAdmin):
    list_display = ("id", "filename", "tenant", "content_type", "width", "height", "size_bytes", "created_at")
    list_filter = ("tenant", "content_type")
    search_fields = ("id", "filename")
    readonly_fields = [f.name for f in File._meta.fields]
