"""The background half of an upgrade: re-embed items into ``S__next``, then switch, or roll back.

The journal (``upgrade_done``) records a batch of files after their new vectors are written, so a run killed at any
point (``kill -9``) redoes at most the batch it was writing; ``upsert`` replaces whole rows, so redoing is harmless.
Before switching, every item is checked for a new vector (a file re-indexed during the upgrade gets old vectors
only, and is embedded again here), so the switch never leaves an item without a vector.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from polyseek.errors import InvalidInputError
from polyseek.types import item_id
from polyseek.upgrade import state as st
from polyseek.upgrade.core import (
    Decoded,
    _unchanged,
    attach,
    decode_files,
    encode_decoded,
    encode_files,
    indexed_files,
    new_encoder,
    store_spaces,
    stored_rows,
    with_threads,
    write_new_vectors,
)

ProgressFn = Callable[[dict[str, Any]], None]


def _only_state(engine, space: str | None) -> st.UpgradeState:
    active = st.states(engine.catalog)
    if space is not None:
        if space not in active:
            raise InvalidInputError(f"no upgrade of the {space} space is in progress")
        return active[space]
    if not active:
        raise InvalidInputError("no upgrade is in progress", hint="start one: polyseek upgrade --image-encoder NEW or --text-encoder NEW")
    if len(active) > 1:
        raise InvalidInputError("upgrades of both spaces are in progress", hint="name one with --space image|text")
    return next(iter(active.values()))


BACKFILL_THREADS = 1  # intra-op threads of the backfill's encoder: searches keep the other cores


def backfill(engine, space: str | None = None, *, batch_files: int = 16, throttle: float = 0.0, max_files: int | None = None,
             max_seconds: float | None = None, finalize_when_done: bool = True, on_progress: ProgressFn | None = None,
             threads: int | None = BACKFILL_THREADS) -> dict[str, Any]:
    """Re-embed the files not yet journaled; returns counts. ``throttle``: seconds of sleep per second of work (0.5
    leaves a third of the time to searches). ``max_files``/``max_seconds`` stop early (a later call resumes).
    ``threads``: intra-op threads of the new encoder's forward passes where it can be told (the aligner's image
    runtime; None: its default, every core). The next batch's files are decoded on another thread while the
    current one is encoded, so the encoder does not wait for the disk and the image decoder."""
    value = _only_state(engine, space)
    if value.phase != "backfill":
        return finalize(engine, value.space)
    encoder = with_threads(new_encoder(engine, value), threads)
    engine.store.create({value.new_space: value.dim})
    files = indexed_files(engine)
    done = st.done_files(engine.catalog, value.space)
    todo = [k for k in files if k not in done]
    if max_files is not None:
        todo = todo[:max_files]
    batches = [todo[start : start + batch_files] for start in range(0, len(todo), batch_files)]
    rows_of = stored_rows(engine)

    cpu = [0.0]  # CPU seconds of the backfill's own threads (with one intra-op thread, every forward pass is here)

    def decode(batch: list[str]) -> Decoded:
        # changed on disk: the next `index` re-embeds them; the check before the switch catches it
        began = time.thread_time()
        try:
            return decode_files([key for key in batch if _unchanged(files[key])], value.space, rows_of)
        finally:
            cpu[0] += time.thread_time() - began

    started, began = time.perf_counter(), time.thread_time()
    written_files = written_items = skipped = unmatched = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="backfill-decode") as reader:
        ahead: Future[Decoded] | None = reader.submit(decode, batches[0]) if batches else None
        for position, batch in enumerate(batches):
            if ahead is None or (max_seconds is not None and time.perf_counter() - started >= max_seconds):
                break
            decoded = ahead.result()
            ahead = reader.submit(decode, batches[position + 1]) if position + 1 < len(batches) else None
            work = time.perf_counter()
            skipped += len(batch) - len(decoded.keys)
            unmatched += decoded.unmatched
            vectors: dict[str, Any] = {}
            journal: dict[str, int] = {}
            for key, found in encode_decoded(decoded, encoder).items():  # the batch's images in one call
                vectors.update(found)
                journal[key] = len(found)
            write_new_vectors(engine, value.space, value.new_space, vectors)
            st.mark_done(engine.catalog, value.space, journal)  # after the write: a kill redoes at most this batch
            written_files += len(batch)
            written_items += len(vectors)
            if on_progress:
                on_progress(status(engine)[value.space])
            if throttle > 0:
                time.sleep(throttle * (time.perf_counter() - work))
        if ahead is not None:
            ahead.cancel()  # stopped early: a decode already running finishes, its result is dropped
    seconds = time.perf_counter() - started
    cpu[0] += time.thread_time() - began
    remaining = [k for k in files if k not in st.done_files(engine.catalog, value.space)]
    result = {"space": value.space, "files": written_files, "items": written_items, "skipped_changed": skipped, "unmatched": unmatched,
              "seconds": round(seconds, 3), "items_per_second": round(written_items / seconds, 2) if seconds > 0 else None,
              "remaining_files": len(remaining), "threads": threads, "batch_files": batch_files,
              # load-independent: the rate one free core would give (runtime pool threads, threads > 1, not counted)
              "cpu_seconds": round(cpu[0], 3), "items_per_cpu_second": round(written_items / cpu[0], 2) if cpu[0] > 0 else None}
    if not remaining and finalize_when_done:
        result["finalize"] = finalize(engine, value.space)
    return result


def missing_items(engine, value: st.UpgradeState) -> dict[str, list[str]]:
    """Files with at least one item that has an old vector and no new one."""
    out: dict[str, list[str]] = {}
    for key, record in indexed_files(engine).items():
        ids = [item_id(key, i) for i in range(record.items)]
        old = engine.store.get_vectors(value.space, ids)
        new = engine.store.get_vectors(value.new_space, list(old))
        lacking = [i for i in old if i not in new]
        if lacking:
            out[key] = lacking
    return out


def finalize(engine, space: str) -> dict[str, Any]:
    """Switch ``space`` to the new encoder: copy the new vectors over the old ones (searches read ``S__next`` meanwhile),
    then one write of the index's description, then drop ``S__next`` and the projection."""
    value = st.state(engine.catalog, space)
    if value is None:
        raise InvalidInputError(f"no upgrade of the {space} space is in progress")
    encoder = new_encoder(engine, value)
    missing = missing_items(engine, value)
    if missing:
        vectors: dict[str, Any] = {}
        for found in encode_files(list(missing), encoder, space, stored_rows(engine)).values():
            vectors.update(found)
        write_new_vectors(engine, space, value.new_space, vectors)
        still = missing_items(engine, value)
        if still:
            raise InvalidInputError(f"{sum(len(v) for v in still.values())} item(s) could not be given a new vector",
                                    hint="re-index the changed files (polyseek index), then run the upgrade again")
    if value.phase != "switching":
        value = st.with_phase(value, "switching")  # from now on searches use S__next alone
        st.put_state(engine.catalog, value)
        attach(engine)
    store = engine.store
    copied = 0
    for ids in _id_chunks(engine):
        rows = store.get(ids)
        if not rows:
            continue
        ids = [r.id for r in rows]
        held = {name: store.get_vectors(name, ids) for name in store_spaces(engine)}
        for row in rows:
            row.vectors = {name: values[row.id] for name, values in held.items() if row.id in values}
            if row.id in held.get(value.new_space, {}):
                row.vectors[space] = held[value.new_space][row.id]  # S__next stays until the switch below
        store.upsert(rows)
        copied += len(rows)
    meta = st.index_meta(engine.catalog)
    described = {**meta["spaces"][space], "encoder": value.new_encoder, "dim": value.dim}
    if value.new_revision:
        described["revision"] = value.new_revision
    else:
        described.pop("revision", None)
    st.put_state(engine.catalog, None, space, spaces_update=described)  # the switch: one write
    _reload(engine, space)
    dropped = drop_space(engine, value.new_space)
    st.put_projection(engine.catalog, space, None)
    st.clear_journal(engine.catalog, space)
    store.optimize()
    return {"space": space, "encoder": value.new_encoder, "copied": copied, "dropped_vectors": dropped}


def drop_space(engine, name: str) -> int:
    """Remove every row's vector in store space ``name`` (the column stays, empty)."""
    store = engine.store
    dropped = 0
    for chunk in _id_chunks(engine):
        ids = list(store.get_vectors(name, chunk))
        if not ids:
            continue
        rows = store.get(ids)
        held = {s: store.get_vectors(s, ids) for s in store_spaces(engine) if s != name}
        for row in rows:
            row.vectors = {s: values[row.id] for s, values in held.items() if row.id in values}
        store.upsert(rows)
        dropped += len(rows)
    return dropped


REWRITE_ROWS = 512  # rows per write when the switch or a rollback rewrites every row (one write per file made a
# table version per file: 506 photos took minutes under load, and each write scans the table)


def _id_chunks(engine) -> Iterator[list[str]]:
    """Every indexed item id, in lists of about :data:`REWRITE_ROWS` (whole files, in the backfill order)."""
    chunk: list[str] = []
    for key, record in indexed_files(engine).items():
        chunk += [item_id(key, i) for i in range(record.items)]
        if len(chunk) >= REWRITE_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _reload(engine, space: str) -> None:
    # an engine opened with the old encoder asked for by name would load it again: it now asks for the new one
    engine.spaces.reload(space, st.index_meta(engine.catalog)["spaces"][space]["encoder"])
    attach(engine)


def rollback(engine, space: str | None = None) -> dict[str, Any]:
    """Forget an unfinished upgrade: queries go back to the old encoder, the new vectors are dropped."""
    value = _only_state(engine, space)
    if value.phase == "switching":
        raise InvalidInputError(f"the {value.space} upgrade is past the point of return (old vectors are being replaced)",
                                hint="finish it: polyseek upgrade --resume")
    st.put_state(engine.catalog, None, value.space)  # queries switch back at once
    attach(engine)
    dropped = drop_space(engine, value.new_space)
    st.put_projection(engine.catalog, value.space, None)
    st.clear_journal(engine.catalog, value.space)
    return {"space": value.space, "encoder": value.old_encoder, "dropped_vectors": dropped}


def status(engine) -> dict[str, Any]:
    """Progress of every upgrade in progress, by space (what ``polyseek status`` shows under ``upgrade``)."""
    return {space: st.describe(value, st.done_files(engine.catalog, space)) for space, value in st.states(engine.catalog).items()}
