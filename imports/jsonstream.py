"""A JSON list read one item at a time, with the standard library's decoder on a sliding
window: memory holds one item and a 1 MB read buffer, whatever the document's size."""

import io
import json
from collections.abc import Iterator
from typing import BinaryIO

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

    def more(self) -> bool:
        if self.eof:
            return False
        chunk = self.text.read(CHUNK_BYTES)
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


def json_items(stream: BinaryIO, encoding: str) -> Iterator:
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding=encoding)
    decoder = json.JSONDecoder()
    window = _JsonBuffer(text)
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
            while True:
                try:
                    item, end = decoder.raw_decode(window.buffer, window.pos)
                except json.JSONDecodeError as exc:
                    if window.more():
                        continue
                    window.refuse(exc.msg, exc.pos)
                except RecursionError:
                    raise FileRefused(
                        "The JSON is nested too deeply to be a list of rows."
                    ) from None
                # A number that ends exactly at the buffer's end may go on in the next chunk.
                if end == len(window.buffer) and window.more():
                    continue
                break
            window.pos = end
            state = "separator"
            yield item
        if window.skip_space():
            window.refuse("Extra data")
    finally:
        text.detach()
