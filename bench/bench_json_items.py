"""JSON import parsing: seconds to read one huge item of 6, 12, 26 and 52 MB through
`imports.jsonstream.json_items` (the item limit raised out of the way), beside `json.loads` of
the same text. Linear parsing shows as seconds doubling with the size.

Usage: python bench/bench_json_items.py   (no database needed)
"""

import io
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_URL", "sqlite:///:memory:")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from imports.jsonstream import json_items  # noqa: E402


def main():
    settings.INPUT_MAX_JSON_ITEM_BYTES = 10**12
    for megabytes in (5, 10, 20, 40):
        words = [f"word {n}" for n in range(megabytes * 1024 * 1024 // 12)]
        content = json.dumps([{"propertyid": "X", "notes": words}]).encode()
        started = time.perf_counter()
        count = sum(1 for _ in json_items(io.BytesIO(content), "utf-8"))
        streamed = time.perf_counter() - started
        started = time.perf_counter()
        json.loads(content)
        plain = time.perf_counter() - started
        print(
            f"item_mb={len(content) / 2**20:.0f} items={count} json_items_seconds={streamed:.2f} "
            f"json_loads_seconds={plain:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
