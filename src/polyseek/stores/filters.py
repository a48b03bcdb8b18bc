"""One compiler from :class:`~polyseek.types.Filters` to a store's filter expression, with a dialect per backend.

LanceDB speaks SQL (``path LIKE '…' ESCAPE '\\'``, ``modality IN ('a', 'b')``); Milvus its own boolean
expressions (``path like "…"``, ``modality in ["a", "b"]``). Both get the same clauses from here. A glob that
a dialect's ``LIKE`` cannot express exactly (a ``[...]`` class; for Milvus also a literal ``%``/``_``/``\\``,
which it cannot escape, milvus-docs#2525) compiles to a looser pattern plus ``post_glob``, which the store
checks with :func:`fnmatch.fnmatchcase` on what comes back (the reference semantics, ``stores.base.matches``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from polyseek.types import Filters


def sql_quote(value: str) -> str:
    """An SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def milvus_quote(value: str) -> str:
    """A Milvus expression string literal (C-style escapes)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return '"' + escaped.replace("\t", "\\t") + '"'


def glob_to_like(pattern: str, *, can_escape: bool) -> tuple[str, bool]:
    """An fnmatch glob as a ``LIKE`` pattern, and whether it is looser than the glob (then post-filter).

    ``*`` → ``%``, ``?`` → ``_``; a ``[...]`` class becomes ``_`` (any one character, loose). A literal ``%``,
    ``_`` or ``\\`` is escaped where the dialect can (``can_escape``), else becomes ``_`` (loose).

    >>> glob_to_like("/photos/*.jp?", can_escape=True)
    ('/photos/%.jp_', False)
    >>> glob_to_like("/a/[ab]_x", can_escape=False)
    ('/a/__x', True)
    """
    out, loose, i = [], False, 0
    while i < len(pattern):
        ch = pattern[i]
        close = -1
        if ch == "[":  # a class as fnmatch reads it: "]" right after "[" or "[!" is a member, not the end
            j = i + 1 + (pattern[i + 1:i + 2] == "!")
            close = pattern.find("]", j + (pattern[j:j + 1] == "]"))
        if ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        elif close != -1:
            out.append("_")
            loose = True
            i = close
        elif ch in "%_\\":
            if can_escape:
                out.append("\\" + ch)
            else:
                out.append("_")
                loose = True
        else:
            out.append(ch)
        i += 1
    return "".join(out), loose


@dataclass(frozen=True)
class Dialect:
    """How one backend writes the clauses."""

    name: str
    quote: Callable[[str], str]
    like: str  # format with {pattern}
    member: str  # format with {column} and {values}
    conjunction: str
    has_vector: str  # format with {space}
    can_escape: bool


LANCE = Dialect("lancedb", sql_quote, "path LIKE {pattern} ESCAPE '\\'", "{column} IN ({values})", " AND ",
                "has_{space} = true", can_escape=True)
MILVUS = Dialect("milvus", milvus_quote, "path like {pattern}", "{column} in [{values}]", " and ",
                 "has_{space} == true", can_escape=False)


@dataclass(frozen=True)
class Compiled:
    """A filter expression (``None``: no condition) and the glob still to check exactly on results, if any."""

    expression: str | None
    post_glob: str | None = None


def compile_filters(filters: Filters | None, dialect: Dialect, space: str | None = None) -> Compiled:
    """``filters`` (and, with ``space``, "has a vector there") as one expression in ``dialect``."""
    clauses: list[str] = []
    post_glob = None
    if space is not None:
        clauses.append(dialect.has_vector.format(space=space))
    if filters is not None:
        if filters.path_glob:
            pattern, loose = glob_to_like(filters.path_glob, can_escape=dialect.can_escape)
            clauses.append(dialect.like.format(pattern=dialect.quote(pattern)))
            post_glob = filters.path_glob if loose else None
        if filters.file_types:
            values = ", ".join(dialect.quote(t) for t in filters.file_types)
            clauses.append(dialect.member.format(column="ext", values=values))
        if filters.modalities:
            values = ", ".join(dialect.quote(m.value) for m in filters.modalities)
            clauses.append(dialect.member.format(column="modality", values=values))
        if filters.date_from is not None:
            clauses.append(f"date >= {float(filters.date_from)!r}")
        if filters.date_to is not None:
            clauses.append(f"date <= {float(filters.date_to)!r}")
    return Compiled(dialect.conjunction.join(clauses) or None, post_glob)
