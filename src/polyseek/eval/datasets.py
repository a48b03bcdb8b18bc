"""Dataset adapters: captions folders, M-BEIR-style JSONL and BEIR-style text, as candidates + tasks + qrels.

An adapter only reads files; it never embeds or ranks anything. The runner turns candidates into
files the product can index (an image path stays where it is; text is written to a small ``.txt``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polyseek.errors import InvalidInputError
from polyseek.types import Modality


@dataclass(frozen=True)
class Candidate:
    """One retrievable unit. Exactly one of ``image`` (a file to index in place) or ``text`` is the content."""

    id: str
    modality: Modality
    text: str | None = None
    image: Path | None = None


@dataclass(frozen=True)
class EvalQuery:
    """A query: text, an image, or both (a composed query)."""

    id: str
    text: str | None = None
    image: Path | None = None

    def describe(self) -> str:
        parts = [self.text] if self.text else []
        if self.image is not None:
            parts.append(f"[image] {self.image.name}")
        return " + ".join(parts)


@dataclass(frozen=True)
class Task:
    """One retrieval direction: queries, their qrels, and the modalities searched (a product filter)."""

    name: str
    queries: tuple[EvalQuery, ...]
    qrels: dict[str, dict[str, int]]
    target: tuple[Modality, ...]
    relevance: str = ""  # what counts as relevant, in words, for the report


@dataclass(frozen=True)
class Dataset:
    name: str
    kind: str
    path: str
    candidates: tuple[Candidate, ...]
    tasks: tuple[Task, ...]
    counts: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(f"missing file {path}") from None
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{path} is not valid JSON: {exc}") from None


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a JSON-lines file, refusing a bad line with its number."""
    if not path.is_file():
        raise InvalidInputError(f"missing file {path}")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"{path}:{number}: not valid JSON ({exc})") from None
            if not isinstance(record, dict):
                raise InvalidInputError(f"{path}:{number}: expected a JSON object per line")
            yield record


def _limit(items: list, limit: int | None) -> list:
    return items if limit is None else items[:limit]


# ---- captions folder ------------------------------------------------------------------------------
def load_captions(folder: str | Path, *, limit_images: int | None = None) -> Dataset:
    """``captions.json`` (``[{"image": "x.jpg", "captions": [...]}]``) beside ``images/``.

    Two tasks: text→image (each caption is a query; its one image is relevant) and image→text (each
    image is a query; all of its captions are relevant). Caption ids are ``<image>#<n>``.
    """
    root = Path(folder).expanduser()
    records = _read_json(root / "captions.json")
    if not isinstance(records, list) or not records:
        raise InvalidInputError(f"{root / 'captions.json'} must be a non-empty list of {{image, captions}}")
    images_dir = root / "images"
    candidates: list[Candidate] = []
    text_queries: list[EvalQuery] = []
    image_queries: list[EvalQuery] = []
    t2i: dict[str, dict[str, int]] = {}
    i2t: dict[str, dict[str, int]] = {}
    seen: set[str] = set()
    for number, record in enumerate(_limit(records, limit_images)):
        if not isinstance(record, dict) or not isinstance(record.get("image"), str) or not isinstance(record.get("captions"), list):
            raise InvalidInputError(f"captions.json entry {number} must be {{'image': str, 'captions': [str, ...]}}")
        image_id = record["image"]
        if image_id in seen:
            raise InvalidInputError(f"captions.json lists image {image_id!r} twice")
        seen.add(image_id)
        path = images_dir / image_id
        if not path.is_file():
            raise InvalidInputError(f"captions.json names {image_id!r} but {path} does not exist")
        candidates.append(Candidate(id=image_id, modality=Modality.IMAGE, image=path))
        image_queries.append(EvalQuery(id=image_id, image=path))
        i2t[image_id] = {}
        for n, caption in enumerate(record["captions"]):
            if not isinstance(caption, str) or not caption.strip():
                raise InvalidInputError(f"captions.json entry {number} ({image_id}) has an empty or non-text caption")
            caption_id = f"{image_id}#{n}"
            candidates.append(Candidate(id=caption_id, modality=Modality.TEXT, text=caption.strip()))
            text_queries.append(EvalQuery(id=caption_id, text=caption.strip()))
            t2i[caption_id] = {image_id: 1}
            i2t[image_id][caption_id] = 1
    tasks = (
        Task("text_to_image", tuple(text_queries), t2i, (Modality.IMAGE,), "the caption's own image (exactly one)"),
        Task("image_to_text", tuple(image_queries), i2t, (Modality.TEXT,), "any of the image's captions"),
    )
    return Dataset(name=root.name, kind="captions", path=str(root.absolute()), candidates=tuple(candidates), tasks=tasks,
                   counts={"n_images": len(image_queries), "n_captions": len(text_queries)})


# ---- M-BEIR-style JSONL ---------------------------------------------------------------------------
_MBEIR_MODALITIES = {"text": Modality.TEXT, "image": Modality.IMAGE}


def _mbeir_modality(value: Any, where: str) -> set[str]:
    parts = {p.strip() for p in str(value or "").split(",") if p.strip()}
    if not parts or parts - {"text", "image"}:
        raise InvalidInputError(f"{where}: modality {value!r} not understood", hint="accepted: text, image, or image,text")
    return parts


def read_mbeir_qrels(path: Path) -> dict[str, dict[str, int]]:
    """M-BEIR / TREC qrels lines: ``qid 0 did relevance [task_id]``."""
    qrels: dict[str, dict[str, int]] = {}
    if not path.is_file():
        raise InvalidInputError(f"missing qrels file {path}")
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 4:
            raise InvalidInputError(f"{path}:{number}: expected 'qid 0 did relevance [task_id]'")
        try:
            grade = int(float(fields[3]))
        except ValueError:
            raise InvalidInputError(f"{path}:{number}: relevance {fields[3]!r} is not a number") from None
        qrels.setdefault(fields[0], {})[fields[2]] = grade
    return qrels


def load_mbeir(queries: str | Path, pool: str | Path, *, qrels: str | Path | None = None,
               image_root: str | Path | None = None, limit_queries: int | None = None) -> Dataset:
    """M-BEIR layout: queries (``qid, query_txt, query_img_path, query_modality, pos_cand_list``), a candidate
    pool (``did, txt, img_path, modality``) and optional qrels (else ``pos_cand_list`` is used).

    Image paths are relative to ``image_root`` (default: the pool file's folder). A candidate with both
    an image and text is indexed as its image (the product keeps one file per item); this is noted.
    """
    queries_path, pool_path = Path(queries).expanduser(), Path(pool).expanduser()
    root = Path(image_root).expanduser() if image_root else pool_path.parent
    notes: list[str] = []
    candidates: list[Candidate] = []
    targets: set[Modality] = set()
    joint = 0
    for record in read_jsonl(pool_path):
        did = str(record.get("did", "")).strip()
        if not did:
            raise InvalidInputError(f"{pool_path}: a candidate has no 'did'")
        modality = _mbeir_modality(record.get("modality"), f"{pool_path} candidate {did}")
        if "image" in modality:
            image = root / str(record.get("img_path") or "")
            if not record.get("img_path") or not image.is_file():
                raise InvalidInputError(f"{pool_path} candidate {did}: image {image} not found", hint="set --image-root")
            joint += "text" in modality
            candidates.append(Candidate(id=did, modality=Modality.IMAGE, image=image))
            targets.add(Modality.IMAGE)
        else:
            text = str(record.get("txt") or "").strip()
            if not text:
                raise InvalidInputError(f"{pool_path} candidate {did}: text candidate with empty 'txt'")
            candidates.append(Candidate(id=did, modality=Modality.TEXT, text=text))
            targets.add(Modality.TEXT)
    if joint:
        notes.append(f"{joint} image,text candidates were indexed as their image only (their text is not searched)")
    file_qrels = read_mbeir_qrels(Path(qrels).expanduser()) if qrels else None
    eval_queries: list[EvalQuery] = []
    task_qrels: dict[str, dict[str, int]] = {}
    for record in _limit(list(read_jsonl(queries_path)), limit_queries):
        qid = str(record.get("qid", "")).strip()
        if not qid:
            raise InvalidInputError(f"{queries_path}: a query has no 'qid'")
        modality = _mbeir_modality(record.get("query_modality"), f"{queries_path} query {qid}")
        query_text = str(record.get("query_txt") or "").strip() or None
        query_image = (root / str(record["query_img_path"])
                       if "image" in modality and record.get("query_img_path") else None)
        if query_image is not None and not query_image.is_file():
            raise InvalidInputError(f"{queries_path} query {qid}: image {query_image} not found", hint="set --image-root")
        if query_text is None and query_image is None:
            raise InvalidInputError(f"{queries_path} query {qid}: neither query_txt nor query_img_path")
        eval_queries.append(EvalQuery(id=qid, text=query_text, image=query_image))
        if file_qrels is not None:
            task_qrels[qid] = file_qrels.get(qid, {})
        else:
            task_qrels[qid] = {str(d): 1 for d in record.get("pos_cand_list") or []}
    name = queries_path.stem
    task = Task(name, tuple(eval_queries), task_qrels, tuple(sorted(targets, key=lambda m: m.value)),
                "qrels file" if qrels else "pos_cand_list of each query")
    return Dataset(name=name, kind="mbeir", path=str(queries_path.absolute()), candidates=tuple(candidates), tasks=(task,),
                   counts={"n_candidates": len(candidates), "n_queries": len(eval_queries)}, notes=tuple(notes))


# ---- BEIR-style text ------------------------------------------------------------------------------
def read_beir_qrels(path: Path) -> dict[str, dict[str, int]]:
    """BEIR qrels TSV: a ``query-id corpus-id score`` header, then one judgement per line."""
    if not path.is_file():
        raise InvalidInputError(f"missing qrels file {path}")
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        for number, row in enumerate(reader, 1):
            if not row or (number == 1 and row[0].strip().lower() in {"query-id", "query_id", "qid"}):
                continue
            if len(row) < 3:
                raise InvalidInputError(f"{path}:{number}: expected query-id<TAB>corpus-id<TAB>score")
            try:
                qrels.setdefault(row[0].strip(), {})[row[1].strip()] = int(float(row[2]))
            except ValueError:
                raise InvalidInputError(f"{path}:{number}: score {row[2]!r} is not a number") from None
    return qrels


def load_beir(folder: str | Path, *, split: str = "test", limit_queries: int | None = None) -> Dataset:
    """BEIR layout: ``corpus.jsonl`` (``_id, title, text``), ``queries.jsonl`` (``_id, text``), ``qrels/<split>.tsv``.

    Only queries that appear in the split's qrels are run. A document is indexed as title + text.
    """
    root = Path(folder).expanduser()
    qrels = read_beir_qrels(root / "qrels" / f"{split}.tsv")
    candidates = []
    for record in read_jsonl(root / "corpus.jsonl"):
        doc_id = str(record.get("_id", "")).strip()
        body = "\n\n".join(str(record.get(k) or "").strip() for k in ("title", "text") if str(record.get(k) or "").strip())
        if not doc_id or not body:
            raise InvalidInputError(f"{root / 'corpus.jsonl'}: every document needs '_id' and a title or text")
        candidates.append(Candidate(id=doc_id, modality=Modality.TEXT, text=body))
    queries = []
    for record in read_jsonl(root / "queries.jsonl"):
        query_id = str(record.get("_id", "")).strip()
        if query_id in qrels and str(record.get("text") or "").strip():
            queries.append(EvalQuery(id=query_id, text=str(record["text"]).strip()))
    queries = _limit(queries, limit_queries)
    if not queries:
        raise InvalidInputError(f"no query of {root / 'queries.jsonl'} is judged in qrels/{split}.tsv")
    task_qrels = {q.id: qrels[q.id] for q in queries}
    task = Task("text_to_text", tuple(queries), task_qrels, (Modality.TEXT,), f"qrels/{split}.tsv (grade > 0)")
    return Dataset(name=root.name, kind="beir", path=str(root.absolute()), candidates=tuple(candidates), tasks=(task,),
                   counts={"n_documents": len(candidates), "n_queries": len(queries)})
