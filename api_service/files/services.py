"""Input file uploads: checked by content (not by name or declared type), then stored in S3."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Collection

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db.models import Q
from PIL import Image, UnidentifiedImageError

from api_service.accounts.models import Tenant
from api_service.core import storage
from api_service.core.errors import ApiError
from api_service.core.ids import new_id
from api_service.files.models import File

IMAGE_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}


def file_upload(*, tenant: Tenant, upload: UploadedFile) -> File:
    if upload.size > settings.FILE_UPLOAD_MAX_BYTES:
        raise ApiError(
            f"The file is {upload.size} bytes; the limit is {settings.FILE_UPLOAD_MAX_BYTES} bytes.",
            type="file_too_large",
            status=413,
        )
    data = upload.read()
    image_format, width, height = _inspect_image(data)
    file_id = new_id("file")
    filename = _safe_name(upload.name or "upload")
    key = f"tenants/{tenant.id}/files/{file_id}/{filename}"
    content_type = IMAGE_FORMATS[image_format]
    storage.object_put(key=key, data=data, content_type=content_type)
    return File.objects.create(
        id=file_id,
        tenant=tenant,
        key=key,
        filename=filename,
        content_type=content_type,
        size_bytes=len(data),
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _inspect_image(data: bytes) -> tuple[str, int, int]:
    try:
        with Image.open(io.BytesIO(data)) as probe:
            image_format, (width, height) = probe.format, probe.size
            if width * height > settings.FILE_UPLOAD_MAX_PIXELS:
                raise ApiError(
                    f"The image is {width}x{height}; the limit is {settings.FILE_UPLOAD_MAX_PIXELS} pixels.",
                    type="image_too_large",
                    status=413,
                )
            probe.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ApiError(
            "The file is not a readable image. Upload a PNG, JPEG, WebP or GIF.", type="invalid_file"
        ) from None
    if image_format not in IMAGE_FORMATS:
        raise ApiError(
            f"Image format {image_format} is not accepted. Upload a PNG, JPEG, WebP or GIF.",
            type="invalid_file",
        )
    return image_format, width, height


_ANNOTATION = re.compile(r" \[(input|output|temp)\]$")


def _safe_name(name: str) -> str:
    return _cleaned_name(name) or "upload"


def _cleaned_name(name: str) -> str:
    """The base name with only letters, digits, "-", "_" and "." (others as "_"), trimmed, cut to 120."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in base).strip("._")[:120]


def file_keys_for(*, tenant: Tenant, file_ids: Collection[str]) -> dict[str, str]:
    """reference -> object key for the tenant's files that `file_ids` name (others are simply absent).

    A reference is a file id or, as in ComfyUI's ``"image": "example.png"``, the name a file was
    uploaded under (compared as it was stored: see `stored_name`); a name uploaded more than once
    means the latest upload.
    """
    refs = list(file_ids)
    names: dict[str, list[str]] = {}
    for ref in refs:
        name = stored_name(ref)
        if name:  # a reference with nothing left of a name ("/", "???") names no upload
            names.setdefault(name, []).append(ref)
    rows = (
        File.objects.filter(tenant=tenant)
        .filter(Q(id__in=refs) | Q(filename__in=list(names)))
        .order_by("created_at")
        .values_list("id", "filename", "key")
    )
    by_name: dict[str, str] = {}
    by_id: dict[str, str] = {}
    for file_id, filename, key in rows:  # oldest first, so the latest upload of a name wins
        for ref in names.get(filename, ()):
            by_name[ref] = key
        if file_id in refs:
            by_id[file_id] = key
    return {**by_name, **by_id}  # an id never resolves to another file that carries it as a name


def stored_name(reference: str) -> str:
    """The name an upload is stored under, for a name as a ComfyUI workflow writes it.

    ComfyUI may annotate the folder ("x.png [input]") or give a subfolder ("clipspace/x.png"); uploads
    keep only the base name, with characters other than letters, digits, "-", "_" and "." as "_".
    """
    return _cleaned_name(_ANNOTATION.sub("", reference))
