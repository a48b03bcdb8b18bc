"""Page retrieval evaluation on a folder of PDFs and questions (MMLongBench-Doc layout), through the Engine.

``DIR/documents/*.pdf`` are indexed with the product's PDF ingestion; each question in
``DIR/queries.jsonl`` (qid, question, doc_id, evidence_pages 1-based) is asked twice with
``Engine.search``: within its own document (a path filter) and across the whole corpus. Pages come
back aggregated from page and region items, as users see them. Metrics per question, then means:

- ``recall@k``: fraction of the question's evidence pages in the top k;
- ``hit@k``: 1 if at least one evidence page is in the top k;
- ``ndcg@5``: binary-relevance nDCG over the top 5; ``mrr@10``: 1/rank of the first evidence page (0 past 10).

Questions are split by document (a hash of ``doc_id``) into a ``tune`` half, used to choose the shipped
defaults, and a ``test`` half that never informed them; the report gives both halves and all questions.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from polyseek.catalog import file_key
from polyseek.engine import Engine
from polyseek.errors import InvalidInputError
from polyseek.types import Filters, Modality, QueryPart, Signal


class _Question(Protocol):
    @property
    def doc_id(self) -> str: ...
    @property
    def split(self) -> str: ...


Q = TypeVar("Q", bound=_Question)

KS = (1, 5, 10)
METRICS = ("recall@1", "recall@5", "recall@10", "hit@1", "hit@5", "hit@10", "ndcg@5", "mrr@10")
TASKS = ("within_document", "corpus")
SPLIT_SALT = "polyseek"
DEFINITIONS = {
    "recall@k": "fraction of the question's evidence pages among the top k pages, averaged over questions",
    "hit@k": "1 if any evidence page is among the top k pages, averaged over questions",
    "ndcg@5": "nDCG over the top 5 pages, binary relevance (each evidence page has gain 1)",
    "mrr@10": "reciprocal rank of the first evidence page if within the top 10, else 0",
    "within_document": "only the pages of the question's own PDF are ranked (path filter)",
    "corpus": "all pages of all PDFs are ranked; a page is relevant only in the question's own PDF",
    "split": "questions are split by document: blake2b('polyseek' + doc_id) first byte even = tune, odd = test",
}
ProgressFn = Callable[[str, int, int], None]
STATEMENT_RULES = ("off", "named", "implied")  # --statements: the financial-statement rule (search/policies/statements.py)


# fields of a question that group the metrics (MMLongBench-Doc: evidence_sources, doc_type; FinanceBench:
# question_type, doc_type); a list value puts the question in each of its groups
FACETS = ("evidence_sources", "doc_type", "question_type")


@dataclass(frozen=True)
class PageQuestion:
    qid: str
    question: str
    doc_id: str
    evidence_pages: tuple[int, ...]
    facets: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (field, values) for the FACETS the record has

    def facet(self, name: str) -> tuple[str, ...]:
        return dict(self.facets).get(name, ())

    @property
    def split(self) -> str:
        return split_of(self.doc_id)


def split_of(doc_id: str) -> str:
    digest = hashlib.blake2b((SPLIT_SALT + doc_id).encode(), digest_size=4).digest()
    return "tune" if digest[0] % 2 == 0 else "test"


def read_questions(folder: Path, build: Callable[[dict[str, Any]], Q], usable: Callable[[Q], bool], *, split: str,
                   limit: int | None, fields: str) -> tuple[Path, list[Q]]:
    """``documents/`` and the questions of ``folder/queries.jsonl`` built by ``build``, kept where ``usable`` and
    their PDF exists, in ``split``; a bad line is one error naming the file and line (``fields`` says what a line
    holds). Shared by ``eval pages`` and ``eval ask``."""
    documents, queries = folder / "documents", folder / "queries.jsonl"
    if not documents.is_dir() or not queries.is_file():
        raise InvalidInputError(f"{folder} needs documents/*.pdf and queries.jsonl", hint=f"queries.jsonl lines: {fields}")
    if split not in ("all", "tune", "test"):
        raise InvalidInputError(f"unknown split {split!r}", hint="accepted: all, tune, test")
    out: list[Q] = []
    with queries.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                question = build(json.loads(line))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise InvalidInputError(f"{queries}:{number}: bad question record ({exc})",
                                        hint=f"each line holds {fields}") from None
            if not usable(question) or not (documents / question.doc_id).is_file():
                continue
            if split != "all" and question.split != split:
                continue
            out.append(question)
    if limit is not None:
        out = out[:limit]
    if not out:
        raise InvalidInputError(f"no usable question in {queries} (split {split})")
    return documents, out


def load_questions(folder: str | Path, *, split: str = "all", limit: int | None = None) -> tuple[Path, list[PageQuestion]]:
    """``documents/`` and the questions of ``queries.jsonl`` whose PDF exists there."""

    def build(record: dict[str, Any]) -> PageQuestion:
        return PageQuestion(str(record["qid"]), str(record["question"]).strip(), str(record["doc_id"]),
                            tuple(int(p) for p in record["evidence_pages"]), _facets(record))

    return read_questions(Path(file_key(folder)), build,
                          lambda q: bool(q.evidence_pages and q.question), split=split, limit=limit,
                          fields="{qid, question, doc_id, evidence_pages}")


def _facets(record: dict[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    out: list[tuple[str, tuple[str, ...]]] = []
    for name in FACETS:
        value = record.get(name)
        raw = value if isinstance(value, list) else [value]
        values = tuple(dict.fromkeys(str(v).strip() for v in raw if v is not None and str(v).strip()))
        if values:
            out.append((name, values))
    return tuple(out)


def breakdown(questions: Sequence[PageQuestion], per_query: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Metrics per value of each facet the questions carry: ``{facet: {value: {n_queries, splits, tasks}}}``.

    Each group holds all its questions and, as ``tune``/``test``, each half's, so a number can be read
    on the half that never informed a choice.
    """
    out: dict[str, Any] = {}
    for name in FACETS:
        groups: dict[str, list[PageQuestion]] = {}
        for question in questions:
            for value in question.facet(name):
                groups.setdefault(value, []).append(question)
        if not groups:
            continue
        table: dict[str, Any] = {}
        for value, members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            entry: dict[str, Any] = {"n_queries": len(members),
                                     **{task: mean_metrics([per_query[task][q.qid] for q in members]) for task in TASKS}}
            for half in ("tune", "test"):
                chosen = [q for q in members if q.split == half]
                if chosen:
                    entry[half] = {"n_queries": len(chosen),
                                   **{task: mean_metrics([per_query[task][q.qid] for q in chosen]) for task in TASKS}}
            table[value] = entry
        out[name] = table
    return out


def page_metrics(ranked: Sequence[Any], relevant: set[Any]) -> dict[str, float]:
    """The metrics of one ranking (page keys, best first, no duplicates) against the relevant keys.

    >>> page_metrics([3, 5, 1], {5})["mrr@10"]
    0.5
    """
    out: dict[str, float] = {}
    for k in KS:
        found = sum(1 for page in ranked[:k] if page in relevant)
        out[f"recall@{k}"] = found / len(relevant)
        out[f"hit@{k}"] = 1.0 if found else 0.0
    gains = sum(1.0 / math.log2(i + 2) for i, page in enumerate(ranked[:5]) if page in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(5, len(relevant))))
    out["ndcg@5"] = gains / ideal
    first = next((i for i, page in enumerate(ranked[:10]) if page in relevant), None)
    out["mrr@10"] = 0.0 if first is None else 1.0 / (first + 1)
    return out


def ranked_pages(hits: Sequence[Any], with_document: bool) -> list[Any]:
    """Page keys of hits in order (a region hit stands for its page), first occurrence kept."""
    seen: list[Any] = []
    for hit in hits:
        page = hit.item.locator.page
        if page is None or hit.item.modality not in (Modality.PAGE, Modality.REGION):
            continue
        key = (Path(hit.item.path).name, int(page)) if with_document else int(page)
        if key not in seen:
            seen.append(key)
    return seen


def failed_documents(documents: Path, records: dict[str, Any], failures: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """PDFs of ``documents`` that did not index or indexed to nothing, with the reason (``[{file, reason}]``).

    Read from the catalogue as well as from this run, so a re-run on a kept index still lists them.
    """
    out: dict[str, str] = {}
    for key, record in records.items():
        path = Path(key)
        if path.parent != documents:
            continue
        if record.status == "failed":
            out[path.name] = record.reason or "failed"
        elif record.items == 0:
            out[path.name] = "indexed to no items"
    for failure in failures:
        path = Path(failure.get("path", ""))
        if path.parent == documents:
            out.setdefault(path.name, failure.get("reason", "failed"))
    return [{"file": name, "reason": reason} for name, reason in sorted(out.items())]


def mean_metrics(values: Sequence[dict[str, float]]) -> dict[str, float]:
    return {m: round(sum(v[m] for v in values) / len(values), 6) for m in METRICS} if values else {}


def run_pages_eval(folder: str | Path, *, engine=None, store: str | None = None, image_encoder: str | None = None,
                   text_encoder: str | None = None, signals: Sequence[str] = (), rerank: bool | None = None,
                   weights: dict[str, float] | None = None, split: str = "all", limit: int | None = None,
                   k: int = 10, image_for_documents: bool = False, progress: ProgressFn | None = None,
                   reranker: str | None = None, statements: str | None = None) -> dict[str, Any]:
    """Index ``folder/documents`` (incrementally, into ``store``) and evaluate every question; returns the report.

    ``rerank`` None keeps the engine's shipped default; ``signals`` restricts the signals (rows of the table);
    ``image_for_documents`` fuses the image space into document ranking too (off as shipped); ``reranker``
    names the reranker (``polyseek.search.rerank.rerankers``) instead of the shipped one; ``statements``: the
    financial-statement rule (``off``, ``named`` or ``implied``; None: as shipped, ``search/policies/statements.py``).
    """
    from polyseek.eval.runner import index_timed

    if statements is not None and statements not in STATEMENT_RULES:
        raise InvalidInputError(f"unknown statements rule {statements!r}", hint="accepted: " + ", ".join(STATEMENT_RULES))
    documents, questions = load_questions(folder, split=split, limit=limit)
    if reranker:
        from polyseek.search.rerank import rerankers

        if reranker not in rerankers.names():
            raise InvalidInputError(f"unknown reranker {reranker!r}", hint="accepted: " + ", ".join(rerankers.names()))
    own = engine is None
    if own:
        engine = Engine(store or "memory://", image_encoder=image_encoder, text_encoder=text_encoder)
    config = engine.config
    if image_for_documents:
        config = engine.with_config(document_signals=tuple(dict.fromkeys(("image", *config.document_signals))))
    if reranker:
        config = replace(config, reranker=reranker)
    if statements is not None:
        config = replace(config, document_statements=statements != "off", document_statements_implied=statements == "implied")
    try:
        indexing = index_timed(engine, [str(documents)], "index", progress)
        records = engine.catalog.files()
        pdf_count = sum(1 for _ in documents.glob("*.pdf"))
        failed_files = failed_documents(documents, records, indexing.get("failed", []))
        per_query: dict[str, dict[str, Any]] = {task: {} for task in TASKS}
        search_seconds = 0.0
        doc_filter = (Modality.PAGE, Modality.REGION)
        for done, question in enumerate(questions, 1):
            path = file_key(documents / question.doc_id)
            relevant_pages = set(question.evidence_pages)
            for task in TASKS:
                filters = Filters(modalities=doc_filter, path_glob=path if task == "within_document" else None)
                tick = time.perf_counter()
                # parts, not a query string: a question is literal text, never rclip syntax
                options: dict[str, Any] = {"spaces": tuple(signals), "weights": weights, "config": config}
                if rerank is not None:
                    options["rerank"] = rerank
                hits = engine.search([QueryPart(text=question.question)], k=k, filters=filters, **options)
                search_seconds += time.perf_counter() - tick
                within = task == "within_document"
                ranked = ranked_pages(hits, with_document=not within)
                relevant = relevant_pages if within else {(question.doc_id, p) for p in relevant_pages}
                metrics = page_metrics(ranked, relevant)
                top = [p if within else f"{p[0]}#p{p[1]}" for p in ranked[:k]]
                best = [h.best_region.locator.to_dict() if h.best_region is not None else None for h in hits[:3]]
                per_query[task][question.qid] = {**{m: round(v, 6) for m, v in metrics.items()},
                                                 "split": question.split, "doc_id": question.doc_id,
                                                 "question": question.question, "relevant": sorted(relevant_pages),
                                                 "top": top, "best_regions": best}
            if progress:
                progress("questions", done, len(questions))
        report: dict[str, Any] = {}
        for task in TASKS:
            report[task] = mean_metrics(list(per_query[task].values()))
        splits = {}
        for name in ("tune", "test"):
            chosen = [q.qid for q in questions if q.split == name]
            if chosen:
                splits[name] = {"n_queries": len(chosen),
                                **{task: mean_metrics([per_query[task][q] for q in chosen]) for task in TASKS}}
        settings = {
            "image_encoder": engine.encoder_names()["image"], "text_encoder": engine.encoder_names()["text"],
            # the names `polyseek eval compare` prints
            "image_encoder_resolved": engine.encoder_names()["image"], "text_encoder_resolved": engine.encoder_names()["text"],
            "signals": list(signals) or [s.value for s in Signal], "rerank": "engine default" if rerank is None else bool(rerank),
            "weights": config.with_weights(weights).to_dict()["weights"], "fusion": config.fusion, "k": k, "split": split,
            "document_signals": [s.value for s in config.document_signals], "reranker": config.reranker,
            "statements": "off" if not config.document_statements else "implied" if config.document_statements_implied else "named",
            "store": engine.store_uri,
        }
        return {
            **report,
            "n_queries": len(questions),
            "n_documents": pdf_count,
            "n_items": engine.store.count(),
            "splits": splits,
            "breakdown": breakdown(questions, per_query),
            "failed_files": failed_files,
            "questions_on_failed_files": sum(1 for q in questions if q.doc_id in {f["file"] for f in failed_files}),
            "config": settings,
            "definitions": DEFINITIONS,
            "dataset": {"name": Path(folder).name, "kind": "pages", "path": str(Path(folder).absolute())},
            "indexing": {**indexing, "files": len(records)},
            "timing": {"search_seconds": round(search_seconds, 2),
                       "seconds_per_search": round(search_seconds / max(1, 2 * len(questions)), 4)},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "per_query": per_query,
        }
    finally:
        if own:
            engine.close()


def to_markdown(report: dict[str, Any], label: str = "") -> str:
    """The headline table: rows = task × split, columns = the metrics."""
    head = "| questions | task | n | R@1 | R@5 | R@10 | hit@5 | nDCG@5 | MRR@10 |"
    lines = [f"# Page retrieval: {report['dataset']['name']}{' — ' + label if label else ''}", "",
             f"Config: {json.dumps(report['config'], sort_keys=True)}", "", head, "|---|---|---:|" + "---:|" * 6]
    rows = [("all", report, report["n_queries"])] + [(name, data, data["n_queries"]) for name, data in report["splits"].items()]
    for name, data, count in rows:
        for task in TASKS:
            m = data[task]
            lines.append(f"| {name} | {task} | {count} | {m['recall@1']:.3f} | {m['recall@5']:.3f} | {m['recall@10']:.3f} | "
                         f"{m['hit@5']:.3f} | {m['ndcg@5']:.3f} | {m['mrr@10']:.3f} |")
    lines += breakdown_lines(report)
    lines += ["", "Definitions:", ""] + [f"- `{k}`: {v}" for k, v in report["definitions"].items()]
    return "\n".join(lines) + "\n"


def wilson_interval(rate: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion (a hit rate over ``n`` questions); (0, 1) when ``n`` is 0."""
    if n <= 0:
        return 0.0, 1.0
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def breakdown_lines(report: dict[str, Any]) -> list[str]:
    """Markdown: one table per facet (within hit@5 and R@5, corpus hit@10; all questions and the test half, whose
    within hit@5 carries its 95 % Wilson interval: groups are small), then the files that failed to index."""
    lines: list[str] = []
    for facet, groups in report.get("breakdown", {}).items():
        lines += ["", f"By `{facet}`:", "",
                  "| value | n | within hit@5 | within R@5 | corpus hit@10 | test n | test within hit@5 | test hit@5 95 % | "
                  "test within R@5 | test corpus hit@10 |",
                  "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
        for value, entry in groups.items():
            test = entry.get("test")
            if test:
                low, high = wilson_interval(test["within_document"]["hit@5"], test["n_queries"])
            tail = (f"{test['n_queries']} | {test['within_document']['hit@5']:.3f} | [{low:.2f}, {high:.2f}] | "
                    f"{test['within_document']['recall@5']:.3f} | {test['corpus']['hit@10']:.3f}") if test else "0 | – | – | – | –"
            lines.append(f"| {value} | {entry['n_queries']} | {entry['within_document']['hit@5']:.3f} | "
                         f"{entry['within_document']['recall@5']:.3f} | {entry['corpus']['hit@10']:.3f} | {tail} |")
    failed = report.get("failed_files", [])
    lines += ["", f"Files that failed to index: {len(failed)}" + (" (their questions count as misses)" if failed else "")]
    lines += [f"- `{f['file']}`: {f['reason']}" for f in failed]
    return lines
