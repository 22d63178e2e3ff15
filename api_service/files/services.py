"""Input file uploads: checked by content (not by name or declared type), then stored in S3.

Images are decoded with Pillow, videos with PyAV (every frame, bounded in size and length): a
file the api accepts is one a worker can load.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Collection
from dataclasses import dataclass

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db.models import Q
from PIL import Image, UnidentifiedImageError

from api_service.accounts.models import Tenant
from api_service.core import storage
from api_service.core.errors import ApiError
from api_service.core.ids import new_id
from api_service.files.models import File
from nodes.video.decode import VideoInfo, VideoLimits, VideoRejected, probe_video

IMAGE_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}


class NotAnImage(ApiError):
    """Pillow does not know the bytes: they may be a video."""


def file_upload(*, tenant: Tenant, upload: UploadedFile) -> File:
    if (upload.size or 0) > settings.FILE_UPLOAD_MAX_BYTES:
        raise ApiError(
            f"The file is {upload.size} bytes; the limit is {settings.FILE_UPLOAD_MAX_BYTES} bytes.",
            type="file_too_large",
            status=413,
        )
    data = upload.read()
    video: VideoInfo | None = None
    try:
        image_format, width, height = _inspect_image(data)
        content_type = IMAGE_FORMATS[image_format]
    except NotAnImage:
        video = _inspect_video(data)
        content_type, width, height = video.content_type, video.width, video.height
    file_id = new_id("file")
    filename = _safe_name(upload.name or "upload")
    key = f"tenants/{tenant.id}/files/{file_id}/{filename}"
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
        frames=video.frames if video else None,
        fps=video.fps if video else None,
        duration_seconds=video.duration_seconds if video else None,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _inspect_video(data: bytes) -> VideoInfo:
    """A video whose every frame decodes, within the frame size, frame count and total pixel bounds."""
    limits = VideoLimits(
        max_frame_pixels=settings.FILE_UPLOAD_MAX_PIXELS,
        max_frames=settings.FILE_UPLOAD_MAX_VIDEO_FRAMES,
        max_total_pixels=settings.FILE_UPLOAD_MAX_VIDEO_PIXELS,
    )
    try:
        return probe_video(data, limits)
    except VideoRejected as exc:
        if exc.kind == "too_large":
            raise ApiError(str(exc), type="video_too_large", status=413) from None
        if exc.kind == "unreadable":
            raise ApiError(
                "The file is not a readable image or video. Upload a PNG, JPEG, WebP, GIF, MP4, WebM, MOV or "
                "MKV.",
                type="invalid_file",
            ) from None
        raise ApiError(str(exc), type="invalid_video") from None


def _inspect_image(data: bytes) -> tuple[str, int, int]:
    """Format and size of an image that decodes whole; the header alone proves nothing.

    A PNG of 74 bytes may claim 8192x8192: it is refused here (400 `invalid_image`), not on a worker.
    The pixel bound is checked on the header, before anything is decoded.
    """
    try:
        probe = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise _too_large(None) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise NotAnImage("The file is not a readable image.", type="invalid_file") from None
    with probe:
        image_format, (width, height) = probe.format, probe.size
        if image_format not in IMAGE_FORMATS:
            raise ApiError(
                f"Image format {image_format} is not accepted. Upload a PNG, JPEG, WebP or GIF.",
                type="invalid_file",
            )
        if width * height > settings.FILE_UPLOAD_MAX_PIXELS:
            raise _too_large(f"{width}x{height}")
        try:
            probe.load()  # decodes every pixel of the (first) frame, as LoadImage will
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            raise ApiError(
                f"The {image_format} image ({width}x{height}) is truncated or corrupt: its pixels do "
                "not decode. Upload the file again, or export it anew.",
                type="invalid_image",
            ) from None
    return image_format, width, height


def _too_large(size: str | None) -> ApiError:
    what = f"The image is {size} pixels" if size else "The image has too many pixels"
    return ApiError(
        f"{what}; the limit is {settings.FILE_UPLOAD_MAX_PIXELS:,} pixels (width x height).",
        type="image_too_large",
        status=413,
    )


_ANNOTATION = re.compile(r" \[(input|output|temp)\]$")


def _safe_name(name: str) -> str:
    return _cleaned_name(name) or "upload"


def _cleaned_name(name: str) -> str:
    """The base name with only letters, digits, "-", "_" and "." (others as "_"), trimmed, cut to 120."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in base).strip("._")[:120]


@dataclass(frozen=True)
class ResolvedFile:
    key: str
    width: int
    height: int
    frames: int | None = None  # a video's; None for an image


def file_keys_for(*, tenant: Tenant, file_ids: Collection[str]) -> dict[str, str]:
    """reference -> object key for the tenant's files that `file_ids` name (see `files_resolve`)."""
    return {ref: found.key for ref, found in files_resolve(tenant=tenant, file_ids=file_ids).items()}


def files_resolve(*, tenant: Tenant, file_ids: Collection[str]) -> dict[str, ResolvedFile]:
    """reference -> the tenant's file it names, with its object key and size (others are simply absent).

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
        .values_list("id", "filename", "key", "width", "height", "frames")
    )
    by_name: dict[str, ResolvedFile] = {}
    by_id: dict[str, ResolvedFile] = {}
    for file_id, filename, key, width, height, frames in rows:  # oldest first: the latest name wins
        found = ResolvedFile(key, width, height, frames)
        for ref in names.get(filename, ()):
            by_name[ref] = found
        if file_id in refs:
            by_id[file_id] = found
    return {**by_name, **by_id}  # an id never resolves to another file that carries it as a name


def stored_name(reference: str) -> str:
    """The name an upload is stored under, for a name as a ComfyUI workflow writes it.

    ComfyUI may annotate the folder ("x.png [input]") or give a subfolder ("clipspace/x.png"); uploads
    keep only the base name, with characters other than letters, digits, "-", "_" and "." as "_".
    """
    return _cleaned_name(_ANNOTATION.sub("", reference))
