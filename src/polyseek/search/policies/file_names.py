"""A query that names a file finds it: "harbour report" puts harbour-report.pdf first, whatever its text says.

People search their own collections by the names they gave their files. A file's name is in no signal: its
page may never say "report", a photo's pixels never say "temple". When every content word of a short text
query (at most :data:`MAX_NAME_WORDS`, BM25's tokens, so "the" and "of" do not count) is a word of a file's
name (its stem split at ``-``, ``_``, ``.``, spaces, letter/digit and camelCase boundaries, and its
extension: "harbour-report.pdf" typed as it is), that file's
best item moves to the top, ahead of everything the query found by content, in the order the search
ranked those files (a file no signal found is placed after the ones it did, by its best item in the text
space). A name word that many files share ("img", "scan", "2024") says nothing: when more than
:data:`MAX_NAMED_FILES` files match, nothing moves. A query with an image, "more like this", or a modality
filter that leaves out every named file's kind is untouched. The reranker leaves the named files in their
places (it reads passages, not names). ``SearchConfig.file_names`` turns it off.

People also say what kind of file they mean and how they own it: "photo of grace hopper", "Grace Hopper's
picture", "my notes about coffee". A possessive "s" and the :data:`FILLER` words never count against a name; and
when the words left after the ones naming a kind (:data:`polyseek.search.kind_prior.INSTRUCTION_KINDS`: photo,
notes, memo, video, pdf …) name files, the files of that kind are the named ones ("notes about coffee" lifts
coffee.md, not coffee.jpg).

The file names are read from the catalog once per change of its files table (an in-memory word → files
map), so a warm search pays a set intersection.
"""

from __future__ import annotations

import re
import threading
from pathlib import PurePath

import numpy as np

from polyseek.catalog import Catalog
from polyseek.search.calibration import kind_of
from polyseek.search.context import SearchContext
from polyseek.search.kind_prior import INSTRUCTION_KINDS, instruction_kinds
from polyseek.search.policies.base import BasePolicy
from polyseek.stores.base import matches
from polyseek.stores.memory import tokenize
from polyseek.types import Signal, item_id

MAX_NAME_WORDS = 4  # a longer query is a description, not a name
MAX_NAMED_FILES = 20  # more files than this share the words: they do not single a file out
# words that say how a person asks for a file, not what it is called (and the possessive "s" of "Hopper's")
FILLER = frozenset({"s", "my", "our", "me", "show", "find", "about", "from"})
KIND_WORDS = frozenset(INSTRUCTION_KINDS)
NAME_MARGIN = 0.01  # how far above the best content match a named file's item is placed (and one named file above the next)
_SPLIT = re.compile(r"[\W_]+|(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")


def name_words(path: str) -> set[str]:
    """The words of a file's name and its extension, as BM25 tokens.

    >>> sorted(name_words("/docs/harbour-report_2024.pdf"))
    ['2024', 'harbour', 'pdf', 'report']
    >>> sorted(name_words("/x/MyHolidayPhotos.JPG"))
    ['holiday', 'jpg', 'my', 'photos']
    """
    name = PurePath(path)
    words: set[str] = set(tokenize(name.suffix))
    for part in _SPLIT.split(name.stem):
        words.update(tokenize(part))
    return words


class FileNames:
    """Word → indexed file keys, rebuilt when the catalog's files change."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._lock = threading.Lock()
        self._version: object = None
        self._words: dict[str, set[str]] = {}
        self._items: dict[str, int] = {}

    def named(self, words: set[str]) -> dict[str, int]:
        """The files whose name holds every word, with their item counts."""
        with self._lock:
            version = self.catalog.files_version()
            if version != self._version:
                self._words, self._items = {}, {}
                for key, record in self.catalog.files().items():
                    if record.status != "ok" or not record.items:
                        continue
                    self._items[key] = record.items
                    for word in name_words(key):
                        self._words.setdefault(word, set()).add(key)
                self._version = version
            keys: set[str] | None = None
            for word in sorted(words, key=lambda w: len(self._words.get(w, ()))):
                found = self._words.get(word, set())
                keys = found if keys is None else keys & found
                if not keys:
                    return {}
            return {key: self._items[key] for key in keys or ()}


class FileNamesPolicy(BasePolicy):
    name = "file-names"

    def __init__(self, catalog: Catalog) -> None:
        self.names = FileNames(catalog)

    def after_fusion(self, ctx: SearchContext) -> None:
        query = ctx.query
        if not ctx.config.file_names or not query.has_text or query.has_image or query.like:
            return
        words = set(tokenize(query.text or "")) - FILLER
        if not words or len(words) > MAX_NAME_WORDS:
            return
        named = self.names.named(words)
        rest = words - KIND_WORDS
        if not named and rest and rest != words:  # "photo of grace hopper": the rest names the file, the kind its kind
            named = self._of_kinds(ctx, self.names.named(rest), instruction_kinds(query.text))
        if not named or len(named) > MAX_NAMED_FILES:
            return
        rows = ctx.rows.by_id([i for i, _ in ctx.fused])
        first_found: dict[str, int] = {}  # file key → position of its best item in the fused ranking
        for position, (item, _) in enumerate(ctx.fused):
            row = rows.get(item)
            if row is not None and row.doc in named and item not in ctx.excluded:
                first_found.setdefault(row.doc, position)
        leads: list[tuple[int, float, str]] = []  # (0: found by the search, 1: not; order within; item id)
        for key, items in named.items():
            if key in first_found:
                leads.append((0, float(first_found[key]), ctx.fused[first_found[key]][0]))
            elif (best := self._best_item(ctx, key, items)) is not None:
                leads.append((1, -best[1], best[0]))
        if not leads:
            return
        leads.sort()
        top = max((s for _, s in ctx.fused), default=0.0)
        lifted = {item: top + NAME_MARGIN * (len(leads) - n) for n, (_, _, item) in enumerate(leads)}
        ctx.fused = sorted([(i, s) for i, s in ctx.fused if i not in lifted] + list(lifted.items()),
                           key=lambda kv: (-kv[1], kv[0]))
        ctx.pinned.update(lifted)  # the reranker reads passages, not names: it must not move them back down
        ctx.state[self.name] = [item for _, _, item in leads]

    @staticmethod
    def _of_kinds(ctx: SearchContext, named: dict[str, int], kinds: tuple[str, ...]) -> dict[str, int]:
        """The named files whose items are of one of ``kinds`` (by their first item)."""
        if not named or not kinds or len(named) > MAX_NAMED_FILES:
            return {}
        rows = ctx.rows.by_id([item_id(key, 0) for key in named])
        return {key: n for key, n in named.items()
                if (row := rows.get(item_id(key, 0))) is not None and kind_of(row) in kinds}

    @staticmethod
    def _best_item(ctx: SearchContext, key: str, items: int) -> tuple[str, float] | None:
        """A named file no signal found: its item closest to the query in the text space (else its first one)
        among those the query's filters allow."""
        ids = [item_id(key, n) for n in range(items)]
        rows = ctx.rows.by_id(ids)
        allowed = [i for i in ids if i in rows and i not in ctx.excluded and matches(rows[i], ctx.query.filters)]
        if not allowed:
            return None
        vector = ctx.vectors.get(Signal.TEXT)
        if vector is None:
            return allowed[0], 0.0
        vectors = ctx.rows.get_vectors(Signal.TEXT.value, allowed)
        scored = [(i, float(np.dot(vectors[i], vector))) for i in allowed if i in vectors]
        return max(scored, key=lambda kv: kv[1]) if scored else (allowed[0], 0.0)
