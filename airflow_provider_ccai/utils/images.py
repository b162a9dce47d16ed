"""Recognising the image formats CCAI accepts for MMS, by content."""

from __future__ import annotations

MAX_MMS_BYTES = 1_048_576

#: MIME type -> (magic prefixes, file extension)
MMS_IMAGE_TYPES: dict[str, tuple[tuple[bytes, ...], str]] = {
    "image/jpeg": ((b"\xff\xd8\xff",), "jpg"),
    "image/png": ((b"\x89PNG\r\n\x1a\n",), "png"),
    "image/gif": ((b"GIF87a", b"GIF89a"), "gif"),
}


def sniff_image_type(content: bytes) -> str | None:
    """
    Return the MIME type of ``content`` if it is a JPEG, PNG or GIF, else ``None``.

    :param content: the file's bytes.
    """
    for mime_type, (magics, _) in MMS_IMAGE_TYPES.items():
        if content.startswith(magics):
            return mime_type
    return None


def extension_matches(file_name: str, mime_type: str) -> bool:
    """
    Return whether ``file_name`` ends with an extension of ``mime_type`` (``.jpg`` or ``.jpeg`` for JPEG).

    :param file_name: a file name as given.
    :param mime_type: one of :data:`MMS_IMAGE_TYPES`.
    """
    extension = file_name.rpartition(".")[2].lower() if "." in file_name else ""
    return extension == extension_for(mime_type) or (mime_type == "image/jpeg" and extension == "jpeg")


def extension_for(mime_type: str) -> str:
    """
    Return the file extension CCAI file names use for ``mime_type``.

    :param mime_type: one of :data:`MMS_IMAGE_TYPES`.
    """
    return MMS_IMAGE_TYPES[mime_type][1]
