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


def looks_content_addressed(file_name: str) -> bool:
    """
    Return whether ``file_name`` has the form of a default, content-addressed name: ``<md5>[-private].<ext>``.

    :param file_name: a file name as given.
    """
    stem, _, extension = file_name.lower().rpartition(".")
    digest = stem.removesuffix("-private")
    extensions = {known for _, known in MMS_IMAGE_TYPES.values()}
    return extension in extensions and len(digest) == 32 and all(char in "0123456789abcdef" for char in digest)


def is_complete_image(content: bytes, mime_type: str) -> bool:
    """
    Return whether ``content`` holds a whole image of ``mime_type``, walking its structure to the end marker.

    A file cut short (an interrupted copy or download) passes a magic-number check but would reach
    recipients as a half-drawn or broken picture; this catches it before anything is sent. A file that
    ends properly but holds no image data at all (no PNG ``IDAT``, JPEG scan or GIF image) is refused too.

    :param content: the file's bytes, already recognised by :func:`sniff_image_type`.
    :param mime_type: one of :data:`MMS_IMAGE_TYPES`.
    """
    walkers = {"image/jpeg": _jpeg_ends, "image/png": _png_ends, "image/gif": _gif_ends}
    try:
        return walkers[mime_type](content)
    except (IndexError, ValueError):  # a length or block points past the end, or a scan has no end marker
        return False


def _png_ends(content: bytes) -> bool:
    """Follow PNG chunk lengths from the signature to the ``IEND`` chunk, with image data (``IDAT``) before it."""
    position, has_image_data = 8, False
    while position + 12 <= len(content):
        length = int.from_bytes(content[position : position + 4], "big")
        chunk_type = content[position + 4 : position + 8]
        position += 12 + length
        if position > len(content):
            return False
        if chunk_type == b"IEND":
            return has_image_data
        has_image_data = has_image_data or chunk_type == b"IDAT"
    return False


def _jpeg_ends(content: bytes) -> bool:
    """Follow JPEG marker segments (and entropy-coded scans) from SOI to the EOI marker, with a scan before it."""
    position, has_scan = 2, False
    while True:
        position = content.index(b"\xff", position)  # like libjpeg, step over stray bytes before a marker
        while content[position + 1] == 0xFF:  # fill bytes before a marker
            position += 1
        marker = content[position + 1]
        if marker == 0xD9:  # EOI
            return has_scan
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # standalone markers
            position += 2
            continue
        segment_end = position + 2 + int.from_bytes(content[position + 2 : position + 4], "big")
        if segment_end > len(content):
            return False
        if marker == 0xDA:  # start of scan: entropy-coded data follows its header
            position, has_scan = _scan_end(content, segment_end), True
        else:
            position = segment_end


def _scan_end(content: bytes, position: int) -> int:
    """Return where the entropy-coded data starting at ``position`` ends: the next marker that is not RSTn."""
    while True:
        position = content.index(b"\xff", position)
        following = content[position + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:  # a stuffed 0xFF byte or a restart marker
            position += 2
        elif following == 0xFF:  # fill byte
            position += 1
        else:
            return position


def _gif_ends(content: bytes) -> bool:
    """
    Follow GIF blocks from the logical screen descriptor to the trailer byte, with an image before it.

    A GIF without its trailer is refused too, though some decoders show it: it cannot be told apart
    from an animation cut short between two frames.
    """
    position, has_image = 13 + _color_table_size(content[10]), False
    while True:
        introducer = content[position]
        if introducer == 0x3B:  # trailer
            return has_image
        if introducer == 0x00:  # a stray byte between blocks, which decoders step over
            position += 1
        elif introducer == 0x21:  # extension: introducer, label, data sub-blocks
            position = _sub_blocks_end(content, position + 2)
        elif introducer == 0x2C:  # image: descriptor, local colour table, LZW code size, data sub-blocks
            position += 10 + _color_table_size(content[position + 9])
            position, has_image = _sub_blocks_end(content, position + 1), True
        else:
            return False


def _color_table_size(packed_fields: int) -> int:
    """Return the size in bytes of the colour table a GIF descriptor's packed fields announce."""
    return 3 * 2 ** ((packed_fields & 0x07) + 1) if packed_fields & 0x80 else 0


def _sub_blocks_end(content: bytes, position: int) -> int:
    """Return the position after the GIF data sub-blocks starting at ``position`` (ended by a 0 size)."""
    while size := content[position]:
        position += 1 + size
    return position + 1
