"""Valid rows on their way from the validation to a writer.

A forked validator hands its batches over pickled. Unpickling a batch row by row costs the
writer's process time on the path the database waits on (docs/imports.md gives the figure),
while the common batch (all new rows, written by COPY) needs only each row's prepared text and
the count. So a batch that crossed
the pipe keeps its rows packed, one bytes object, until something iterates them: a lookup, a
fallback, a report sample, the ORM writer.
"""

import json
import pickle
from collections.abc import Iterable, Iterator
from typing import NamedTuple

IMPORTED_GROUPS = ("basic_info", "planning_controls", "financial_metrics", "spatial_attributes")
ALL_GROUPS = (*IMPORTED_GROUPS, "environmental_factors")


class NewRow(NamedTuple):
    """A valid row the writer may store as a new property."""

    number: int
    values: list
    external_id: str
    #: One JSON text per ALL_GROUPS entry, "{}" for a group the file does not fill.
    group_texts: tuple
    #: What the writer's prepare() made of the row during validation, or None.
    prepared: object

    def groups(self) -> dict:
        return {
            group: json.loads(text)
            for group, text in zip(ALL_GROUPS, self.group_texts, strict=True)
        }


class BatchRows:
    """The valid rows of a `Batch`, NewRow tuples in file order. Pickled, it carries the
    prepared texts as a plain list and the rest of each row as plain tuples in one nested
    pickle, unpacked on first use."""

    __slots__ = ("_rows", "_packed", "_prepared")

    def __init__(self, rows: Iterable[NewRow] = ()):
        self._rows: list[NewRow] = list(rows)
        self._packed: bytes | None = None
        self._prepared: list | None = None

    def append(self, row: NewRow):
        self._unpacked().append(row)

    def __len__(self) -> int:
        return len(self._prepared) if self._packed is not None else len(self._rows)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __iter__(self) -> Iterator[NewRow]:
        return iter(self._unpacked())

    def __getitem__(self, index):
        return self._unpacked()[index]

    def prepared(self) -> list:
        """Each row's prepared text (None where no writer prepared it), without unpacking."""
        if self._packed is not None:
            return self._prepared
        return [row.prepared for row in self._rows]

    def _unpacked(self) -> list[NewRow]:
        if self._packed is not None:
            fields = pickle.loads(self._packed)
            self._rows = [
                NewRow(*row, prepared) for row, prepared in zip(fields, self._prepared, strict=True)
            ]
            self._packed = self._prepared = None
        return self._rows

    def __getstate__(self):
        rows = self._unpacked()
        # Plain tuples: a NamedTuple pickles as a class call per row, slower to load.
        packed = pickle.dumps([tuple(row[:4]) for row in rows], protocol=pickle.HIGHEST_PROTOCOL)
        return [row.prepared for row in rows], packed

    def __setstate__(self, state):
        self._prepared, self._packed = state
        self._rows = []
