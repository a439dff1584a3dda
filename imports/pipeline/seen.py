"""The external ids already seen in one file, in bounded memory.

A dict of a million id strings costs ~150 MB; this open-addressing table keeps only each id's
64-bit hash and its first row in two flat arrays (12 bytes a slot, at most half full: ~24 MB for
1,000,000 ids). Two different ids share a 64-bit hash with a probability of about 3 in 100
million for a million-row file; that row would be reported as a repeat of the other.
"""

from array import array

EMPTY = 0


class SeenIds:
    def __init__(self, capacity: int = 1 << 12):
        self._allocate(capacity)

    def _allocate(self, capacity: int):
        self._keys = array("q", bytes(8 * capacity))
        self._rows = array("I", bytes(4 * capacity))
        self._mask = capacity - 1
        self._count = 0

    def __len__(self):
        return self._count

    @staticmethod
    def _key(external_id: str) -> int:
        # 0 marks an empty slot, so a hash of 0 is moved to 1.
        return hash(external_id) or 1

    def first_row(self, external_id: str, row: int) -> int | None:
        """The row that first carried `external_id`, or None after recording `row` as it."""
        key = self._key(external_id)
        keys, mask = self._keys, self._mask
        slot = key & mask
        while True:
            current = keys[slot]
            if current == EMPTY:
                break
            if current == key:
                return self._rows[slot]
            slot = (slot + 1) & mask
        keys[slot] = key
        self._rows[slot] = row
        self._count += 1
        if self._count * 2 > mask:
            self._grow()
        return None

    def _grow(self):
        old_keys, old_rows = self._keys, self._rows
        self._allocate((self._mask + 1) * 2)
        keys, rows, mask = self._keys, self._rows, self._mask
        for key, row in zip(old_keys, old_rows, strict=True):
            if key == EMPTY:
                continue
            slot = key & mask
            while keys[slot] != EMPTY:
                slot = (slot + 1) & mask
            keys[slot] = key
            rows[slot] = row
            self._count += 1
