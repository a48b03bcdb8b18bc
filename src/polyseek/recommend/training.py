"""``train-recommender``: interactions CSV → sequences of indexed items → a SASRec model directory beside the index."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.errors import InvalidInputError
from polyseek.recommend import sasrec
from polyseek.recommend.base import SPACES, Pool
from polyseek.recommend.content_cf import TUNED_CF, CollaborativeModel
from polyseek.recommend.cooccurrence import CoOccurrence


@dataclass(frozen=True)
class Event:
    user: str
    item: str
    timestamp: float
    rating: float | None = None
    order: int = 0  # position in the file: breaks timestamp ties


def read_interactions(path: Path, *, user: str = "user", item: str = "item", timestamp: str = "timestamp",
                      rating: str | None = "rating") -> tuple[list[Event], list[str]]:
    """Events of a CSV with a header, and one line per bad row (``line N: why``); a bad row never stops the file."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"interactions file not found: {path}")
    events, problems = [], []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [c for c in (user, item, timestamp) if c not in header]
        if missing:
            raise InvalidInputError(f"{path.name}: no column {missing[0]!r} in the header {header}",
                                    hint="name the columns with --user-column, --item-column, --time-column")
        for order, row in enumerate(reader):
            line = reader.line_num
            try:
                moment = float(row[timestamp])
                score = float(row[rating]) if rating and rating in row and row[rating] not in (None, "") else None
                if not math.isfinite(moment) or (score is not None and not math.isfinite(score)):
                    raise ValueError("not finite")
            except (TypeError, ValueError):
                problems.append(f"line {line}: timestamp and rating must be numbers")
                continue
            if not row.get(user) or not row.get(item):
                problems.append(f"line {line}: empty {user!r} or {item!r}")
                continue
            events.append(Event(str(row[user]), str(row[item]), moment, score, order))
    return events, problems


def sequences_by_user(events: Sequence[Event]) -> dict[str, list[Event]]:
    """Each user's events oldest first (ties keep file order)."""
    grouped: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        grouped[event.user].append(event)
    return {u: sorted(e, key=lambda x: (x.timestamp, x.order)) for u, e in grouped.items()}


def catalogue_record_ids(catalogue: Path) -> list[str]:
    """The record ids of a catalogue file, in file order (bad records skipped)."""
    from polyseek.ingest.catalogue import read_records

    out = []
    for _line, record, _why in read_records(Path(catalogue)):
        if record is not None and str(record.get("id", "")).strip():
            out.append(str(record["id"]).strip())
    return list(dict.fromkeys(out))


def item_features(pool: Pool) -> np.ndarray:
    return np.hstack([pool.vectors[s] for s in SPACES]).astype(np.float32)


def train_recommender(engine: Any, interactions: Path, *, catalogue: Path | None = None, model_dir: Path | None = None,
                      config: sasrec.TrainConfig = sasrec.TrainConfig(), columns: dict[str, Any] | None = None,
                      progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Train the sequential recommender of ``engine``'s index and save it; returns what was done.

    Items are item ids, or record ids of ``catalogue`` (an indexed catalogue file) when it is given; with a
    catalogue every record is in the model's vocabulary, so records nobody interacted with can be recommended.
    """
    from polyseek.ingest.catalogue import record_item_id
    from polyseek.recommend.pipeline import default_model_dir

    events, problems = read_interactions(Path(interactions), **(columns or {}))
    if catalogue is not None:
        key = str(Path(catalogue).expanduser().absolute())
        to_item = {rid: record_item_id(key, rid) for rid in catalogue_record_ids(Path(catalogue))}
        vocabulary = list(to_item.values())
    else:
        to_item = {}
        vocabulary = list(dict.fromkeys(e.item for e in events))
    meta = engine.catalog.get_meta("index") or {}
    dims = {s: int(v["dim"]) for s, v in meta.get("spaces", {}).items() if s in SPACES}
    if set(dims) != set(SPACES):
        raise InvalidInputError("the index has no image and text vectors yet", hint="index the catalogue first")
    by_space = {s: engine.store.get_vectors(s, vocabulary) for s in SPACES}
    vocabulary = [i for i in vocabulary if any(i in by_space[s] for s in SPACES)]
    if not vocabulary:
        raise InvalidInputError("none of the interactions' items is in the index",
                                hint="give --catalogue when items are catalogue record ids")
    number = {item: n + 1 for n, item in enumerate(vocabulary)}
    sequences, unknown = [], 0
    for user_events in sequences_by_user(events).values():
        sequence = []
        for event in user_events:
            item = to_item.get(event.item, event.item) if catalogue is not None else event.item
            if item in number:
                sequence.append(number[item])
            else:
                unknown += 1
        if len(sequence) >= 2:
            sequences.append(sequence)
    pool = Pool.from_vectors(vocabulary, by_space, dims)
    model, log = sasrec.train(item_features(pool), sequences, config, progress=progress)
    directory = Path(model_dir) if model_dir else default_model_dir(engine)
    if directory is None:
        raise InvalidInputError("an in-memory index has no folder to keep the model in", hint="give --model-dir")
    info = {"feature_dim": int(sum(dims.values())), "dims": dims, "n_items": len(vocabulary), "n_users": len(sequences),
            "n_interactions": len(events), "unknown_items": unknown, "bad_rows": len(problems), "log": log,
            "encoders": {s: v.get("encoder") for s, v in meta.get("spaces", {}).items()}}
    cooccurrence = CoOccurrence.from_sequences(sequences, len(vocabulary))  # for the hybrid's item-kNN and popularity
    # the content → collaborative map: places items nobody interacted with (and items indexed later) from content
    from dataclasses import replace

    from polyseek.recommend.pipeline import pictures

    rows = {row.id: row for start in range(0, len(vocabulary), 1000) for row in engine.store.get(vocabulary[start:start + 1000])}
    pool = replace(pool, picture=pictures([rows.get(i) for i in vocabulary]))  # a text item's image vector is text
    collaborative = CollaborativeModel.fit(pool, cooccurrence.matrix, **TUNED_CF)
    info["content_cf"] = {**TUNED_CF, "items_with_interactions": int(collaborative.warm.sum())}

    def extra(folder: Path) -> None:
        cooccurrence.save(folder)
        collaborative.save(folder)

    sasrec.save(model, directory, vocabulary, config, info, extra=extra)
    return {"model_dir": str(directory), "problems": problems[:20], **{k: v for k, v in info.items() if k != "log"},
            "final_loss": log["epochs"][-1]["loss"] if log["epochs"] else None}
