"""``upgrade(engine, ...)``: switch a space to a new encoder without re-embedding first.

1. :func:`upgrade` re-encodes a sample of the index's own items with the new model, pairs them with their stored
   vectors, fits a projection NEW → OLD (ridge least squares) and reports its fit on held-out pairs. The sample's new
   vectors are kept: they are the first backfilled items.
2. From then on the space's queries are the new model's, projected into the old space (:func:`attach` installs that in
   an engine), so the index answers with the new model at once.
3. :func:`backfill` re-embeds the remaining items file by file into ``S__next``, journaled in the catalog (a batch is
   marked done after its write: a ``kill -9`` redoes at most one batch), throttled, resumable.
   Backfilled items are scored natively, the rest through the projection (:mod:`polyseek.upgrade.search`).
4. When every item holds a new vector, :func:`finalize` copies them over the old ones while searches read ``S__next``,
   then switches the index's description to the new encoder in one write and drops the projection and ``S__next``.
   :func:`rollback` forgets an unfinished upgrade: the old vectors were never touched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.encoders.base import load_encoder, normalize
from polyseek.encoders.projection import (
    GatedQueryEncoder,
    ProjectedQueryEncoder,
    Projection,
    ProjectionConfig,
    QuerySwap,
    calibrate_scores,
    fit_linear,
    load_projection,
)
from polyseek.errors import IndexMismatchError, InvalidInputError
from polyseek.types import item_id
from polyseek.upgrade import state as st

log = logging.getLogger(__name__)
SPACES = ("image", "text")
ANCHOR = 0.5  # weight of the old model's own query while it meets old vectors (upgrade's default)
ANCHOR_PERCENTILE = 99  # the gate: the agreement that 99 % of unrelated held-out pairs stay below
ProgressFn = Callable[[dict[str, Any]], None]


# ---- encoding an indexed file again ------------------------------------------------------------------
def encode_file(key: str, encoder: Any, space: str, rows_of: RowsOf | None = None) -> dict[str, np.ndarray]:
    """The new model's vectors for every item of one indexed file, by item id, as the indexer would make them."""
    return encode_files([key], encoder, space, rows_of)[key]


def encode_files(keys: Sequence[str], encoder: Any, space: str, rows_of: RowsOf | None = None) -> dict[str, dict[str, np.ndarray]]:
    """:func:`encode_file` for several files at once: each file decoded once, then all their images (and texts) in
    one call to the encoder, which batches them (48 photos through the Lite2 aligner: 2.3 -> 1.45 CPU s)."""
    return encode_decoded(decode_files(keys, space, rows_of), encoder)


# the stored rows of an indexed file: (file key, item ids its re-read gave) -> rows (see :func:`stored_rows`)
RowsOf = Callable[[str, Sequence[str]], Sequence[Any]]


def stored_rows(engine) -> RowsOf:
    """The stored rows of a file for :func:`decode_files`: the ids its re-read gave plus ``item_id(key, 0..items)``
    (a re-read can give fewer or other items than indexing did), those the store holds for that file."""
    def rows_of(key: str, ids: Sequence[str]) -> Sequence[Any]:
        record = engine.catalog.file(key)
        wanted = list(dict.fromkeys([*ids, *(item_id(key, i) for i in range(record.items if record else 0))]))
        return [row for row in engine.store.get(wanted) if row.doc == key]
    return rows_of


@dataclass(frozen=True)
class Decoded:
    """Files read and decoded, ready for one encoder call: (file, item id, image) and (file, item id, text)."""

    keys: tuple[str, ...]
    images: tuple[tuple[str, str, Any], ...]
    texts: tuple[tuple[str, str, str], ...]
    unmatched: int = 0  # stored items whose picture could not be made again (they keep no new vector)


def decode_files(keys: Sequence[str], space: str, rows_of: RowsOf | None = None) -> Decoded:
    """The decoding half of :func:`encode_files` (no model involved: a backfill runs it ahead, on another thread).

    With ``rows_of`` (:func:`stored_rows`) every stored item gets the new vector of what it holds: its stored words
    (:func:`polyseek.spaces.passage_words`; the text space reads no file again but a catalogue), and in the image space the picture of the re-read item of the same kind,
    place and words, or, for a PDF page or region, one rendered again from its stored locator. Without it, items are
    matched by their position in the re-read file, which holds only where reading a file twice gives the same items
    (not always so for PDFs: :func:`polyseek.ingest.pdf.item_pictures`)."""
    from polyseek.ingest.base import ingestor_for
    from polyseek.spaces import passage_text

    images: list[tuple[str, str, Any]] = []
    texts: list[tuple[str, str, str]] = []
    unmatched = 0
    for key in keys:
        path = Path(key)
        ingestor = ingestor_for(path)
        # the text space needs only the stored words: a file is read again only where its item ids come from it
        # (a catalogue's records), never transcribed or laid out again; the image space reads again only files
        # that can hold pictures (not a recording or a note, whose items are their words)
        reread = (rows_of is None or getattr(ingestor, "own_ids", False)
                  or (space == "image" and getattr(ingestor, "pictures", True)))
        chunks = list(ingestor.ingest(path, lambda *_: None)) if reread else []
        ids = [chunk.item_id or item_id(key, index) for index, chunk in enumerate(chunks)]
        if rows_of is None:
            for item, chunk in zip(ids, chunks):
                if space == "image" and chunk.image is not None:
                    images.append((key, item, chunk.image))
                elif chunk.text.strip():
                    texts.append((key, item, passage_text(chunk)))  # the words indexing encodes (a page's head)
            continue
        found_images, found_texts, missed = _match_stored(key, space if reread else "text", chunks, rows_of(key, ids))
        images += found_images
        texts += found_texts
        unmatched += missed
    return Decoded(tuple(keys), tuple(images), tuple(texts), unmatched)


def _match_stored(key: str, space: str, chunks: list[Any], rows: Sequence[Any]
                  ) -> tuple[list[tuple[str, str, Any]], list[tuple[str, str, str]], int]:
    """(images, texts, items left out) for the stored ``rows`` of one file, given its re-read ``chunks``."""
    from polyseek.spaces import passage_words

    def signature(modality: str, locator: dict[str, Any], text: str) -> tuple[str, str, str]:
        return modality, json.dumps(locator, sort_keys=True), text

    by_signature: dict[tuple[str, str, str], Any] = {}
    for chunk in chunks:
        by_signature.setdefault(signature(chunk.modality.value, chunk.locator.to_dict(), chunk.text), chunk)
    images: list[tuple[str, str, Any]] = []
    texts: list[tuple[str, str, str]] = []
    redraw: list[tuple[Any, str]] = []
    missed = 0
    for row in rows:
        words = passage_words(row.text, row.modality, row.metadata) if row.text.strip() else ""
        if space == "text":
            if words:
                texts.append((key, row.id, words))
            continue
        chunk = by_signature.get(signature(row.modality, row.locator, row.text))
        if chunk is not None:
            if chunk.image is not None:
                images.append((key, row.id, chunk.image))
            elif words:
                texts.append((key, row.id, words))
        elif row.modality in ("page", "region") and row.locator.get("page"):
            redraw.append((row, words))
        else:
            missed += 1
            log.warning("%s: item %s reads differently now; it keeps no new vector until the file is indexed again", key, row.id)
    for (row, words), picture in zip(redraw, _redrawn(key, [row for row, _ in redraw])):
        if picture is not None:
            images.append((key, row.id, picture))
        elif words:
            texts.append((key, row.id, words))
    return images, texts, missed


def _redrawn(key: str, rows: list[Any]) -> list[Any]:
    """Pictures of stored PDF pages and pictured regions, rendered from their locators; None for a text region (its
    words are embedded instead, as indexing does) and for a degenerate box."""
    from polyseek.ingest.pdf import PICTURED_REGIONS, item_pictures

    if not rows:
        return []
    wanted: list[tuple[int, tuple[float, float, float, float] | None]] = []
    pictured: list[bool] = []
    for row in rows:
        box = row.locator.get("bbox")
        if row.modality == "page":
            wanted.append((int(row.locator["page"]), None))
            pictured.append(True)
        elif row.metadata.get("kind") in PICTURED_REGIONS and box and len(box) == 4:
            wanted.append((int(row.locator["page"]), (float(box[0]), float(box[1]), float(box[2]), float(box[3]))))
            pictured.append(True)
        else:
            pictured.append(False)
    drawn = iter(item_pictures(key, wanted) if wanted else [])
    return [next(drawn) if p else None for p in pictured]


def encode_decoded(decoded: Decoded, encoder: Any) -> dict[str, dict[str, np.ndarray]]:
    """The encoding half of :func:`encode_files`: new vectors by file, then item id."""
    out: dict[str, dict[str, np.ndarray]] = {key: {} for key in decoded.keys}
    if decoded.images:
        for (key, item, _), vector in zip(decoded.images, encoder.encode_images([image for _, _, image in decoded.images])):
            out[key][item] = vector
    if decoded.texts:
        from polyseek.spaces import encode_passages  # indexing's batches: the vectors a fresh index holds

        for (key, item, _), vector in zip(decoded.texts, encode_passages(encoder, [text for _, _, text in decoded.texts])):
            out[key][item] = vector
    return out


def with_threads(encoder: Any, threads: int | None) -> Any:
    """``encoder`` running its forward passes on ``threads`` intra-op threads where it can say so (``with_threads``,
    e.g. the aligner's image runtime); other encoders are returned as they are."""
    method = getattr(encoder, "with_threads", None)
    return method(threads) if threads is not None and callable(method) else encoder


def indexed_files(engine) -> dict[str, Any]:
    """Indexed files that hold items, sorted by key (the backfill order)."""
    return dict(sorted((k, r) for k, r in engine.catalog.files().items() if r.status == "ok" and r.items > 0))


def _unchanged(record) -> bool:
    """Re-encode only files that are still what was indexed (a changed file is re-indexed by the next ``index``)."""
    try:
        stat = Path(record.key).stat()
    except OSError:
        return False
    return stat.st_size == record.size and stat.st_mtime == record.mtime


def write_new_vectors(engine, space: str, new_space: str, vectors: dict[str, np.ndarray]) -> int:
    """Add ``new_space`` vectors to existing rows, keeping every other vector they hold; returns rows written."""
    store = engine.store
    rows = store.get(list(vectors))
    if not rows:
        return 0
    ids = [row.id for row in rows]
    held = {name: store.get_vectors(name, ids) for name in store_spaces(engine)}
    for row in rows:
        row.vectors = {name: values[row.id] for name, values in held.items() if row.id in values}
        row.vectors[new_space] = vectors[row.id]
    store.upsert(rows)
    return len(rows)


def store_spaces(engine) -> list[str]:
    spaces = getattr(engine.store, "spaces", None)
    if spaces:
        return list(spaces)
    meta = engine.catalog.get_meta("index") or {}
    names = list(meta.get("spaces", {}))
    return names + [s.new_space for s in st.states(engine.catalog).values()]


# ---- 1. start: fit the projection from the index's own items -------------------------------------------
def upgrade(engine, *, image_encoder: str | None = None, text_encoder: str | None = None, sample: int = 1000,
            holdout: float = 0.2, ridge: float | None = None, seed: int = 0, projection: str | Path | None = None,
            keep_sample: bool = True, anchor: float = ANCHOR, on_progress: ProgressFn | None = None) -> dict[str, Any]:
    """Start upgrading one space to a new encoder; returns the held-out fit of the projection.

    ``sample``: items re-encoded to fit the projection (their new vectors are kept). ``projection``: a folder with a
    ready projection NEW → OLD (e.g. the shipped ``e5-to-bge`` for queries in any language) used instead of fitting.
    ``keep_sample=False`` leaves the sample's new vectors out (a true 0 % backfill, for measurements).
    ``anchor``: weight of the old model's own query in a query that still meets old vectors (see :func:`anchor_gate`);
    0 answers them with the projected new query alone.
    """
    if not 0.0 <= anchor < 1.0:
        raise InvalidInputError(f"anchor must be at least 0 and below 1, got {anchor}",
                                hint="0: the projected new query alone; 0.5 (default): old and projected new query in equal parts")
    if (image_encoder is None) == (text_encoder is None):
        raise InvalidInputError("upgrade one space at a time", hint="give --image-encoder NEW or --text-encoder NEW")
    space = "image" if image_encoder is not None else "text"
    new_name = image_encoder if image_encoder is not None else text_encoder
    if not new_name:  # "" is not an encoder (and used to fall through to the text space)
        raise InvalidInputError(f"no new {space} encoder named", hint=f"give --{space}-encoder NEW")
    meta = st.index_meta(engine.catalog)
    if st.state(engine.catalog, space) is not None:
        raise InvalidInputError(f"the {space} space is already being upgraded",
                                hint="resume it with `polyseek upgrade --resume`, or `polyseek upgrade --rollback`")
    old = meta["spaces"][space]
    if old["encoder"] == new_name:
        raise InvalidInputError(f"the {space} space already uses {new_name!r}")
    new = load_encoder(new_name)
    if int(new.dim) != int(old["dim"]):
        raise InvalidInputError(f"{new_name} gives {new.dim}-d vectors and the index's {space} space holds {old['dim']}-d",
                                hint="this version upgrades between encoders of the same size")
    if space == "image" and not hasattr(new, "encode_images"):
        raise InvalidInputError(f"{new_name} cannot encode images", hint="an image space needs an image-text encoder")
    files = indexed_files(engine)
    if not files:
        raise InvalidInputError("the index holds no items: there is nothing to upgrade")
    value = st.UpgradeState(space=space, old_encoder=old["encoder"], new_encoder=new_name, new_space=st.next_space(space),
                            dim=int(old["dim"]), new_revision=getattr(new, "revision", None),
                            total_files=len(files), total_items=sum(r.items for r in files.values()))
    engine.store.create({value.new_space: value.dim})

    rng = np.random.default_rng(seed)
    keys = list(files)
    order = rng.permutation(len(keys))
    new_vectors: dict[str, np.ndarray] = {}
    done: dict[str, int] = {}
    for position in order:
        if len(new_vectors) >= sample:
            break
        key = keys[position]
        if not _unchanged(files[key]):
            continue
        vectors = encode_file(key, new, space, stored_rows(engine))
        new_vectors.update(vectors)
        done[key] = len(vectors)
        if on_progress:
            on_progress({"stage": "sample", "done": len(new_vectors), "total": sample})
    old_vectors = engine.store.get_vectors(space, list(new_vectors))
    paired = [i for i in new_vectors if i in old_vectors]
    if projection is not None:
        fitted = load_projection(projection)
        if fitted.config.source != new_name or fitted.config.dim_out != value.dim:
            raise InvalidInputError(f"the projection at {projection} maps {fitted.config.source} into {fitted.config.dim_out}-d vectors",
                                    hint=f"it must map {new_name} into the {space} space's {value.dim}-d vectors")
        report = {"source": str(projection), "n_pairs": len(paired)}
        if paired:
            new_m, old_m = np.stack([new_vectors[i] for i in paired]), np.stack([old_vectors[i] for i in paired])
            report.update(heldout_fit(fitted, new_m, old_m))  # none of these pairs trained the ready map
            fitted = anchor_gate(fitted, new_m, old_m, anchor)
            fitted, gaps = calibrate_pairs(fitted, new_m, old_m)
            report.update(gaps)
    else:
        if len(paired) < 8:
            raise InvalidInputError(f"only {len(paired)} items could be re-encoded to fit a projection", hint="index more files first")
        fitted, report = fit_from_pairs(np.stack([new_vectors[i] for i in paired]), np.stack([old_vectors[i] for i in paired]),
                                        holdout=holdout, ridge=ridge, seed=seed, source=new_name, target=value.old_encoder,
                                        anchor=anchor)
    if fitted.config.notes.get("anchor"):
        report["anchor"] = fitted.config.notes["anchor"]
    value = replace(value, fit=report)
    # the sample's new vectors are the first backfilled items; journal after the write
    if keep_sample:
        write_new_vectors(engine, space, value.new_space, new_vectors)
    st.put_projection(engine.catalog, space, fitted)
    st.put_state(engine.catalog, value)
    if keep_sample:
        st.mark_done(engine.catalog, space, done)
    attach(engine)
    return {"space": space, "from": value.old_encoder, "to": new_name, "fit": report,
            "backfilled_items": len(new_vectors) if keep_sample else 0, "total_items": value.total_items}


def heldout_fit(projection: Projection, new: np.ndarray, old: np.ndarray) -> dict[str, Any]:
    """How well projected new vectors stand in for old ones: cosine to their own old vector, and whether their own
    old vector is the nearest among the held-out items (recall@1, @10)."""
    projected = projection(new)
    cos = np.sum(projected * normalize(old), axis=1)
    scores = projected @ normalize(old).T
    own = np.diag(scores)
    ranks = (scores > own[:, None]).sum(1) + 1
    return {"n_heldout": int(len(new)), "cosine_mean": round(float(cos.mean()), 4), "cosine_p10": round(float(np.percentile(cos, 10)), 4),
            "recall@1": round(float((ranks <= 1).mean()), 4), "recall@10": round(float((ranks <= 10).mean()), 4)}


RIDGES = (1e-2, 1e-3, 1e-4)


def fit_from_pairs(new: np.ndarray, old: np.ndarray, *, holdout: float = 0.2, ridge: float | None = None, seed: int = 0,
                   source: str = "new", target: str = "old", anchor: float = 0.0) -> tuple[Projection, dict[str, Any]]:
    """Fit on ``1 - holdout`` of the pairs, report on the rest, then refit on all (the shipped map) and calibrate scores.

    ``ridge=None`` picks the ridge of :data:`RIDGES` with the best held-out cosine (the reported figures are then those
    of the chosen value on the pairs that chose it: slightly optimistic)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(new))
    n_held = int(round(len(new) * holdout)) if len(new) >= 10 else 0
    held, train = order[:n_held], order[n_held:]
    candidates = RIDGES if ridge is None else (ridge,)
    fits = {}
    if n_held:
        for value in candidates:
            fits[value] = heldout_fit(fit_linear(new[train], old[train], ridge=value), new[held], old[held])
        ridge = max(fits, key=lambda v: fits[v]["cosine_mean"])
    ridge = ridge if ridge is not None else RIDGES[0]
    report: dict[str, Any] = {"n_pairs": int(len(new)), "n_train": int(len(train)), "ridge": ridge,
                              "ridge_chosen_from": list(candidates)}
    if n_held:
        report.update(fits[ridge])
    projection = fit_linear(new, old, ridge=ridge, source_name=source, target_name=target, side="items")
    projection = anchor_gate(projection, new[held] if n_held else new, old[held] if n_held else old, anchor)
    projection, gaps = calibrate_pairs(projection, new, old, seed=seed)
    report.update(gaps)
    return projection, report


def anchor_gate(projection: Projection, new: np.ndarray, old: np.ndarray, weight: float) -> Projection:
    """Record in the projection how queries meet old vectors: ``normalize(w * old query + (1 - w) * projected new
    query)`` where the two agree (cosine >= the gate), the projected new query alone where they do not (a text the old
    model cannot read, e.g. another language). The gate is the agreement that only 1 % of *unrelated* pairs reach
    (an item's projected new vector against other items' old vectors): two models that read the same text agree more
    than that, an old vector that is noise for the new model's reading does not."""
    notes = {k: v for k, v in projection.config.notes.items() if k != "anchor"}
    if weight > 0 and len(new) >= 2:
        cosines = projection(new) @ normalize(old).T
        unrelated = cosines[~np.eye(len(new), dtype=bool)]
        agree = round(float(np.percentile(unrelated, ANCHOR_PERCENTILE)), 4)
        notes["anchor"] = {"weight": float(weight), "agree": agree, "n_pairs": int(len(new))}
    config = ProjectionConfig(**{**asdict(projection.config), "notes": notes})
    return Projection(config, projection.weight, projection.bias, projection.hidden_in, projection.hidden_bias, projection.hidden_out)


def anchored(projection: Projection, projected: np.ndarray, old: np.ndarray) -> np.ndarray:
    """What :class:`GatedQueryEncoder` makes of a projected vector and the old model's vector of the same input."""
    gate = projection.config.notes.get("anchor") or {}
    weight = float(gate.get("weight", 0.0))
    if weight <= 0:
        return projected
    agreement = np.sum(projected * old, axis=1, keepdims=True)
    w = np.where(agreement >= float(gate.get("agree", 0.0)), weight, 0.0).astype(np.float32)
    return normalize(w * old + (1.0 - w) * projected)


def calibrate_pairs(projection: Projection, new: np.ndarray, old: np.ndarray, seed: int = 0) -> tuple[Projection, dict[str, Any]]:
    """Map projected scores (projected new item vs old vectors) onto native ones (new vs new), item-to-item pairs.
    With an anchor, the stand-in queries are anchored the same way (the item's own old vector as the old query)."""
    order = np.random.default_rng(seed).permutation(len(new))
    queries = order[: min(200, len(order))]
    projected = anchored(projection, projection(new[queries]), normalize(old[queries])) @ normalize(old).T
    native = normalize(new[queries]) @ normalize(new).T
    projection = calibrate_scores(projection, projected, native)
    calibrated = projected * projection.config.score_scale + projection.config.score_shift
    return projection, {"score_gap_mean_abs": round(float(np.abs(calibrated - native).mean()), 4),
                        "score_gap_mean_abs_uncalibrated": round(float(np.abs(projected - native).mean()), 4)}


# ---- 2. queries: the space's query encoder now -----------------------------------------------------------
def query_encoder(engine, space: str, base: Any | None = None) -> Any:
    """The encoder that answers queries in ``space`` now: during an upgrade the new model projected into the old
    space (documents and images still through the old one), otherwise the space's own encoder."""
    base = base if base is not None else _loaded(engine, space)
    value = st.state(engine.catalog, space)
    if value is None:
        return base
    projection = st.get_projection(engine.catalog, space)
    if projection is None:
        return base
    new = new_encoder(engine, value)
    if space == "image" and same_text_side(base, new):
        # two image-text models that share their text encoder (two aligners on bge) put a text query at the same
        # point: the old vectors are best compared with the old model's own query; the map, fitted on image
        # vectors, only bent it (eval upgrade --space image: R@10 0.735 -> 0.615 at 0 % backfilled)
        return base
    projected = ProjectedQueryEncoder(new, projection, name=f"{value.new_encoder}>{value.old_encoder}")
    gate = projection.config.notes.get("anchor") or {}
    if float(gate.get("weight", 0.0)) > 0:  # the old model's own query anchors the projected one where they agree
        return QuerySwap(base, GatedQueryEncoder(base, projected, agree=float(gate["agree"]), weight=float(gate["weight"]),
                                                 name=f"{projected.name}+{value.old_encoder}"))
    return QuerySwap(base, projected)


def same_text_side(base: Any, new: Any) -> bool:
    """Whether two encoders answer text queries with the same text encoder (an aligner's ``text_encoder_name``)."""
    ours, theirs = getattr(base, "text_encoder_name", None), getattr(new, "text_encoder_name", None)
    return ours is not None and ours == theirs


_new_encoders: dict[tuple[str, str | None], Any] = {}


def new_encoder(engine, value: st.UpgradeState) -> Any:
    """The upgrade's new encoder, refused if its weights changed since the upgrade began."""
    key = (value.new_encoder, value.new_revision)
    if key not in _new_encoders:
        encoder = load_encoder(value.new_encoder)
        if getattr(encoder, "revision", None) != value.new_revision:
            raise IndexMismatchError(f"the {value.space} upgrade began with other weights of {value.new_encoder!r}",
                                     hint="roll it back (`polyseek upgrade --rollback`) and start again")
        _new_encoders[key] = encoder
    return _new_encoders[key]


def _loaded(engine, space: str) -> Any:
    encoder = engine.encoder(space)
    return encoder.base if isinstance(encoder, QuerySwap) else encoder


def _install(engine, space: str, encoder: Any) -> None:
    engine.spaces.install(space, encoder)


def needs_attach(catalog) -> bool:
    """Whether an index's description asks for anything :func:`attach` installs (read without loading models)."""
    return bool(st.states(catalog)) or bool((catalog.get_meta("index") or {}).get("query_encoder"))


def attach(engine) -> None:
    """Make ``engine`` search the way its index's upgrades say: projected queries, and the backfill mix."""
    from polyseek.upgrade.search import UpgradePolicy

    active = st.states(engine.catalog)
    for space in SPACES:
        base = _loaded(engine, space)
        _install(engine, space, query_encoder(engine, space, base) if space in active else base)
    chosen = (engine.catalog.get_meta("index") or {}).get("query_encoder")
    free = [s for s in SPACES if s not in active]
    if chosen and free:
        try:
            use_query_encoder(engine, chosen, spaces=free)
        except InvalidInputError:  # recorded for spaces now upgraded to other encoders: they keep their own queries
            pass
    pipeline = getattr(engine, "pipeline", None)
    if pipeline is not None:
        pipeline.policies = [p for p in pipeline.policies if not isinstance(p, UpgradePolicy)]
        if active:
            pipeline.policies.insert(0, UpgradePolicy(engine))


def set_query_encoder(engine, name: str | None) -> list[str]:
    """Make ``name`` the index's query encoder for good (recorded in its description, so every process that opens it
    uses it once attached); ``None`` goes back to each space's own encoder. Returns the spaces it answers."""
    meta = st.index_meta(engine.catalog)
    swapped = use_query_encoder(engine, name) if name else []
    if name is None:
        meta.pop("query_encoder", None)
    else:
        meta["query_encoder"] = name
    engine.catalog.set_meta("index", meta)
    if name is None:
        for space in SPACES:
            _install(engine, space, _loaded(engine, space))
        attach(engine)
    return swapped


def use_query_encoder(engine, name: str, spaces: Sequence[str] = SPACES) -> list[str]:
    """Answer every query with ``name`` (a query encoder in the index's own spaces, e.g. ``e5-multilingual-bge``):
    the multilingual path, with no backfill. Spaces whose text side is not the encoder's target keep their queries."""
    encoder = load_encoder(name)
    target = getattr(getattr(encoder, "projection", None), "config", None)
    target_name = target.target if target is not None else None
    swapped = []
    for space in spaces:
        base = _loaded(engine, space)
        text_side = getattr(base, "text_encoder_name", base.name)
        if target_name is None or text_side == target_name:
            _install(engine, space, QuerySwap(base, encoder))
            swapped.append(space)
    if not swapped:
        raise InvalidInputError(f"{name} projects into {target_name!r}, which neither space of this index uses for queries")
    return swapped
