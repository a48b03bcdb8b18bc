"""In-memory reference store (``memory://``): exact search with numpy, BM25 in pure Python."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from polyseek.stores.base import Row, check_vector, matches, stores
from polyseek.types import Filters

_TOKEN = re.compile(r"\w+", re.UNICODE)
STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these "
    "they this to was will with what which who how when where why does do did".split()
)


def tokenize(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text.lower()) if t not in STOP_WORDS]


def bm25_scores(query: str, docs: Sequence[str], k1: float = 1.2, b: float = 0.75) -> np.ndarray:
    """Okapi BM25 of ``query`` against each doc (the same formula Lucene/Tantivy use)."""
    tokenized = [tokenize(d) for d in docs]
    n_docs = len(tokenized)
    scores = np.zeros(n_docs, dtype=np.float64)
    if not n_docs:
        return scores
    avg_len = sum(len(t) for t in tokenized) / n_docs or 1.0
    df: Counter[str] = Counter()
    for tokens in tokenized:
        df.update(set(tokens))
    for term in set(tokenize(query)):
        if term not in df:
            continue
        idf = math.log(1 + (n_docs - df[term] + 0.5) / (df[term] + 0.5))
        for i, tokens in enumerate(tokenized):
            tf = tokens.count(term)
            if tf:
                scores[i] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(tokens) / avg_len))
    return scores


@stores.register("memory")
class MemoryStore:
    """Holds everything in dicts; the reference every backend is compared with."""

    def __init__(self, uri: str = "memory://") -> None:
        self.uri = uri
        self.spaces: dict[str, int] = {}
        self.rows: dict[str, Row] = {}

    def create(self, spaces: dict[str, int]) -> None:
        self.spaces.update(spaces)

    def upsert(self, rows: Sequence[Row]) -> None:
        checked = []
        for row in rows:
            vectors = {}
            for space, vector in row.vectors.items():
                if space not in self.spaces:
                    raise KeyError(f"unknown vector space {space!r}")
                vectors[space] = check_vector(space, vector, self.spaces[space], row.id)
            checked.append(Row(**{**row.__dict__, "vectors": vectors}))
        for row in checked:  # all validated first: the batch lands whole or not at all
            self.rows[row.id] = row

    def delete(self, *, ids: Sequence[str] = (), docs: Sequence[str] = ()) -> None:
        doc_set = set(docs)
        for row_id in list(ids):
            self.rows.pop(row_id, None)
        if doc_set:
            for row_id in [r.id for r in self.rows.values() if r.doc in doc_set]:
                del self.rows[row_id]

    def search(self, space: str, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        candidates = [r for r in self.rows.values() if space in r.vectors and matches(r, filters)]
        if not candidates:
            return []
        matrix = np.stack([r.vectors[space] for r in candidates])
        scores = matrix @ np.asarray(vector, dtype=np.float32).reshape(-1)
        order = sorted(range(len(candidates)), key=lambda i: (-scores[i], candidates[i].id))[:k]
        return [(candidates[i].id, float(scores[i])) for i in order]

    def text_search(self, text: str, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        candidates = [r for r in self.rows.values() if r.text and matches(r, filters)]
        scores = bm25_scores(text, [r.text for r in candidates])
        order = sorted((i for i in range(len(candidates)) if scores[i] > 0), key=lambda i: (-scores[i], candidates[i].id))
        return [(candidates[i].id, float(scores[i])) for i in order[:k]]

    def get(self, ids: Sequence[str]) -> list[Row]:
        return [Row(**{**self.rows[i].__dict__, "vectors": {}}) for i in ids if i in self.rows]

    def get_vectors(self, space: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
        return {i: self.rows[i].vectors[space] for i in ids if i in self.rows and space in self.rows[i].vectors}

    def count(self) -> int:
        return len(self.rows)

    def optimize(self) -> None:
        pass

    def close(self) -> None:
        pass
