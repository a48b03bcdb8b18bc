"""Query rewriting for search: a generator model turns a query into a few retrieval queries (``--expand``).

:func:`expander_for` gives :class:`polyseek.search.policies.expansion.ExpansionPolicy` its rewriter; the policy
searches each rewritten query and fuses the candidates. Rewrites are cached per (model, query).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from polyseek.errors import InvalidInputError
from polyseek.rag.base import load_generator, resolve_spec

N_QUERIES = 3
MAX_TOKENS = 96
MAX_CHARS = 200  # a rewritten query longer than this is a paragraph, not a query
CACHE_SIZE = 512
SYSTEM = ("You rewrite search queries for a document search engine. Given a query, write {n} different short "
          "search queries that would find the pages answering it: use synonyms, the names and key terms such a page "
          "would contain, and drop filler words. One query per line, no numbering, nothing else.")
_TAGS = re.compile(r"<+/?[A-Za-z_|]{1,20}>*|\[/?INST\]|<\|[^|>]{1,30}\|>")
_JUNK = re.compile(r"https?://|www\.|<URI>", re.IGNORECASE)
_LEADER = re.compile(r"^\s*(?:(?:[-*•]+|\d{1,2}[.):]|(?:search\s+|rewritten\s+)?quer(?:y|ies)\s*\d*\s*:)\s*)+", re.IGNORECASE)


def expansion_messages(query: str, n: int = N_QUERIES) -> list[dict[str, Any]]:
    return [{"role": "system", "content": SYSTEM.format(n=n)}, {"role": "user", "content": f"Query: {query}\nSearch queries:"}]


def parse_rewrites(reply: str, query: str, n: int = N_QUERIES) -> list[str]:
    """The model's reply as at most ``n`` distinct queries: list markers and quotes stripped, the original query,
    empty lines, lines longer than :data:`MAX_CHARS` and lines sharing no letters with a query dropped.

    >>> parse_rewrites('1. "annual revenue 2015"\\n2. Query: total sales 2015\\n\\nannual revenue 2015', "revenue in 2015")
    ['annual revenue 2015', 'total sales 2015']
    """
    original = " ".join(query.lower().split())
    out: list[str] = []
    for line in reply.splitlines():
        if _JUNK.search(line):  # a URL or a web address: not a query (a small base model writes these)
            continue
        line = _TAGS.sub(" ", line)  # chat-template and markup tokens a base model echoes: <<SYS>>, [INST], <USER>
        text = _LEADER.sub("", line).strip().strip("\"'`“”").strip()
        text = " ".join(text.split())
        key = text.lower().rstrip("?.")
        if not text or len(text) > MAX_CHARS or not re.search(r"[a-zA-Z0-9]", text):
            continue
        if key == original.rstrip("?.") or key in (o.lower().rstrip("?.") for o in out):
            continue
        out.append(text)
        if len(out) >= n:
            break
    return out


class GeneratorExpander:
    """Rewrites queries with a generator's ``chat`` (``llama-cpp``, ``openai``); replies are cached."""

    def __init__(self, generator: Any, n: int = N_QUERIES) -> None:
        if not callable(getattr(generator, "chat", None)):
            raise InvalidInputError(f"query expansion needs a model generator; {generator.name!r} cannot rewrite queries",
                                    hint="--expand with --generator llama-cpp:gemma or openai:<model>@<base_url>")
        self.generator = generator
        self.n = n
        self._cache: OrderedDict[str, list[str]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, query: str) -> list[str]:
        key = " ".join(query.split())
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return list(self._cache[key])
        reply = "".join(self.generator.chat(expansion_messages(key, self.n), max_tokens=MAX_TOKENS))
        rewrites = parse_rewrites(reply, key, self.n)
        with self._lock:
            self._cache[key] = rewrites
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return list(rewrites)


_expanders: dict[str, GeneratorExpander] = {}


def expander_for(spec: str | None) -> Callable[[str], list[str]]:
    """The query rewriter for a generator spec (``None``: ``$POLYSEEK_GENERATOR``), loaded once."""
    resolved = resolve_spec(spec)
    if resolved not in _expanders:
        _expanders[resolved] = GeneratorExpander(load_generator(resolved))
    return _expanders[resolved]
