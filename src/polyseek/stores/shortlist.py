"""Quantised shortlist index for a large space: IVF lists of int8 PCA-prefix codes in RAM, full vectors on disk.

A search scores the query against ``lists`` centroids, gathers the rows of the ``nprobe`` nearest lists,
scores them with int8 codes of the first ``prefix`` PCA dimensions (RAM: ``prefix`` bytes per row), keeps the
best ``rescore`` and re-scores those exactly with the float32 vectors, which stay in a memory-mapped file (the
page cache holds what queries touch; the process owns none of it). The PCA rotation is what makes a prefix
informative for any embedding (inner products are unchanged by a rotation, so the rescoring is exact); a
Matryoshka-trained model needs no rotation, but none of the text encoders polyseek ships is one.

Filters on modality, file type and date are checked on small per-row columns kept in RAM: a filter that keeps a
share ``f`` of the rows probes ``nprobe / f`` lists, and one that keeps at most :data:`EXACT_FILTERED_ROWS` rows is
scanned exactly. Files live in one folder per space, written to a temporary folder and renamed into place.

A space too small for a shortlist gets a *flat snapshot* instead (:func:`build_flat`, :class:`Flat`): the same
vectors, ids and filter columns, no lists or codes. The store scans it exactly, as it scans vectors read from Lance,
but a new process memory-maps it in milliseconds where reading 100k rows back from Lance took seconds.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from polyseek.pools import LazyPool
from polyseek.stores.base import Row
from polyseek.types import Filters

FORMAT = 3  # 2: codes stored list by list (a probe reads contiguous blocks); 3: by kind of item within a list
FLAT_FORMAT = 1
PREFIX = 128  # int8 PCA dimensions kept in RAM per row (of 384): recall, RAM and speed measured in benchmarks/
ROWS_PER_LIST = 1000
# lists probed per query: on the 1M synthetic set of benchmarks/ann_baselines.py (harder than real embeddings:
# HNSW M=16 reached 0.87-0.89 at ef 256 there at 100k) recall@10 was 0.86 at 24, 0.95 at 64, 0.97 at 96
NPROBE = 64
# ... with ~1,000 lists (1M rows). A smaller table has fewer, larger-share lists and needs a larger share of them:
# ``NPROBE * (lists / 1000) ** NPROBE_EXPONENT`` (100k rows, 100 lists: 32, recall@10 0.96 on the same set)
NPROBE_EXPONENT = 0.3
# a filter that keeps a share ``f`` of the rows probes ``nprobe / f ** FILTER_EXPONENT`` lists (capped at all): at 1M
# rows in three kinds (50/30/20 %), each kind's recall@10 was 0.99 at exponent 1 and 0.97-0.98 at 0.5, whose
# four searches of one engine query (unfiltered, then per kind) cost 0.75x as much
FILTER_EXPONENT = 0.5
# Up to this many rows a search scores every row's codes once per query vector (one pass, kept for its other
# filters) instead of probing lists: the calibration's per-kind searches would probe most lists of a 100k table
# anyway, one small block at a time, and a single pass has no list misses (100k rows: ~3 ms on a quiet core)
SCAN_ALL_ROWS = 250_000
SPLIT_SCAN_ROWS = 60_000  # from this many rows a one-pass scan runs in two halves, one on a helper thread
RECENT_QUERIES = 24  # query vectors whose probed lists' approximate scores a shortlist keeps (one search asks
# the same vector under several filters: the calibration's kinds, the documents policy)
# rows re-scored at full precision per query ... (100k realistic rows, real text queries, k=10: recall@10 0.93 at 160,
# 0.97 at 320, 0.99 at 480, the time unchanged within noise: 500 float32 rows gathered cost ~0.3 ms)
RESCORE = 320
RESCORE_PER_RESULT = 10  # ... and at least this many per result asked
EXACT_FILTERED_ROWS = 20_000
# ... or 4,096 when the filter is on kinds of item alone: a probe then scores only those kinds' codes (int8, a third
# of a row's float32 vector), which beats gathering 20k full vectors from the memory map
EXACT_KIND_ROWS = 4096
SAMPLE_ROWS = 65_536  # rows that fit the rotation, the code scales and the centroids
KMEANS_ITERATIONS = 8
ASSIGN_BATCH = 16_384


@dataclass(frozen=True)
class Built:
    """What a build wrote (for the caller's log and the benchmarks)."""

    rows: int
    lists: int
    prefix: int
    ram_bytes: int
    disk_bytes: int


def _normalise_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _kmeans(sample: np.ndarray, lists: int, rng: np.random.Generator) -> np.ndarray:
    """Spherical k-means (inner product, unit centroids) on a sample."""
    centroids = sample[rng.choice(len(sample), size=lists, replace=False)].copy()
    for _ in range(KMEANS_ITERATIONS):
        assign = np.concatenate([np.argmax(sample[s : s + ASSIGN_BATCH] @ centroids.T, axis=1)
                                 for s in range(0, len(sample), ASSIGN_BATCH)])
        sums = np.zeros_like(centroids)
        np.add.at(sums, assign, sample)
        empty = np.bincount(assign, minlength=lists) == 0
        sums[empty] = sample[rng.choice(len(sample), size=int(empty.sum()))]  # re-seed an empty list
        centroids = _normalise_rows(sums).astype(np.float32)
    return centroids


def _columns(tmp: Path, ids: list[str], modality: list[str], ext: list[str],
             date: np.ndarray) -> tuple[dict[str, np.ndarray], dict]:
    """Write ``ids.npy`` and return the per-row filter columns and their vocabularies."""
    modalities, modality_codes = np.unique(np.asarray(modality, dtype=object).astype(str), return_inverse=True)
    exts, ext_codes = np.unique(np.asarray(ext, dtype=object).astype(str), return_inverse=True)
    np.save(tmp / "ids.npy", np.array([i.encode("utf-8") for i in ids], dtype=bytes))
    columns: dict[str, np.ndarray] = {"modality": modality_codes.astype(np.uint16), "ext": ext_codes.astype(np.uint16),
                                      "date": np.asarray(date, dtype=np.float64)}
    return columns, {"modalities": modalities.tolist(), "exts": exts.tolist()}


def _publish(tmp: Path, folder: Path, meta: dict) -> None:
    """Write ``meta.json`` last (a folder without it is not a shortlist) and swap the folder into place."""
    (tmp / "meta.json").write_text(json.dumps(meta))
    old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def _scratch(folder: Path) -> Path:
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def build_flat(folder: Path, vectors: np.ndarray, ids: list[str], modality: list[str], ext: list[str],
               date: np.ndarray, version: int) -> Built | None:
    """Write the flat snapshot of one space: its float32 vectors, ids and filter columns, as the table is at ``version``.
    None (nothing written) when an id ends in a NUL byte, which numpy's fixed-width ids would drop."""
    if any(i.endswith("\0") for i in ids):
        return None
    n, dim = vectors.shape
    tmp = _scratch(folder)
    full = np.lib.format.open_memmap(tmp / "vectors.npy", mode="w+", dtype=np.float32, shape=(n, dim))
    for s in range(0, n, ASSIGN_BATCH):
        full[s : s + ASSIGN_BATCH] = vectors[s : s + ASSIGN_BATCH]
    full.flush()
    del full
    columns, vocab = _columns(tmp, ids, modality, ext, date)
    for name, array in columns.items():
        np.save(tmp / f"{name}.npy", array)
    _publish(tmp, folder, {"format": FLAT_FORMAT, "kind": "flat", "version": int(version), "rows": n, "dim": dim, **vocab})
    return Built(rows=n, lists=0, prefix=0, ram_bytes=sum(a.nbytes for a in columns.values()),
                 disk_bytes=sum(p.stat().st_size for p in folder.iterdir()))


class Flat:
    """A flat snapshot opened for an exact scan: vectors and ids memory-mapped, filter columns in RAM."""

    def __init__(self, folder: Path) -> None:
        meta = json.loads((folder / "meta.json").read_text())
        kind = meta.get("kind", "shortlist")
        if (kind, meta.get("format")) not in (("flat", FLAT_FORMAT), ("shortlist", FORMAT)):  # a shortlist holds the same files
            raise ValueError(f"no flat snapshot in {folder}")
        self.version: int = meta["version"]
        self.modalities: list[str] = meta["modalities"]
        self.exts: list[str] = meta["exts"]
        self.vectors = np.load(folder / "vectors.npy", mmap_mode="r")
        self.ids = np.load(folder / "ids.npy", mmap_mode="r")
        self.modality, self.ext = np.load(folder / "modality.npy"), np.load(folder / "ext.npy")
        self.date = np.load(folder / "date.npy")
        if json.loads((folder / "meta.json").read_text()).get("version") != self.version:
            raise ValueError(f"{folder} was replaced while it was opened")  # a writer's optimize() swapped it in


def build(folder: Path, vectors: np.ndarray, ids: list[str], modality: list[str], ext: list[str],
          date: np.ndarray, version: int, *, prefix: int = PREFIX, seed: int = 0) -> Built | None:
    """Write the shortlist of one space (``vectors``: (n, d) float32 unit rows, in the order of ``ids``). None
    (nothing written) when an id ends in a NUL byte, which numpy's fixed-width ids would drop."""
    if any(i.endswith("\0") for i in ids):
        return None
    n, dim = vectors.shape
    prefix = min(prefix, dim)
    rng = np.random.default_rng(seed)
    lists = max(1, min(n // ROWS_PER_LIST, 65_535))
    sample = vectors[np.sort(rng.choice(n, size=min(n, SAMPLE_ROWS), replace=False))].astype(np.float32)
    mean = sample.mean(0)
    eigvals, eigvecs = np.linalg.eigh(np.cov((sample - mean).T))
    rotation = eigvecs[:, np.argsort(-eigvals)[:prefix]].astype(np.float32)  # (dim, prefix), by variance
    projected = (sample - mean) @ rotation
    scale = (np.maximum(np.quantile(np.abs(projected), 0.999, axis=0), 1e-6) / 127.0).astype(np.float32)
    centroids = _kmeans(sample, lists, rng) if lists > 1 else _normalise_rows(mean[None, :]).astype(np.float32)
    del sample, projected
    tmp = _scratch(folder)
    codes = np.empty((n, prefix), dtype=np.int8)
    assign = np.empty(n, dtype=np.int32)
    full = np.lib.format.open_memmap(tmp / "vectors.npy", mode="w+", dtype=np.float32, shape=(n, dim))
    for s in range(0, n, ASSIGN_BATCH):
        block = np.asarray(vectors[s : s + ASSIGN_BATCH], dtype=np.float32)
        full[s : s + len(block)] = block
        codes[s : s + len(block)] = np.clip(np.rint(((block - mean) @ rotation) / scale), -127, 127)
        assign[s : s + len(block)] = np.argmax(block @ centroids.T, axis=1)
    full.flush()
    del full
    columns, vocab = _columns(tmp, ids, modality, ext, date)
    kinds = len(vocab["modalities"])
    # list by list, as a probe reads them, and each list's rows kind by kind: a search filtered to some kinds of
    # item scores only their rows' codes (the calibration asks each kind's own top of every query)
    order = np.lexsort((columns["modality"], assign)).astype(np.int32)
    key = assign[order].astype(np.int64) * kinds + columns["modality"][order]
    bounds = np.searchsorted(key, np.arange(lists * kinds + 1)).astype(np.int64)  # list c, kind j: [c*kinds + j]
    offsets = bounds[::kinds]
    codes = codes[order]
    arrays = {"codes": codes, "order": order, "offsets": offsets, "bounds": bounds, "centroids": centroids,
              "mean": mean.astype(np.float32), "rotation": rotation, "scale": scale, **columns}
    for name, array in arrays.items():
        np.save(tmp / f"{name}.npy", array)
    np.save(tmp / UNSIGNED_FILE.format(version=int(version)), np.bitwise_xor(codes.view(np.uint8), np.uint8(0x80)))
    _publish(tmp, folder, {"format": FORMAT, "version": int(version), "rows": n, "dim": dim, "prefix": prefix,
                           "lists": lists, **vocab})
    ram = sum(a.nbytes for k, a in arrays.items() if k in ("codes", "order", "modality", "ext", "date"))
    disk = sum(p.stat().st_size for p in folder.iterdir())
    return Built(rows=n, lists=lists, prefix=prefix, ram_bytes=ram, disk_bytes=disk)


# The one-pass scan as an integer matrix product in ONNX Runtime (its u8 x s8 kernel, VNNI where the CPU has it): ~1 ms
# per 100k rows of 128 codes where numpy's einsum takes ~3 ms, on one core. The codes enter offset by 128 (unsigned,
# a copy made on the first scan); the query's float weights are split into SCAN_TERMS integer terms of 7 bits,
# w ~ sum_t s_t q_t, whose residual (~4e-7 of the largest weight) is below float32 rounding. 7 bits keep the AVX2
# kernel's saturating 16-bit pair sums exact (255 * 63 * 2 < 32767). False: numpy's einsum (the same-run baseline).
INTEGER_SCAN = True
# The codes plus 128 (uint8, the integer scan's input) as a file of their own, memory-mapped when a shortlist opens:
# a cold command then reads the page cache in place instead of reading the codes whole and making the offset copy
# (~9k page faults less at 100k rows, 2 x 19 MB). Written by build(), or on a shortlist's first scan when it has
# none (stores built before it); named by the table version, so a copy never outlives the codes it was made from.
UNSIGNED_FILE = "unsigned-{version}.npy"
SCAN_TERMS = 3
TERM_RANGE = 63
# the graph, serialised (203 bytes; onnx itself is not imported on the query path), made with onnx.helper (opset 13):
#   MatMulInteger(codes: uint8 [rows, prefix], terms: int8 [prefix, t]) -> products (int32)
#   Cast(products, FLOAT) -> floats [rows, t]  (then ``floats @ scales - offset`` in numpy: ORT's MatMul with a
#   3-long inner dimension took ~15 ms per 100k rows, numpy's 0.2 ms)
_SCAN_GRAPH = (
    "CAcSCHBvbHlzZWVrOrYBCicKBWNvZGVzCgV0ZXJtcxIIcHJvZHVjdHMiDU1hdE11bEludGVnZXIKIwoIcHJvZHVjdHMSBmZsb2F0cyIEQ2FzdCoJCgJ0"
    "bxgBoAECEgRzY2FuWiEKBWNvZGVzEhgKFggCEhIKBhIEcm93cwoIEgZwcmVmaXhaHgoFdGVybXMSFQoTCAMSDwoIEgZwcmVmaXgKAxIBdGIdCgZmbG9h"
    "dHMSEwoRCAESDQoGEgRyb3dzCgMSAXRCBAoAEA0="
)
_KERNEL: list = []  # [the scan's ONNX Runtime session, or None where it cannot be made], once per process
_KERNEL_LOCK = threading.Lock()


def _integer_kernel():
    """The scan graph's session (one thread: the caller's), or None without ONNX Runtime."""
    if not _KERNEL:
        with _KERNEL_LOCK:
            if not _KERNEL:
                session = None
                try:
                    import base64

                    import onnxruntime as ort

                    options = ort.SessionOptions()
                    options.intra_op_num_threads = options.inter_op_num_threads = 1
                    session = ort.InferenceSession(base64.b64decode(_SCAN_GRAPH), sess_options=options,
                                                   providers=["CPUExecutionProvider"])
                except Exception:  # noqa: BLE001 - no runtime, or one that refuses the graph: numpy scans
                    session = None
                _KERNEL.append(session)
    return _KERNEL[0]


def integer_terms(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``weights`` (float, (prefix,)) as :data:`SCAN_TERMS` integer terms: (terms int8 (prefix, t), scales float32
    (t,), offset float32 ()), so that for codes ``c`` (int8) ``(c + 128) @ terms @ scales - offset ~ c @ weights``."""
    rest = np.asarray(weights, dtype=np.float64)
    terms, scales = [], []
    for _ in range(SCAN_TERMS):
        top = float(np.abs(rest).max()) if len(rest) else 0.0
        scale = top / TERM_RANGE if top > 0 else 1.0
        term = np.rint(rest / scale)
        terms.append(term)
        scales.append(scale)
        rest = rest - term * scale
    matrix = np.stack(terms, axis=1)
    offset = 128.0 * float(matrix.sum(axis=0) @ np.asarray(scales))
    return matrix.astype(np.int8), np.asarray(scales, dtype=np.float32), np.asarray(offset, dtype=np.float32)


def _integer_scan(unsigned: np.ndarray, weights: np.ndarray) -> np.ndarray | None:
    """Approximate scores of the offset codes ``unsigned`` through :func:`_integer_kernel`; None where it is missing."""
    session = _integer_kernel()
    if session is None:
        return None
    terms, scales, offset = integer_terms(weights)
    try:
        products = session.run(None, {"codes": unsigned, "terms": terms})[0]
    except Exception:  # noqa: BLE001 - a runtime that fails at run time: numpy scans from now on
        _KERNEL[0] = None
        return None
    scores = np.asarray(products, dtype=np.float32) @ scales
    scores -= offset
    return scores


def _scan_part(codes: np.ndarray, weights: np.ndarray, out: np.ndarray) -> None:
    # einsum casts the int8 codes block by block: astype would allocate (and page-fault) a float32 copy
    np.einsum("ij,j->i", codes, weights, dtype=np.float32, casting="unsafe", out=out)


def _scan(codes: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Approximate scores of all ``codes`` rows; from :data:`SPLIT_SCAN_ROWS` rows the second half on another thread
    (numpy releases the GIL: the two cores share the largest single step of a query). Each row's score is the same
    either way: einsum sums a row's products alike whatever rows surround it."""
    out = np.empty(len(codes), dtype=np.float32)
    if len(codes) < SPLIT_SCAN_ROWS:
        _scan_part(codes, weights, out)
        return out
    half = len(codes) // 2
    later = _helper().submit(_scan_part, codes[half:], weights, out[half:])
    _scan_part(codes[:half], weights, out[:half])
    later.result()
    return out


_HELPER = LazyPool(1, "polyseek-scan")


def _helper() -> ThreadPoolExecutor:
    return _HELPER.get()


_UNKNOWN = object()


def _mapped_unsigned(folder: Path, version: int, rows: int, prefix: int | None) -> np.ndarray | None:
    """The kept offset codes of this version, memory-mapped (a plain array over the map), or None when there are none
    or they do not have the codes' shape (then the codes are read and the copy is made as before)."""
    if not INTEGER_SCAN:
        return None
    try:
        mapped = np.load(folder / UNSIGNED_FILE.format(version=version), mmap_mode="r")
    except (OSError, ValueError):
        return None
    if mapped.dtype != np.uint8 or mapped.shape != (rows, prefix):
        return None
    return np.asarray(mapped)


def _keep_unsigned(folder: Path, version: int, unsigned: np.ndarray) -> None:
    """Write the offset codes beside the codes for the next process to map (whole or not at all; best effort: a
    folder this process may not write, or a full disk, leaves the store as it was)."""
    path = folder / UNSIGNED_FILE.format(version=version)
    if path.exists():
        return
    tmp = folder / f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp"
    try:
        with open(tmp, "wb") as handle:
            np.save(handle, unsigned)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


def _dot(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``matrix @ query`` in float32, row by row alike whatever the number of rows (BLAS blocks rows differently)."""
    return np.einsum("ij,j->i", np.asarray(matrix, dtype=np.float32), query)


class Shortlist:
    """A built shortlist opened for search (codes and filter columns in RAM, vectors and ids memory-mapped)."""

    def __init__(self, folder: Path) -> None:
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("format") not in (2, FORMAT) or meta.get("kind", "shortlist") != "shortlist":
            raise ValueError(f"shortlist format {meta.get('format')} in {folder}, expected {FORMAT}")
        self.folder = folder
        self.version: int = meta["version"]
        self.rows: int = meta["rows"]
        self.modalities: list[str] = meta["modalities"]
        self.exts: list[str] = meta["exts"]
        load = lambda name: np.load(folder / f"{name}.npy")  # noqa: E731
        # the codes as the integer scan reads them (memory-mapped when kept, else made on first scan)
        self._unsigned: np.ndarray | None = _mapped_unsigned(folder, self.version, self.rows, meta.get("prefix"))
        self._mapped = self._unsigned is not None
        self._codes: np.ndarray | None = None if self._mapped else load("codes")
        self.order, self.offsets = load("order"), load("offsets")
        # format 2 (before kinds were stored apart within a list): a list is one block, probed whole
        self.bounds: np.ndarray | None = load("bounds") if meta["format"] >= 3 else None
        self.centroids, self.mean, self.rotation, self.scale = load("centroids"), load("mean"), load("rotation"), load("scale")
        self.modality, self.ext, self.date = load("modality"), load("ext"), load("date")
        # plain arrays over the memory maps: numpy's memmap subclass costs ~0.1 ms per indexing on busy cores
        self.vectors = np.asarray(np.load(folder / "vectors.npy", mmap_mode="r"))
        self.ids = np.asarray(np.load(folder / "ids.npy", mmap_mode="r"))
        self._masks: dict[tuple, tuple[np.ndarray, int] | None] = {}
        self._recent: OrderedDict[bytes, tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]] = OrderedDict()
        self._positions: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        # per recent query vector, the rows re-scored at full precision so far (sorted) and their scores
        self._rescored: OrderedDict[bytes, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def ram_bytes(self) -> int:
        """Bytes this shortlist holds in RAM (the memory-mapped vectors and ids are not counted: page cache)."""
        codes = np.empty(0) if self._codes is None else self._codes
        return sum(a.nbytes for a in (codes, self.order, self.offsets, self.centroids, self.rotation,
                                      self.modality, self.ext, self.date)) + (0 if self.bounds is None else self.bounds.nbytes) \
            + (0 if self._unsigned is None or self._mapped else self._unsigned.nbytes)

    def _mask(self, filters: Filters) -> tuple[np.ndarray, int] | None:
        """(rows that pass the filters as a mask, how many), None when no filter applies here; kept per filter: one
        search asks the same few."""
        key = (tuple(sorted(m.value for m in filters.modalities)), tuple(sorted(filters.file_types)),
               filters.date_from, filters.date_to)
        known = self._masks.get(key, _UNKNOWN)  # (one lookup: another search may clear the dict meanwhile)
        if known is not _UNKNOWN:
            return known  # type: ignore[return-value]
        mask: np.ndarray | None = None

        def both(part: np.ndarray) -> None:
            nonlocal mask
            mask = part if mask is None else mask & part

        if filters.modalities:
            wanted = [self.modalities.index(m.value) for m in filters.modalities if m.value in self.modalities]
            both(np.isin(self.modality, wanted))
        if filters.file_types:
            wanted = [self.exts.index(e) for e in filters.file_types if e in self.exts]
            both(np.isin(self.ext, wanted))
        if filters.date_from is not None:
            both(self.date >= filters.date_from)
        if filters.date_to is not None:
            both(self.date <= filters.date_to)
        if len(self._masks) >= 64:
            self._masks.clear()
        held = None if mask is None else (mask, int(mask.sum()))
        self._masks[key] = held
        return held

    def nprobe(self) -> int:
        """Lists an unfiltered search probes: :data:`NPROBE` at ~1,000 lists, a larger share of fewer lists."""
        lists = len(self.offsets) - 1
        return min(lists, max(1, math.ceil(NPROBE * (lists / 1000) ** NPROBE_EXPONENT)))

    def _probed(self, query: np.ndarray, nprobe: int, kinds: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(rows, approximate scores) of the rows of ``kinds`` (modality codes) in the ``nprobe`` lists nearest
        ``query``. What was scored for this query vector before (its searches under other filters) is reused."""
        key = query.tobytes()
        with self._lock:
            entry = self._recent.get(key)
            if entry is not None:
                self._recent.move_to_end(key)
        if entry is None or not len(entry[0]):  # (a one-pass scan leaves no list ranking)
            entry = (np.argsort(-(self.centroids @ query), kind="stable"), (query @ self.rotation) * self.scale,
                     entry[2] if entry is not None else {})
        ranking, weights, scored = entry
        bounds, per_list = (self.offsets, 1) if self.bounds is None else (self.bounds, len(self.modalities))
        if self.bounds is None:
            kinds = [0]  # the rows of other kinds are dropped by the caller's mask
        rows, approx = [], []
        for c in ranking[:nprobe].tolist():
            first = c * per_list
            for j in kinds:
                start, end = int(bounds[first + j]), int(bounds[first + j + 1])
                if start == end:
                    continue
                part = scored.get(first + j)
                if part is None:
                    part = scored[first + j] = self.codes[start:end].astype(np.float32) @ weights
                rows.append(self.order[start:end])
                approx.append(part)
        with self._lock:
            self._recent[key] = entry
            while len(self._recent) > RECENT_QUERIES:
                self._recent.popitem(last=False)
        if not rows:
            return np.empty(0, dtype=np.int32), np.empty(0, dtype=np.float32)
        return np.concatenate(rows), np.concatenate(approx)

    def _scanned(self, query: np.ndarray) -> np.ndarray:
        """Approximate scores of every row, in the stored (list) order, once per query vector."""
        key = query.tobytes()
        with self._lock:
            entry = self._recent.get(key)
            if entry is not None:
                self._recent.move_to_end(key)
        if entry is None or -1 not in entry[2]:
            weights = (query @ self.rotation) * self.scale
            approx = _integer_scan(self._unsigned_codes(), weights) if INTEGER_SCAN and _integer_kernel() else None
            if approx is None:
                approx = _scan(self.codes, weights)
            entry = entry or (np.empty(0, dtype=np.int64), weights, {})
            entry[2][-1] = approx
        with self._lock:
            self._recent[key] = entry
            while len(self._recent) > RECENT_QUERIES:
                self._recent.popitem(last=False)
        return entry[2][-1]

    def prepare(self) -> None:
        """Make now what the first scan makes first (the offset codes and the integer kernel): a cold command calls it
        while its encoders load (stores/snapshot.py ``SnapshotStore.prepare``)."""
        if INTEGER_SCAN and _integer_kernel():
            self._unsigned_codes()

    def _unsigned_codes(self) -> np.ndarray:
        """The codes plus 128 as uint8 (the integer scan's input), made on first use and kept."""
        held = self._unsigned
        if held is None:
            held = self._unsigned = np.bitwise_xor(self.codes.view(np.uint8), np.uint8(0x80))  # c ^ 0x80 == c + 128
            if self.rows <= SCAN_ALL_ROWS:  # a table this size is only ever scanned: one copy of its codes in RAM
                self._codes = None
            _keep_unsigned(self.folder, self.version, held)  # the next process maps it
        return held

    @property
    def codes(self) -> np.ndarray:
        """The int8 codes, rows in list order. Once a scanned table's offset copy is made only that copy is kept, and
        these are made again from it where asked (numpy's scan, a probe after ``SCAN_ALL_ROWS`` was lowered)."""
        held = self._codes
        if held is None:
            held = self._codes = np.bitwise_xor(self._unsigned, np.uint8(0x80)).view(np.int8)  # type: ignore[arg-type]
        return held

    @codes.setter
    def codes(self, value: np.ndarray) -> None:
        self._codes = value

    def _in_list_order(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions in the stored order of the rows ``mask`` keeps, those rows), kept per mask: one search asks the
        same few (gathering the rows of a kind anew cost each per-kind search ~0.1 ms at 100k rows)."""
        key = id(mask)
        held = self._positions.get(key)
        if held is None or held[0] is not mask:
            if len(self._positions) >= 64:
                self._positions.clear()
            at = np.flatnonzero(mask[self.order])
            held = self._positions[key] = (mask, at, self.order[at])
        return held[1], held[2]

    def search(self, query: np.ndarray, k: int, filters: Filters | None = None, *, nprobe: int | None = None,
               rescore: int | None = None) -> list[tuple[str, float]]:
        """Best ``k`` rows by inner product: ``[(id, score)]`` with exact scores, best first (path globs: not here).
        ``nprobe`` and ``rescore`` default to :meth:`nprobe` and :data:`RESCORE`."""
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        nprobe = self.nprobe() if nprobe is None else nprobe
        rescore = RESCORE if rescore is None else rescore
        held = self._mask(filters) if filters is not None and not filters.is_empty() else None
        mask = None
        kinds = list(range(len(self.modalities)))
        if held is not None:
            mask, matching = held
            if matching == 0:
                return []
            assert filters is not None
            kind_only = not (filters.file_types or filters.date_from is not None or filters.date_to is not None)
            if matching <= (EXACT_KIND_ROWS if kind_only else EXACT_FILTERED_ROWS):  # few rows: all at full precision
                return self._exact(np.flatnonzero(mask), query, k)
            nprobe = math.ceil(nprobe / (matching / self.rows) ** FILTER_EXPONENT)
            if filters.modalities:
                wanted = {m.value for m in filters.modalities}
                kinds = [j for j, name in enumerate(self.modalities) if name in wanted]
        if self.rows <= SCAN_ALL_ROWS:
            approx = self._scanned(query)
            if mask is None:
                rows = self.order
            else:
                at, rows = self._in_list_order(mask)
                approx = approx[at]
            mask = None
        else:
            rows, approx = self._probed(query, max(1, min(len(self.offsets) - 1, nprobe)), kinds)
        if mask is not None:
            passing = mask[rows]
            rows, approx = rows[passing], approx[passing]
        if not len(rows):
            return []
        keep = max(rescore, RESCORE_PER_RESULT * k)
        if len(rows) > keep:
            rows = rows[np.argpartition(-approx, keep - 1)[:keep]]
        return self._exact(rows, query, k)

    def _exact_scores(self, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Full-precision scores of ``rows`` (sorted) for ``query``. Rows this query vector had re-scored before (its
        searches under other filters: the calibration's kinds re-score many of the unfiltered search's rows) are not
        read again from the memory map: the same float32 product, looked up. (einsum, not BLAS: a row's score is then
        the same whichever rows it is scored with, and no OpenBLAS threads wake for a 500-row product.)"""
        key = query.tobytes()
        with self._lock:
            held = self._rescored.get(key)
        if held is None:
            scores = _dot(self.vectors[rows], query)
            known_rows, known = rows, scores
        else:
            known_rows, known = held
            at = np.minimum(np.searchsorted(known_rows, rows), len(known_rows) - 1)
            found = known_rows[at] == rows
            scores = np.empty(len(rows), dtype=np.float32)
            scores[found] = known[at[found]]
            missing = rows[~found]
            if len(missing):
                scores[~found] = _dot(self.vectors[missing], query)
                known_rows = np.concatenate([known_rows, missing])
                order = np.argsort(known_rows, kind="stable")
                known_rows, known = known_rows[order], np.concatenate([known, scores[~found]])[order]
        with self._lock:
            self._rescored[key] = (known_rows, known)
            self._rescored.move_to_end(key)
            while len(self._rescored) > RECENT_QUERIES:
                self._rescored.popitem(last=False)
        return scores

    def _exact(self, rows: np.ndarray, query: np.ndarray, k: int) -> list[tuple[str, float]]:
        rows = np.sort(rows)  # ascending offsets: the memory map reads forward
        scores = self._exact_scores(rows, query)
        take = min(k, len(rows))
        top = np.argpartition(-scores, take - 1)[:take] if take < len(rows) else np.arange(len(rows))
        found = [(name.decode("utf-8"), score) for name, score in zip(self.ids[rows[top]].tolist(), scores[top].tolist())]
        return sorted(found, key=lambda pair: (-round(pair[1], 6), pair[0]))


class Shortlists:
    """The shortlists of a store folder, one per space, opened lazily and dropped when their version is stale."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._open: dict[str, Shortlist] = {}
        self._lock = threading.Lock()

    def folder(self, space: str) -> Path:
        return self.root / space

    def get(self, space: str, version: int) -> Shortlist | None:
        """The space's shortlist if it was built for exactly this table version, else None."""
        current = self._open.get(space)
        if current is not None and current.version == version:
            return current
        with self._lock:
            current = self._open.get(space)
            if current is not None and current.version == version:
                return current
            meta = self.folder(space) / "meta.json"
            try:
                if json.loads(meta.read_text()).get("version") != version:
                    return None
                current = Shortlist(self.folder(space))
            except (OSError, ValueError, KeyError):
                return None
            self._open[space] = current
            return current

    def flat(self, space: str, version: int) -> Flat | None:
        """The space's flat snapshot if it was written for exactly this table version, else None (opened each time:
        the store keeps what it opens)."""
        try:
            meta = json.loads((self.folder(space) / "meta.json").read_text())
            if meta.get("version") != version:
                return None
            return Flat(self.folder(space))  # a flat snapshot, or a shortlist's vectors and columns
        except (OSError, ValueError, KeyError):
            return None

    def rows(self, version: int) -> RowsSnapshot | None:
        """The rows snapshot if it was written for exactly this table version, else None."""
        try:
            meta = json.loads((self.root / ROWS_FOLDER / "meta.json").read_text())
            if meta.get("kind") != "rows" or meta.get("version") != version:
                return None
            return RowsSnapshot(self.root / ROWS_FOLDER)
        except (OSError, ValueError, KeyError):
            return None

    def drop(self, space: str) -> None:
        with self._lock:
            self._open.pop(space, None)
        shutil.rmtree(self.folder(space), ignore_errors=True)


ROWS_FOLDER = "rows.table"  # not an identifier: no space can be named so
ROWS_FORMAT = 1


def build_rows(folder: Path, rows, version: int) -> Built | None:
    """Write the rows snapshot: every row's stored fields (a ``pyarrow.Table`` without vectors), sorted by id, as an
    Arrow file read memory-mapped, beside the sorted ids, as the table is at ``version``. None (and nothing written)
    when an id ends in a NUL byte, which numpy's fixed-width ids would drop."""
    import pyarrow as pa

    encoded = [i.encode("utf-8") for i in rows.column("id").to_pylist()]
    if any(i.endswith(b"\0") for i in encoded):
        return None
    ids = np.array(encoded, dtype=bytes)
    order = np.argsort(ids, kind="stable")
    tmp = _scratch(folder)
    np.save(tmp / "ids.npy", ids[order])
    with pa.OSFile(str(tmp / "rows.arrow"), "wb") as sink, pa.ipc.new_file(sink, rows.schema) as writer:
        writer.write_table(rows.take(pa.array(order)).combine_chunks())  # one batch: a take never concatenates chunks
    _publish(tmp, folder, {"format": ROWS_FORMAT, "kind": "rows", "version": int(version), "rows": len(ids)})
    return Built(rows=len(ids), lists=0, prefix=0, ram_bytes=0, disk_bytes=sum(p.stat().st_size for p in folder.iterdir()))


class RowsSnapshot:
    """The rows snapshot opened for lookups by id (binary search in the sorted ids; the Arrow file memory-mapped)."""

    def __init__(self, folder: Path) -> None:
        import pyarrow as pa

        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("kind") != "rows" or meta.get("format") != ROWS_FORMAT:
            raise ValueError(f"no rows snapshot in {folder}")
        self.version: int = meta["version"]
        self.ids = np.asarray(np.load(folder / "ids.npy", mmap_mode="r"))  # plain array: numpy's memmap costs per indexing
        self.table = pa.ipc.open_file(pa.memory_map(str(folder / "rows.arrow"))).read_all()
        self._columns: list | None = None  # the columns a Row holds, each as one array (made on first use)
        if json.loads((folder / "meta.json").read_text()).get("version") != self.version:
            raise ValueError(f"{folder} was replaced while it was opened")

    def records(self, ids: list[str]) -> list[dict]:
        """The stored fields of each of ``ids`` that the table holds, as dicts (ids it does not hold are left out)."""
        import pyarrow as pa

        if not ids or not len(self.ids):
            return []
        # at the stored width (a longer key may match its prefix here, which the id check below drops): keys of another
        # width made numpy cast all the stored ids for each search (100k rows: ~1 ms per call)
        keys = np.array([i.encode("utf-8") for i in ids], dtype=bytes).astype(self.ids.dtype)
        at = np.minimum(np.searchsorted(self.ids, keys), len(self.ids) - 1)
        found = at[self.ids[at] == keys]
        if not len(found):
            return []
        records = self.table.take(pa.array(found)).to_pylist()
        wanted = set(ids)
        return [r for r in records if r["id"] in wanted]

    def rows(self, ids: list[str]) -> list[Row]:
        """:meth:`records` as :class:`Row` objects, converted column by column (a search hydrates ~300 rows: per-row
        dicts and a JSON parse of each empty ``{}`` cost ~1 ms of its CPU)."""
        import pyarrow as pa

        if not ids or not len(self.ids):
            return []
        keys = np.array([i.encode("utf-8") for i in ids], dtype=bytes).astype(self.ids.dtype)  # (see records)
        at = np.minimum(np.searchsorted(self.ids, keys), len(self.ids) - 1)
        found = np.sort(at[self.ids[at] == keys])  # in file order: the map is read forward
        if not len(found):
            return []
        if self._columns is None:  # one batch in the file: each column's one chunk (a take per column, no other)
            columns = [self.table.column(name) for name in _ROW_COLUMNS]  # (combine_chunks would copy even one chunk)
            self._columns = [c.chunk(0) if c.num_chunks == 1 else c.combine_chunks() for c in columns]
        indices = pa.array(found)
        column = {name: values.take(indices).to_pylist() for name, values in zip(_ROW_COLUMNS, self._columns)}
        wanted = set(ids)
        return [Row(i, doc, path, modality, locator, text or "", metadata, date or 0.0)
                for i, doc, path, modality, locator, text, metadata, date
                in zip(column["id"], column["doc"], column["path"], column["modality"], _json_objects(column["locator"]),
                       column["text"], _json_objects(column["metadata"]), column["date"]) if i in wanted]


_ROW_COLUMNS = ("id", "doc", "path", "modality", "locator", "text", "metadata", "date")


def _json_object(text: str | None) -> dict:
    """A stored JSON object field (``locator``, ``metadata``) as a dict; most are empty (``{}``), parsed for free."""
    return json.loads(text) if text and text != "{}" else {}


def _json_objects(texts: list[str | None]) -> list[dict]:
    """:func:`_json_object` of each of ``texts``, the non-empty ones parsed in one call (one JSON array: a search
    hydrates ~300 rows, and each ``json.loads`` call costs a few microseconds before it reads a byte)."""
    out: list[dict] = [{} if not text or text == "{}" else None for text in texts]  # type: ignore[misc]
    todo = [j for j, value in enumerate(out) if value is None]
    if not todo:
        return out
    try:
        parsed = json.loads("[" + ",".join(texts[j] for j in todo) + "]")  # type: ignore[misc]
    except ValueError:
        parsed = None
    if parsed is None or len(parsed) != len(todo) or not all(isinstance(value, dict) for value in parsed):
        # a field that is not one JSON object (not written by this store): each on its own, as before
        parsed = [_json_object(texts[j]) for j in todo]
    for j, value in zip(todo, parsed):
        out[j] = value
    return out
