"""The snapshot store's row reader gives the values pyarrow's own conversion gives (nulls, offsets, UTF-8)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from polyseek.stores.snapshot import ColumnReader


def test_rows_read_from_the_buffers_equal_pyarrows():
    rng = np.random.default_rng(3)
    n = 997
    words = ["", "harbour", "café ☕", "日本語のテキスト", '{"page": 3}', "x" * 300]
    text = [None if rng.random() < 0.1 else str(rng.choice(words)) for _ in range(n)]
    date = [None if rng.random() < 0.1 else float(rng.normal()) for _ in range(n)]
    table = pa.table({"id": [f"r{i:05d}" for i in range(n)], "text": pa.array(text, pa.string()),
                      "date": pa.array(date, pa.float64())})
    for part in (table, table.slice(37, 700)):  # a slice: arrays that start at an offset into their buffers
        reader = ColumnReader.of(part)
        assert reader is not None
        positions = rng.choice(len(part), 200, replace=False).tolist() + [0, len(part) - 1]
        assert reader.records(positions) == [part.slice(p, 1).to_pylist()[0] for p in positions]
        assert reader.records([]) == []


def test_other_columns_are_left_to_pyarrow():
    assert ColumnReader.of(pa.table({"n": pa.array([1, 2], pa.int64())})) is None
    chunked = pa.concat_tables([pa.table({"s": ["a"]}), pa.table({"s": ["b"]})])
    assert ColumnReader.of(chunked) is None
