"""A JSON list read one item at a time, with the standard library's decoder on a sliding
window: memory holds one item and a 1 MB read buffer, whatever the document's size.

Linear in the input: an item that does not fit the window doubles it before the decoder tries
again (growing by a fixed chunk re-parsed the item once per chunk, quadratic in its size), and
an item larger than INPUT_MAX_JSON_ITEM_BYTES (characters of text) is refused as soon as the
window holds that much of it. Integers longer than INPUT_MAX_NUMBER_DIGITS are kept as their
text (`OverlongNumber`), which the rules reject as a row error, instead of being converted
(Python refuses to convert more than 4,300 digits at all). ijson was considered: its errors
name no line or column, and the standard decoder is faster on rows of a few hundred bytes.
"""

import io
import json
from collections.abc import Iterator
from typing import BinaryIO

from django.conf import settings

from properties.limits import OverlongNumber

from .errors import FileRefused

CHUNK_BYTES = 1024 * 1024
_JSON_SPACE = " \t\n\r"


class _JsonBuffer:
    """A sliding window over a JSON text that remembers the line and column of its start, so
    a parse error names its place in the whole file."""

    def __init__(self, text):
        self.text = text
        self.buffer = ""
        self.pos = 0
        self.eof = False
        self.line = 1
        self.column = 1

    def more(self, *, grow: bool = False) -> bool:
        """Reads the next chunk; `grow` reads as much as the window holds unread, so an item
        that keeps not fitting doubles the window each time."""
        if self.eof:
            return False
        size = max(CHUNK_BYTES, len(self.buffer) - self.pos) if grow else CHUNK_BYTES
        chunk = self.text.read(size)
        if not chunk:
            self.eof = True
            return False
        consumed = self.buffer[: self.pos]
        newlines = consumed.count("\n")
        if newlines:
            self.line += newlines
            self.column = self.pos - consumed.rfind("\n")
        else:
            self.column += self.pos
        self.buffer = self.buffer[self.pos :] + chunk
        self.pos = 0
        return True

    def skip_space(self) -> str:
        """The next non-space character, or '' at the end of the file."""
        while True:
            while self.pos < len(self.buffer) and self.buffer[self.pos] in _JSON_SPACE:
                self.pos += 1
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if not self.more():
                return ""

    def refuse(self, message: str, pos: int | None = None):
        pos = self.pos if pos is None else pos
        before = self.buffer[:pos]
        newlines = before.count("\n")
        line = self.line + newlines
        column = pos - before.rfind("\n") if newlines else self.column + pos
        raise FileRefused(f"The file is not valid JSON: {message} at line {line}, column {column}.")


def _bounded_int(text: str):
    if len(text) > settings.INPUT_MAX_NUMBER_DIGITS + 1:  # a sign is no digit
        return OverlongNumber(text)
    return int(text)


def _refuse_large_item(window: _JsonBuffer, number: int, limit: int):
    window.refuse(
        f"item {number:,} of the list is larger than INPUT_MAX_JSON_ITEM_BYTES ({limit:,} "
        "characters); nothing was imported. It starts"
    )


def json_items(stream: BinaryIO, encoding: str) -> Iterator:
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding=encoding)
    decoder = json.JSONDecoder(parse_int=_bounded_int)
    limit = settings.INPUT_MAX_JSON_ITEM_BYTES
    window = _JsonBuffer(text)
    number = 0
    try:
        first = window.skip_space()
        if first != "[":
            if first in ("{", '"') or first.isdigit() or first in "-tfn":
                raise FileRefused("The JSON must be a list of objects, one per property.")
            window.refuse("Expecting value")
        window.pos += 1
        # "first" right after "[", "item" after a comma, "separator" after an item.
        state = "first"
        while True:
            char = window.skip_space()
            if char == "]" and state != "item":
                window.pos += 1
                break
            if not char:
                window.refuse(
                    "Expecting ',' delimiter" if state == "separator" else "Expecting value"
                )
            if state == "separator":
                if char != ",":
                    window.refuse("Expecting ',' delimiter")
                window.pos += 1
                state = "item"
                continue
            number += 1
            while True:
                try:
                    item, end = decoder.raw_decode(window.buffer, window.pos)
                except json.JSONDecodeError as exc:
                    if len(window.buffer) - window.pos > limit:
                        _refuse_large_item(window, number, limit)
                    if window.more(grow=True):
                        continue
                    window.refuse(exc.msg, exc.pos)
                except RecursionError:
                    raise FileRefused(
                        "The JSON is nested too deeply to be a list of rows."
                    ) from None
                # A number that ends exactly at the buffer's end may go on in the next chunk.
                if end == len(window.buffer) and window.more():
                    continue
                if end - window.pos > limit:
                    _refuse_large_item(window, number, limit)
                break
            window.pos = end
            state = "separator"
            yield item
        if window.skip_space():
            window.refuse("Extra data")
    finally:
        text.detach()
