"""Context-selection evaluation for ``ask`` on a folder of PDFs and questions with gold answers (MMLongBench-Doc).

Each question is retrieved within its own PDF (as in ``eval pages``), reranked once with the cross-encoder,
then each selection policy (fixed top-k, adaptive at several ratios) picks the context that ``ask`` would
hand the generator. Per question and policy:

- ``answer_recall``: 1 if the normalised gold answer appears in the selected context text (all items of a
  list answer must appear); questions whose gold answer is "Not answerable" are left out;
- ``precision``: the fraction of selected items that lie on a gold evidence page;
- ``items`` / ``chars``: the size of the selected context;
- ``extractive_em`` / ``extractive_contains``: the extractive answerer's answer (citations removed) equals /
  contains the normalised gold answer.

Questions are split by document into ``tune`` and ``test`` halves (:func:`polyseek.eval.pages.split_of`); the
shipped adaptive ratio was chosen on ``tune`` only, so ``test`` numbers are held out.
"""

from __future__ import annotations

import ast
import json
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from polyseek.catalog import file_key
from polyseek.engine import Engine
from polyseek.types import Filters, Modality, QueryPart

ProgressFn = Callable[[str, int, int], None]
FIXED_KS = (1, 2, 3, 4, 5, 8)
RATIOS = ((0.3, 1.0), (0.5, 1.0), (0.7, 1.0), (0.3, 2.0), (0.5, 4.0))  # (ratio, temperature)
DEPTH = 20
METRICS = ("answer_recall", "answer_recall_distinctive", "precision", "items", "chars", "extractive_em", "extractive_contains")
_NUMBER_COMMA = re.compile(r"(?<=\d),(?=\d{3})")
_NON_WORD = re.compile(r"[^a-z0-9%.$]+")
_MARKERS = re.compile(r"\[\d+\]|\(Your concept\)")


def normalise(text: str) -> str:
    """Lower case, thousands separators and punctuation removed, spaces collapsed: ``"1,251 Units."`` → ``"1251 units"``."""
    text = _NUMBER_COMMA.sub("", text.lower())
    text = _NON_WORD.sub(" ", text)
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)  # keep decimal points only
    return " ".join(text.split())


def gold_parts(answer: str) -> list[str]:
    """A gold answer as the strings that must all appear (a list answer gives several)."""
    text = answer.strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            value = ast.literal_eval(text)
            if isinstance(value, (list, tuple)):
                return [normalise(str(v)) for v in value if normalise(str(v))]
        except (ValueError, SyntaxError):
            pass
    return [normalise(text)] if normalise(text) else []


def contains(haystack: str, parts: Sequence[str]) -> bool:
    padded = f" {normalise(haystack)} "
    return bool(parts) and all(f" {part} " in padded for part in parts)


def distinctive(parts: Sequence[str]) -> bool:
    """Answers that could not match by accident: at least 4 characters, and not yes/no."""
    return all(len(p) >= 4 and p not in {"yes", "no"} for p in parts)


class CachedScorer:
    """Wraps a reranker so each (question, passage) pair is scored once across candidates and policies."""

    def __init__(self, reranker) -> None:
        self.reranker = reranker
        self.cache: dict[tuple[str, str], float] = {}
        self.name = getattr(reranker, "name", "reranker")

    def score(self, query: str, passages: Sequence[str]):
        import numpy as np

        missing = list(dict.fromkeys(p for p in passages if (query, p) not in self.cache))
        if missing:
            for passage, value in zip(missing, self.reranker.score(query, missing)):
                self.cache[(query, passage)] = float(value)
        return np.array([self.cache[(query, p)] for p in passages], dtype=np.float32)


def policies(fixed_ks: Sequence[int], ratios: Sequence[Any], max_items: int) -> list[tuple[str, dict[str, Any]]]:
    """Named policies; ``ratios`` holds ratios or (ratio, temperature) pairs (temperature 1 by default)."""
    out = [(f"fixed top-{k}", {"adaptive": False, "k": k, "temperature": 1.0}) for k in fixed_ks]
    for spec in ratios:
        ratio, temperature = (spec, 1.0) if isinstance(spec, (int, float)) else spec
        name = f"adaptive r={ratio:g}" + (f" T={temperature:g}" if temperature != 1.0 else "")
        out.append((name, {"adaptive": True, "ratio": ratio, "k": max_items, "temperature": temperature}))
    return out


def select(candidates, policy: dict[str, Any]):
    from polyseek.rag.context import select_adaptive, select_fixed

    if policy["adaptive"]:
        return select_adaptive(candidates, max_items=policy["k"], ratio=policy["ratio"])
    return select_fixed(candidates, policy["k"])


def run_context_eval(folder: str | Path, *, engine=None, store: str | None = None, image_encoder: str | None = None,
                     text_encoder: str | None = None, signals: Sequence[str] = (), split: str = "all",
                     limit: int | None = None, fixed_ks: Sequence[int] = FIXED_KS, ratios: Sequence[Any] = RATIOS,
                     max_items: int = 8, depth: int = DEPTH, extractive: bool = True,
                     progress: ProgressFn | None = None) -> dict[str, Any]:
    """Index ``folder/documents`` (incrementally into ``store``), then score every policy on every question."""
    from polyseek.eval.pages import load_questions
    from polyseek.eval.runner import index_timed
    from polyseek.rag.base import ContextBlock
    from polyseek.rag.context import score_candidates
    from polyseek.rag.extractive import ExtractiveAnswerer, load_cross_encoder
    from polyseek.rag.pipeline import BLOCK_CHARS

    documents, questions = load_questions(folder, split=split, limit=limit)
    gold = {}
    with (Path(folder).expanduser() / "queries.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                gold[str(record["qid"])] = str(record.get("answer", ""))
    own = engine is None
    if own:
        engine = Engine(store or "memory://", image_encoder=image_encoder, text_encoder=text_encoder)
    chosen_policies = policies(fixed_ks, ratios, max_items)
    try:
        indexing = index_timed(engine, [str(documents)], "index", progress)
        reranker = CachedScorer(load_cross_encoder())
        answerer = ExtractiveAnswerer(reranker)
        rows: dict[str, dict[str, Any]] = {}
        tick = time.perf_counter()
        for done, question in enumerate(questions, 1):
            parts = gold_parts(gold.get(question.qid, ""))
            if not parts or parts == ["not answerable"]:
                continue
            path = file_key(documents / question.doc_id)
            filters = Filters(modalities=(Modality.PAGE, Modality.REGION), path_glob=path)
            hits = engine.search([QueryPart(text=question.question)], k=depth, filters=filters, spaces=tuple(signals))
            scored = {t: score_candidates(question.question, hits, reranker, temperature=t)
                      for t in {p["temperature"] for _, p in chosen_policies}}  # pairs are scored once (cached)
            row: dict[str, Any] = {"split": question.split, "doc_id": question.doc_id, "gold": gold[question.qid],
                                   "evidence_pages": list(question.evidence_pages), "distinctive": distinctive(parts)}
            for name, policy in chosen_policies:
                selected = select(scored[policy["temperature"]], policy)
                texts = [c.text(BLOCK_CHARS) for c in selected]
                relevant = sum(1 for c in selected if c.hit.item.locator.page in question.evidence_pages)
                result = {
                    "answer_recall": float(contains("\n".join(texts), parts)),
                    "precision": relevant / len(selected) if selected else 0.0,
                    "items": len(selected), "chars": sum(len(t) for t in texts),
                    "pages": [c.hit.item.locator.page for c in selected],
                }
                if extractive:
                    blocks = [ContextBlock(number=i + 1, hit=c.hit, text=t) for i, (c, t) in enumerate(zip(selected, texts))]
                    answer = " ".join(_MARKERS.sub(" ", "".join(answerer.stream(question.question, blocks))).split())
                    result["extractive_em"] = float(normalise(answer) == " ".join(parts))
                    result["extractive_contains"] = float(contains(answer, parts))
                row[name] = result
            rows[question.qid] = row
            reranker.cache.clear()  # pairs are per question
            if progress:
                progress("questions", done, len(questions))
        seconds = time.perf_counter() - tick
        report: dict[str, Any] = {
            "n_questions": len(rows),
            "policies": [name for name, _ in chosen_policies],
            "all": table(rows, chosen_policies),
            "splits": {name: {"n_questions": sum(1 for r in rows.values() if r["split"] == name),
                              "table": table({q: r for q, r in rows.items() if r["split"] == name}, chosen_policies)}
                       for name in ("tune", "test")},
            "config": {"image_encoder": engine.encoder_names()["image"], "text_encoder": engine.encoder_names()["text"],
                       "signals": list(signals) or "all", "depth": depth, "max_items": max_items,
                       "block_chars": BLOCK_CHARS, "policies": dict(chosen_policies), "retrieval": "within the question's own PDF (pages and regions)",
                       "reranker": "cross-encoder (ms-marco-MiniLM-L-12-v2 INT8), passage by passage",
                       "split": split, "limit": limit, "store": engine.store_uri},
            "timing": {"index_seconds": indexing["seconds"], "indexed": indexing,
                       "eval_seconds": round(seconds, 1)},
            "per_question": rows,
        }
        return report
    finally:
        if own:
            engine.close()


def table(rows: dict[str, dict[str, Any]], chosen_policies) -> dict[str, dict[str, float]]:
    """Mean of each metric per policy; ``answer_recall_distinctive`` only over distinctive gold answers."""
    out: dict[str, dict[str, float]] = {}
    for name, _ in chosen_policies:
        values = [r[name] for r in rows.values()]
        if not values:
            continue
        means = {m: round(sum(v[m] for v in values) / len(values), 4) for m in METRICS
                 if m in values[0] and m != "answer_recall_distinctive"}
        special = [r[name]["answer_recall"] for r in rows.values() if r["distinctive"]]
        means["answer_recall_distinctive"] = round(sum(special) / len(special), 4) if special else float("nan")
        out[name] = means
    return out


def to_markdown(report: dict[str, Any]) -> str:
    """The context-selection tables (all questions, then each split)."""
    lines = []
    header = ("| policy | answer recall | answer recall (distinctive) | precision | items | chars | extractive EM | extractive contains |\n"
              "|---|---:|---:|---:|---:|---:|---:|---:|")

    def block(title: str, rows: dict[str, dict[str, float]], n: int) -> None:
        lines.append(f"**{title}** ({n} questions)\n")
        lines.append(header)
        for name, m in rows.items():
            lines.append(f"| {name} | {m['answer_recall']:.3f} | {m['answer_recall_distinctive']:.3f} | {m['precision']:.3f} | "
                         f"{m['items']:.2f} | {m['chars']:.0f} | {m.get('extractive_em', float('nan')):.3f} | "
                         f"{m.get('extractive_contains', float('nan')):.3f} |")
        lines.append("")

    block("all answerable questions", report["all"], report["n_questions"])
    for name in ("tune", "test"):
        split = report["splits"].get(name)
        if split and split["n_questions"]:
            block(f"{name} split", split["table"], split["n_questions"])
    config = report["config"]
    lines.append(f"Encoders: image `{config['image_encoder']}`, text `{config['text_encoder']}`; signals {config['signals']}; "
                 f"retrieval depth {config['depth']} {config['retrieval']}; reranker {config['reranker']}; "
                 f"each item contributes at most {config['block_chars']} characters (its best passages).")
    return "\n".join(lines) + "\n"
