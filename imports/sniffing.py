"""What kind of file an upload is: its format from the first bytes and the name, and a text
file's encoding, checked over the whole file before any row is read."""

import codecs
from pathlib import PurePath
from typing import BinaryIO

from .errors import FileRefused

SNIFF_BYTES = 64 * 1024
CHUNK_BYTES = 1024 * 1024
ENCODING_NAMES = {"utf-8-sig": "UTF-8", "cp1252": "Windows-1252", "utf-16": "UTF-16"}


def detect_format(head: bytes, file_name: str) -> str:
    suffix = PurePath(file_name or "").suffix.lower()
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if suffix == ".xlsx":
        raise FileRefused("The file has an .xlsx name but is not an Excel workbook.")
    if suffix in {".xls", ".ods", ".numbers"}:
        raise FileRefused(
            f"{suffix} files are not supported: save the sheet as XLSX or CSV and upload that."
        )
    stripped = head.lstrip(codecs.BOM_UTF8).lstrip()
    if suffix == ".json" or stripped[:1] in (b"[", b"{"):
        return "json"
    return "csv"


def _looks_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    controls = sum(1 for byte in head if byte < 32 and byte not in b"\t\r\n\x0c")
    return bool(head) and controls / len(head) > 0.05


def _decode_all(stream: BinaryIO, encoding: str) -> None:
    decoder = codecs.getincrementaldecoder(encoding)()
    stream.seek(0)
    try:
        while chunk := stream.read(CHUNK_BYTES):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    finally:
        stream.seek(0)


def text_encoding(stream: BinaryIO, head: bytes) -> str:
    """UTF-16 when the file starts with its BOM (Excel's "Unicode text" export, full of NUL
    bytes but not binary); else UTF-8, with or without BOM, when the whole file decodes as UTF-8;
    else Windows-1252.

    One streaming pass per candidate, so a bad byte at the end of a large file is found before
    any row is read, not half-way through the import."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ("utf-16",)
    elif _looks_binary(head):
        raise FileRefused(
            "The file looks binary (an image, archive or database?), not CSV, XLSX or JSON."
        )
    else:
        candidates = ("utf-8-sig", "cp1252")
    first_error = None
    for encoding in candidates:
        try:
            _decode_all(stream, encoding)
        except UnicodeDecodeError as exc:
            first_error = first_error or exc
            continue
        return encoding
    names = " nor ".join(ENCODING_NAMES[encoding] for encoding in candidates)
    raise FileRefused(
        f"The file is {'neither ' if len(candidates) > 1 else 'not '}{names} text "
        f"({first_error.reason} at byte {first_error.start}). Save it as UTF-8 CSV."
    )
