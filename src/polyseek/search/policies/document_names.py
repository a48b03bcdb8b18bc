"""A question that names a document by a word of its file name lifts that document's pages, typos forgiven.

A question about a report often names it the way its file is named ("what is the research and development
expense of Neflix in FY 2015?" over ``NETFLIX_2015_10K.pdf``), while the page holding the answer is a table that
never says "Netflix". In a collection of many reports, pages of *other* reports that share the question's
generic words ("expense", "FY 2015") then push the right page out of the first ten. File names are in no
signal. :mod:`~polyseek.search.policies.file_names` pins a file only when a short query is nothing but its name;
this policy reads longer questions too, and only nudges: every page and region candidate of a named document
gets ``SearchConfig.document_names`` times the spread of the document scores (the best document candidate's
fused score minus that of the one :data:`SPREAD_RANK` places below it), so the nudge means the same under rank fusion (own pool,
scores ~0.01) and under calibrated evidence (universal pool, z ~1–5), and evidence can still outvote it.

A query word names a file when it equals a word of the file's name (its stem split as file_names splits it;
words of at least :data:`MIN_WORD` letters, no numbers, not the extension), or two adjacent query words joined
do ("Ulta Beauty" → ``ULTABEAUTY_...``), or, for words of at least :data:`MIN_FUZZY` letters, one deletion on
each side makes them equal (a typo: "Neflix", "Netfilx"). A query word that names more than
:data:`MAX_FILES_PER_WORD` files ("report", "annual") says nothing and is skipped. Only candidates the search
already found are lifted; an image query, "more like this" and a short query the file-names rule already
handled are untouched. The weight (0.25) and the limits were chosen on the dev half of the 6,467-item universal
pool (docs/universal.md); 0 turns the policy off.
"""

from __future__ import annotations

import threading
from pathlib import PurePath

from polyseek.catalog import Catalog
from polyseek.search.calibration import kind_of
from polyseek.search.context import SearchContext
from polyseek.search.policies.base import BasePolicy
from polyseek.search.policies.file_names import _SPLIT
from polyseek.stores.memory import tokenize

MIN_WORD = 4  # shorter name words ("q4", "10k", "ir") name nothing reliably
MIN_FUZZY = 5  # words this long may differ by a typo (one deletion on each side)
MAX_FILES_PER_WORD = 3  # a query word matching more files than this is generic
SPREAD_RANK = 50  # the spread: the best document candidate's score minus the one this many places below it


def document_words(path: str) -> set[str]:
    """The words of a file's stem that can name it: BM25 tokens of at least :data:`MIN_WORD` letters, no numbers.

    >>> sorted(document_words("/r/NETFLIX_2015_10K.pdf"))
    ['netflix']
    >>> sorted(document_words("/r/ULTABEAUTY_2023Q4_EARNINGS.pdf"))
    ['earnings', 'ultabeauty']
    """
    words: set[str] = set()
    for part in _SPLIT.split(PurePath(path).stem):
        words.update(w for w in tokenize(part) if len(w) >= MIN_WORD and not any(c.isdigit() for c in w))
    return words


def deletions(word: str) -> set[str]:
    """The word and every form of it with one letter left out.

    >>> sorted(deletions("abc"))
    ['ab', 'abc', 'ac', 'bc']
    """
    return {word} | {word[:i] + word[i + 1:] for i in range(len(word))}


class DocumentNames:
    """Name word → files and one-deletion key → name words, rebuilt when the catalog's files change."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._lock = threading.Lock()
        self._version: object = None
        self._files: dict[str, set[str]] = {}
        self._fuzzy: dict[str, set[str]] = {}

    def _refresh(self) -> None:
        version = self.catalog.files_version()
        if version == self._version:
            return
        files: dict[str, set[str]] = {}
        for key, record in self.catalog.files().items():
            if record.status == "ok" and record.items:
                for word in document_words(key):
                    files.setdefault(word, set()).add(key)
        fuzzy: dict[str, set[str]] = {}
        for word in files:
            if len(word) >= MIN_FUZZY:
                for variant in deletions(word):
                    fuzzy.setdefault(variant, set()).add(word)
        self._files, self._fuzzy, self._version = files, fuzzy, version

    def named(self, text: str) -> set[str]:
        """The files the query's words name (each word naming at most :data:`MAX_FILES_PER_WORD` files)."""
        tokens = tokenize(text)
        candidates = set(tokens) | {a + b for a, b in zip(tokens, tokens[1:])}
        out: set[str] = set()
        with self._lock:
            self._refresh()
            for token in candidates:
                words = {token} if token in self._files else set()
                if len(token) >= MIN_FUZZY:
                    for variant in deletions(token):
                        words |= {w for w in self._fuzzy.get(variant, ()) if abs(len(w) - len(token)) <= 1}
                files = {f for w in words for f in self._files.get(w, ())}
                if len(files) <= MAX_FILES_PER_WORD:
                    out |= files
        return out


class DocumentNamesPolicy(BasePolicy):
    name = "document-names"

    def __init__(self, catalog: Catalog) -> None:
        self.names = DocumentNames(catalog)

    def after_fusion(self, ctx: SearchContext) -> None:
        query = ctx.query
        weight = ctx.config.document_names
        if not weight or not ctx.fused or not query.has_text or query.has_image or query.like:
            return
        if ctx.state.get("file-names"):
            return  # a short query that is a file's name: that file is already pinned first
        named = self.names.named(query.text or "")
        if not named:
            return
        rows = ctx.rows.by_id([i for i, _ in ctx.fused])
        documents = [(i, s) for i, s in ctx.fused if i in rows and kind_of(rows[i]) == "document"]
        lifted = {i for i, _ in documents if rows[i].doc in named}
        if not lifted:
            return
        scores = sorted((s for _, s in documents), reverse=True)
        spread = scores[0] - scores[min(SPREAD_RANK, len(scores) - 1)]
        if spread <= 0:
            return
        lift = weight * spread
        ctx.fused = sorted([(i, s + lift if i in lifted else s) for i, s in ctx.fused], key=lambda kv: (-kv[1], kv[0]))
        ctx.state[self.name] = sorted(named)
