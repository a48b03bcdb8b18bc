"""Answer evaluation for ``ask`` on page questions with gold answers (MMLongBench-Doc / FinanceBench layout).

Each question is retrieved within its own PDF (pages and regions, as ``eval pages`` does), then answered by each
generator through the product's steps after retrieval (:func:`polyseek.rag.pipeline.answer_from_hits`: cross-
encoder rerank, adaptive context, window fit, generation, citation clean-up). It is answered twice:

- **evidence present**: the retrieved pages as they come;
- **evidence missing**: the same hits without the gold evidence pages, so the right reply is "not found".
  Questions whose gold answer is "Not answerable" count here as they are.

Metrics (means over questions; answers have their ``[n]`` markers removed and are normalised as in
:func:`polyseek.eval.context.normalise`):

- ``accuracy``: per question, by the kind of gold answer: ``number`` answers match when every gold number
  appears among the answer's numbers (equal to the gold's precision, ``%``/``$``/thousands separators ignored);
  ``short`` answers (at most 4 tokens) match when every gold part appears as whole tokens; ``long`` answers
  score their token F1 with the gold. ``match`` and ``long_f1`` give the two parts separately;
- ``token_f1``: token F1 of every answer against its gold (penalises long quoted answers that match by luck);
- ``citation_precision``: the share of an answer's citations that point at a gold evidence page, over answers
  that cite; ``cited``: the share of answers with at least one citation;
- ``not_found``: the share of evidence-missing answers that say nothing answers the question;
  ``false_not_found``: the same share when the evidence is present (lower is better).

Questions are split by document (:func:`polyseek.eval.pages.split_of`) into ``tune`` (used to change the
answerer) and ``test`` (held out).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polyseek.catalog import file_key
from polyseek.engine import Engine
from polyseek.errors import InvalidInputError
from polyseek.eval.context import CachedScorer, gold_parts, normalise
from polyseek.eval.pages import read_questions, split_of
from polyseek.types import Filters, Hit, Modality, QueryPart

ProgressFn = Callable[[str, int, int], None]
DEPTH = 20
SHORT_TOKENS = 4
METRICS = ("accuracy", "match", "long_f1", "token_f1", "citation_precision", "cited", "chars", "seconds")
MISSING_METRICS = ("not_found",)
_MARKERS = re.compile(r"\[\d+(?:\s*[,;]\s*\d+)*\]|\(Your concept\)")
_NUMBER = re.compile(r"(?<![\w.])[-−]?\$?\d[\d,]*(?:\.\d+)?")
# how the shipped answerers and prompted models say that nothing answers the question
NOT_FOUND = re.compile(
    r"no passage clearly answers|nothing in the indexed files|no indexed text answers|cannot tell|can ?not be determined|"
    r"not (?:mentioned|stated|provided|specified|given|found|available|included)|does not (?:contain|mention|say|state|provide|specify)|"
    r"do(?:es)? not have (?:enough )?information|no (?:relevant )?information|not answerable|unanswerable|"
    r"insufficient (?:information|context)|i don'?t know|unable to (?:find|determine|answer)",
    re.IGNORECASE)
DEFINITIONS = {
    "accuracy": "number gold answers: every gold number among the answer's numbers; short gold (<= 4 tokens): every "
                "gold part as whole tokens in the answer; long gold: token F1. Markers removed, text normalised",
    "match": "the accuracy of number and short gold answers alone (0/1 each)",
    "long_f1": "the accuracy of long gold answers alone (token F1)",
    "token_f1": "token F1 of every answer against its gold answer (long quoted answers score low)",
    "citation_precision": "share of an answer's citations on a gold evidence page, averaged over answers that cite",
    "cited": "share of answers with at least one citation",
    "not_found": "share of answers saying nothing answers the question when the evidence pages are removed from the "
                 "hits (and for gold 'Not answerable' questions)",
    "false_not_found": "the same share when the evidence is present (lower is better)",
    "chars": "mean answer length in characters",
    "seconds": "mean seconds per answer (generation and rerank; retrieval excluded), under the machine's load",
    "split": "questions split by document: blake2b('polyseek' + doc_id) first byte even = tune, odd = test",
}


@dataclass(frozen=True)
class AskQuestion:
    qid: str
    question: str
    doc_id: str
    evidence_pages: tuple[int, ...]
    answer: str

    @property
    def split(self) -> str:
        return split_of(self.doc_id)

    @property
    def answerable(self) -> bool:
        return normalise(self.answer) not in ("not answerable", "") and bool(self.evidence_pages)


def load_ask_questions(folder: str | Path, *, split: str = "all", limit: int | None = None) -> tuple[Path, list[AskQuestion]]:
    """``documents/`` and the questions of ``queries.jsonl`` (with ``answer``) whose PDF exists there."""

    def build(record: dict[str, Any]) -> AskQuestion:
        return AskQuestion(str(record["qid"]), " ".join(str(record["question"]).split()), str(record["doc_id"]),
                           tuple(int(p) for p in record.get("evidence_pages") or ()), str(record["answer"]))

    folder = Path(file_key(folder))  # "../x" keyed as the index keys it
    return read_questions(folder, build, lambda q: bool(q.question), split=split, limit=limit,
                          fields="{qid, question, doc_id, evidence_pages, answer}")


# ---- scoring --------------------------------------------------------------------------------------------
def plain(answer: str) -> str:
    """An answer without its citation markers and concept tags."""
    return " ".join(_MARKERS.sub(" ", answer).split())


def numbers(text: str) -> list[str]:
    """Numbers written in ``text`` as canonical strings: ``"$1,251.50 and 18.29%"`` → ``["1251.50", "18.29"]``."""
    return [m.group(0).replace("$", "").replace(",", "").replace("−", "-") for m in _NUMBER.finditer(text)]


def same_number(gold: str, found: str) -> bool:
    """``found`` equals ``gold`` at the gold's precision: ``0.66`` matches ``0.657``, ``12`` matches ``12.0``."""
    try:
        g, f = float(gold), float(found)
    except ValueError:
        return False
    decimals = len(gold.split(".")[1]) if "." in gold else 0
    return abs(round(f, decimals) - g) < 10 ** -decimals / 2 + 1e-9


def answer_kind(gold: str) -> str:
    """``number`` (every part is a number), ``short`` (at most 4 tokens per part) or ``long``."""
    parts = gold_parts(gold)
    if parts and all(re.fullmatch(r"-?\$?\d[\d,]*(?:\.\d+)?\s*%?", part.strip().replace(" ", "")) for part in parts):
        return "number"
    if parts and all(len(part.split()) <= SHORT_TOKENS for part in parts):
        return "short"
    return "long"


def token_f1(answer: str, gold: str) -> float:
    """SQuAD-style token F1 over normalised tokens (multiset overlap)."""
    a, g = normalise(answer).split(), normalise(gold.strip("[]").replace("'", " ")).split()
    if not a or not g:
        return 0.0
    common: dict[str, int] = {}
    for token in g:
        common[token] = common.get(token, 0) + 1
    overlap = 0
    for token in a:
        if common.get(token, 0) > 0:
            overlap += 1
            common[token] -= 1
    if not overlap:
        return 0.0
    precision, recall = overlap / len(a), overlap / len(g)
    return 2 * precision * recall / (precision + recall)


def score_answer(answer: str, gold: str) -> dict[str, Any]:
    """``{kind, accuracy, token_f1}`` of one answer (markers already removed or not)."""
    text = plain(answer)
    kind = answer_kind(gold)
    f1 = token_f1(text, gold)
    if kind == "number":
        found = numbers(text)
        wanted = [n for part in gold_parts(gold) for n in numbers(part)]
        accuracy = float(bool(wanted) and all(any(same_number(w, f) for f in found) for w in wanted))
    elif kind == "short":
        padded = f" {normalise(text)} "
        accuracy = float(all(f" {part} " in padded for part in gold_parts(gold)))
    else:
        accuracy = f1
    return {"kind": kind, "accuracy": round(accuracy, 4), "token_f1": round(f1, 4)}


def says_not_found(answer: str) -> bool:
    return bool(NOT_FOUND.search(answer))


def citation_pages(answer: Any, doc_id: str) -> list[int | None]:
    """The page each citation points at (``None`` for a citation outside the question's document)."""
    out: list[int | None] = []
    for citation in answer.citations:
        page = citation.locator.get("page")
        out.append(int(page) if page is not None and Path(citation.path).name == doc_id else None)
    return out


# ---- the run ----------------------------------------------------------------------------------------------
class PersistentScorer(CachedScorer):
    """:class:`CachedScorer` whose scores survive the run in a JSON file (``{question: {passage: score}}``)."""

    def __init__(self, reranker: Any, path: str | Path | None) -> None:
        super().__init__(reranker)
        self.path = Path(path).expanduser() if path else None
        if self.path is not None and self.path.is_file():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self.cache.update({(q, p): float(v) for q, row in data.items() for p, v in row.items()})
            except (ValueError, AttributeError) as exc:
                raise InvalidInputError(f"score cache {self.path} is not a polyseek score cache ({exc})") from None

    def save(self) -> None:
        if self.path is None:
            self.cache.clear()  # no file: scores are only reused within a question
            return
        data: dict[str, dict[str, float]] = {}
        for (question, passage), value in self.cache.items():
            data.setdefault(question, {})[passage] = value
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(data), encoding="utf-8")
        partial.replace(self.path)
def within_document(engine: Engine, documents: Path, question: AskQuestion, depth: int) -> list[Hit]:
    path = file_key(documents / question.doc_id)
    filters = Filters(modalities=(Modality.PAGE, Modality.REGION), path_glob=path)
    # no search-time rerank: ask reranks these same hits passage by passage (the set of the first ``depth`` is the same)
    return engine.search([QueryPart(text=question.question)], k=depth, filters=filters, rerank=False)


def answer_row(generator: Any, question: AskQuestion, hits: list[Hit], reranker: Any, missing: bool) -> dict[str, Any]:
    from polyseek.rag.pipeline import answer_from_hits

    if missing:
        hits = [h for h in hits if h.item.locator.page not in question.evidence_pages]
    tick = time.perf_counter()
    answer = answer_from_hits(question.question, hits, generator, reranker=reranker)
    seconds = time.perf_counter() - tick
    row: dict[str, Any] = {"answer": answer.answer, "chars": len(plain(answer.answer)), "seconds": round(seconds, 2),
                           "not_found": float(says_not_found(answer.answer))}
    if missing:
        return row
    pages = citation_pages(answer, question.doc_id)
    row.update(score_answer(answer.answer, question.answer))
    row["cited_pages"] = pages
    row["cited"] = float(bool(pages))
    if pages:
        row["citation_precision"] = round(sum(1 for p in pages if p in question.evidence_pages) / len(pages), 4)
    return row


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Means over questions; each metric over the questions it applies to (its ``n`` beside it)."""
    present = [r["present"] for r in rows if "present" in r]
    missing = [r["missing"] for r in rows if "missing" in r]

    def mean(values: list[float]) -> float | None:
        return round(sum(values) / len(values), 4) if values else None

    out: dict[str, Any] = {"n_answerable": len(present), "n_missing": len(missing)}
    out["accuracy"] = mean([p["accuracy"] for p in present])
    out["match"] = mean([p["accuracy"] for p in present if p["kind"] != "long"])
    out["n_match"] = sum(1 for p in present if p["kind"] != "long")
    out["long_f1"] = mean([p["accuracy"] for p in present if p["kind"] == "long"])
    out["n_long"] = sum(1 for p in present if p["kind"] == "long")
    out["token_f1"] = mean([p["token_f1"] for p in present])
    out["citation_precision"] = mean([p["citation_precision"] for p in present if "citation_precision" in p])
    out["cited"] = mean([p["cited"] for p in present])
    out["false_not_found"] = mean([p["not_found"] for p in present])
    out["not_found"] = mean([m["not_found"] for m in missing])
    out["chars"] = mean([float(p["chars"]) for p in present])
    out["seconds"] = mean([p["seconds"] for p in present + missing])
    return out


def run_ask_eval(folder: str | Path, *, generators: Sequence[str] = ("extractive",), engine: Engine | None = None,
                 store: str | None = None, image_encoder: str | None = None, text_encoder: str | None = None,
                 split: str = "all", limit: int | None = None, model_limit: int | None = 20, depth: int = DEPTH,
                 score_cache: str | Path | None = None, index: bool = True,
                 progress: ProgressFn | None = None) -> dict[str, Any]:
    """Index ``folder/documents`` (incrementally into ``store``) and answer every question with every generator.

    ``model_limit`` bounds the questions answered by generators other than ``extractive`` (a small local model
    takes seconds per answer); the extractive answerer is also scored on that same subset for a paired view.
    ``index`` False uses the index as it is: only the questions on PDFs it holds are asked.
    ``score_cache``: a file keeping the cross-encoder's (question, passage) scores between runs, so a re-run that
    changes only the answerer does not pay for the rerank again.
    """
    from polyseek.eval.runner import index_timed
    from polyseek.rag.base import load_generator
    from polyseek.rag.extractive import load_cross_encoder

    documents, questions = load_ask_questions(folder, split=split, limit=limit)
    from polyseek.rag.extractive import ExtractiveAnswerer

    loaded: dict[str, Any] = {spec: load_generator(spec) for spec in dict.fromkeys(generators)}  # bad specs fail first
    reranker = PersistentScorer(load_cross_encoder(), score_cache)
    for spec, generator in loaded.items():  # extractive answerers score their sentences through the same cache
        if isinstance(generator, ExtractiveAnswerer) or getattr(generator, "reranker", "") is None:
            loaded[spec] = type(generator)(reranker)
    own = engine is None
    if own:
        engine = Engine(store or "memory://", image_encoder=image_encoder, text_encoder=text_encoder)
    assert engine is not None
    try:
        indexing = index_timed(engine, [str(documents)], "index", progress) if index else {"skipped": True}
        questions = indexed_questions(engine, documents, questions)
        # model generators are bounded; extractive answerers (no model) answer every question
        bounded = {spec: (model_limit if model_limit and not hasattr(gen, "reranker") else None) for spec, gen in loaded.items()}
        subset = {q.qid for q in questions[:model_limit]} if model_limit else {q.qid for q in questions}
        rows: dict[str, dict[str, dict[str, Any]]] = {spec: {} for spec in loaded}
        for done, question in enumerate(questions, 1):
            hits = within_document(engine, documents, question, depth)
            for spec, generator in loaded.items():
                if bounded[spec] is not None and question.qid not in subset:
                    continue
                row: dict[str, Any] = {"split": question.split, "doc_id": question.doc_id, "gold": question.answer,
                                       "evidence_pages": list(question.evidence_pages)}
                if question.answerable:
                    row["present"] = answer_row(generator, question, hits, reranker, missing=False)
                row["missing"] = answer_row(generator, question, hits, reranker, missing=True)
                rows[spec][question.qid] = row
            reranker.save()
            if progress:
                progress("questions", done, len(questions))
        table: dict[str, Any] = {}
        for spec, by_qid in rows.items():
            entry: dict[str, Any] = {"all": summarise(list(by_qid.values()))}
            for half in ("tune", "test"):
                entry[half] = summarise([r for r in by_qid.values() if r["split"] == half])
            entry["questions"] = f"first {model_limit}" if bounded[spec] is not None else "all"
            table[spec] = entry
            if bounded[spec] is not None and "extractive" in rows:  # the same questions, for a paired view
                same = [rows["extractive"][q] for q in by_qid if q in rows["extractive"]]
                table[spec]["extractive_same_questions"] = summarise(same)
        return {
            "dataset": {"name": Path(folder).name, "kind": "ask", "path": str(Path(folder).absolute())},
            "n_questions": len(questions),
            "n_answerable": sum(1 for q in questions if q.answerable),
            "generators": table,
            "config": {"generators": list(loaded), "split": split, "limit": limit, "model_limit": model_limit if len(loaded) > 1 or "extractive" not in loaded else None,
                       "depth": depth, "retrieval": "within the question's own PDF (pages and regions)",
                       "context": "adaptive (as shipped), cross-encoder passage scores",
                       "image_encoder": engine.encoder_names()["image"], "text_encoder": engine.encoder_names()["text"],
                       "store": engine.store_uri},
            "definitions": DEFINITIONS,
            "indexing": indexing,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "per_question": rows,
        }
    finally:
        if own:
            engine.close()


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def to_markdown(report: dict[str, Any]) -> str:
    """One row per generator and split: accuracy, its parts, citations, not-found shares, size and time."""
    lines = [f"# Answers: {report['dataset']['name']}", "",
             "| generator | questions | split | n | accuracy | match (n) | long F1 (n) | token F1 | citation precision | "
             "cited | not found, evidence missing (n) | not found, evidence present | chars | s/answer |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def row(name: str, scope: str, half: str, m: dict[str, Any]) -> None:
        lines.append(f"| {name} | {scope} | {half} | {m['n_answerable']} | {_fmt(m['accuracy'])} | {_fmt(m['match'])} ({m['n_match']}) | "
                     f"{_fmt(m['long_f1'])} ({m['n_long']}) | {_fmt(m['token_f1'])} | {_fmt(m['citation_precision'])} | "
                     f"{_fmt(m['cited'])} | {_fmt(m['not_found'])} ({m['n_missing']}) | {_fmt(m['false_not_found'])} | "
                     f"{_fmt(m['chars'])} | {_fmt(m['seconds'])} |")

    for spec, entry in report["generators"].items():
        for half in ("all", "tune", "test"):
            if entry[half]["n_answerable"] or entry[half]["n_missing"]:
                row(spec, entry["questions"], half, entry[half])
        if "extractive_same_questions" in entry:
            row("extractive", entry["questions"], "all", entry["extractive_same_questions"])
    config = report["config"]
    lines += ["", f"Retrieval: depth {config['depth']} {config['retrieval']}; context {config['context']}; encoders "
                  f"image `{config['image_encoder']}`, text `{config['text_encoder']}`.", "", "Definitions:", ""]
    lines += [f"- `{k}`: {v}" for k, v in report["definitions"].items()]
    return "\n".join(lines) + "\n"


# ---- query expansion on page questions ---------------------------------------------------------------------
PAGE_METRICS = ("hit@1", "hit@5", "recall@5", "mrr@10")


def run_expansion_eval(folder: str | Path, *, generator: str, store: str | None = None, engine: Engine | None = None,
                       image_encoder: str | None = None, text_encoder: str | None = None, split: str = "all",
                       limit: int | None = None, rerank: bool | None = None, index: bool = True,
                       progress: ProgressFn | None = None) -> dict[str, Any]:
    """Page retrieval within each question's PDF (as ``eval pages``) without and with query expansion by
    ``generator``, on the same questions: hit@1, hit@5, R@5, MRR@10 per split, and the rewrites the model wrote."""
    from dataclasses import replace

    from polyseek.eval.pages import page_metrics, ranked_pages
    from polyseek.eval.runner import index_timed
    from polyseek.rag.expansion import expander_for

    documents, questions = load_ask_questions(folder, split=split)
    expander = expander_for(generator)  # a generator that cannot rewrite is refused before any work
    own = engine is None
    if own:
        engine = Engine(store or "memory://", image_encoder=image_encoder, text_encoder=text_encoder)
    assert engine is not None
    try:
        if index:
            index_timed(engine, [str(documents)], "index", progress)
        questions = indexed_questions(engine, documents, questions)[:limit]
        configs = {"off": replace(engine.config, expand=False),
                   "on": replace(engine.config, expand=True, expand_generator=generator)}
        rows: dict[str, dict[str, Any]] = {}
        seconds = {"off": 0.0, "on": 0.0}
        for done, question in enumerate(questions, 1):
            if not question.answerable:
                continue
            path = file_key(documents / question.doc_id)
            filters = Filters(modalities=(Modality.PAGE, Modality.REGION), path_glob=path)
            row: dict[str, Any] = {"split": question.split, "question": question.question}
            for name, config in configs.items():
                tick = time.perf_counter()
                hits = engine.search([QueryPart(text=question.question)], k=10, filters=filters, rerank=rerank, config=config)
                seconds[name] += time.perf_counter() - tick
                ranked = ranked_pages(hits, with_document=False)
                row[name] = {m: v for m, v in page_metrics(ranked, set(question.evidence_pages)).items() if m in PAGE_METRICS}
                row[name]["top"] = ranked[:5]
            row["rewrites"] = expander(question.question)  # cached: no new model call
            rows[question.qid] = row
            if progress:
                progress("questions", done, len(questions))
    finally:
        if own:
            engine.close()

    def means(chosen: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {"n": len(chosen)}
        for name in ("off", "on"):
            out[name] = {m: round(sum(r[name][m] for r in chosen) / len(chosen), 4) if chosen else None for m in PAGE_METRICS}
        return out

    return {
        "dataset": {"name": Path(folder).name, "kind": "expansion", "path": str(Path(folder).absolute())},
        "generator": generator, "rerank": "engine default" if rerank is None else bool(rerank),
        "task": "within the question's own PDF (pages and regions)",
        "all": means(list(rows.values())),
        "splits": {half: means([r for r in rows.values() if r["split"] == half]) for half in ("tune", "test")},
        "seconds_per_search": {name: round(value / max(1, len(rows)), 3) for name, value in seconds.items()},
        "per_query": rows,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def indexed_questions(engine: Engine, documents: Path, questions: list[AskQuestion]) -> list[AskQuestion]:
    """The questions whose PDF the index holds (an index of part of a benchmark answers only those)."""
    held = {Path(key).name for key in engine.catalog.files() if Path(key).parent == documents}
    return [q for q in questions if q.doc_id in held]


def expansion_markdown(report: dict[str, Any]) -> str:
    """Off vs on, per split: hit@1, hit@5, R@5, MRR@10."""
    lines = [f"# Query expansion: {report['dataset']['name']} with `{report['generator']}` "
             f"(rerank: {report['rerank']}; {report['task']})", "",
             "| split | n | " + " | ".join(f"{m} off | {m} on" for m in PAGE_METRICS) + " |",
             "|---|---:|" + "---:|" * (2 * len(PAGE_METRICS))]
    for name, data in [("all", report["all"]), *report["splits"].items()]:
        if data["n"]:
            lines.append(f"| {name} | {data['n']} | " + " | ".join(f"{data['off'][m]:.3f} | {data['on'][m]:.3f}" for m in PAGE_METRICS) + " |")
    lines += ["", f"Seconds per search: off {report['seconds_per_search']['off']}, on {report['seconds_per_search']['on']} "
                  "(the model's rewrite included), under the machine's load."]
    return "\n".join(lines) + "\n"
