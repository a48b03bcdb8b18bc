"""Word maps: a Chinese or German query's words, as a bag, mapped linearly into bge's English query space.

A :class:`WordMap` is a ridge-regression map from a TF-IDF bag of words to a bge query vector, fitted by
``scripts/train_word_maps.py`` on the native Chinese and German descriptions of the *training* photos (each paired
with the mean bge vector of the same photo's English captions: a description in the language lands where English
descriptions of the same scene do). It is small (one row of 384 numbers per word, float16) and needs no model at run
time: the Chinese bag is jieba's words plus their single characters (so an unseen compound still carries its
characters), the German bag the lowercased words. A query with no known word gets a zero vector (no opinion).

:class:`polyseek.encoders.multilingual.GlossedQueryEncoder` mixes it with the projected multilingual query and the
dictionary gloss; English queries never reach it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.errors import EncoderError

FORMAT = "polyseek-word-map"
SHIPPED = "word-maps"  # folder under polyseek/models, one ``{language}.json`` + ``{language}.safetensors`` each
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_lock = threading.Lock()
_loaded: dict[str, WordMap | None] = {}


def chinese_tokens(text: str, tokenizer: Any) -> list[str]:
    """jieba's words (punctuation dropped), then each of their characters marked ``#`` (小黄狗 → 小, 黄狗, #小, #黄, #狗)."""
    words = [w for w in tokenizer.lcut(text) if w.strip() and any(ch.isalnum() for ch in w)]
    return words + ["#" + ch for word in words for ch in word]


def german_tokens(text: str) -> list[str]:
    """Lowercased letter runs (digits and punctuation dropped)."""
    return [word.lower() for word in _WORD.findall(text)]


def tokens(language: str, text: str) -> list[str]:
    if language == "zh":
        from polyseek.encoders.gloss import chinese

        return chinese_tokens(text, chinese().tokenizer)
    if language == "de":
        return german_tokens(text)
    raise EncoderError(f"no word map for language {language!r}", hint="word maps exist for zh and de")


@dataclass(frozen=True)
class WordMap:
    language: str
    vocabulary: dict[str, int]
    idf: np.ndarray  # (V,) float32
    weights: np.ndarray  # (V, dim) float32
    notes: dict[str, Any]

    @property
    def dim(self) -> int:
        return int(self.weights.shape[1])

    def bags(self, bags: Sequence[Sequence[str]]) -> np.ndarray:
        """TF-IDF rows (binary term frequency), L2-normalised; a bag with no known word stays zero."""
        x = np.zeros((len(bags), len(self.vocabulary)), dtype=np.float32)
        for i, bag in enumerate(bags):
            for word in bag:
                j = self.vocabulary.get(word)
                if j is not None:
                    x[i, j] = 1.0
        x *= self.idf
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    def encode_bags(self, bags: Sequence[Sequence[str]]) -> np.ndarray:
        """Unit vectors in the target (bge query) space; zero rows for bags without a known word."""
        y = self.bags(bags) @ self.weights
        norms = np.linalg.norm(y, axis=1, keepdims=True)
        return np.where(norms > 1e-9, y / np.maximum(norms, 1e-12), 0.0).astype(np.float32)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode_bags([tokens(self.language, text) for text in texts])


def fit_word_map(language: str, bags: Sequence[Sequence[str]], targets: np.ndarray, *, ridge: float = 1.0,
                 max_words: int = 5000, min_count: int = 2, notes: dict[str, Any] | None = None) -> WordMap:
    """Ridge least squares from TF-IDF bags to ``targets`` (one row per bag), over the ``max_words`` words found in
    most bags (and in at least ``min_count``). Closed form: one V x V solve."""
    from collections import Counter

    if len(bags) != len(targets) or not len(bags):
        raise EncoderError(f"a word map needs one target per bag: {len(bags)} bags, {len(targets)} targets")
    counts = Counter(word for bag in bags for word in set(bag))
    kept = sorted(word for word, n in counts.most_common(max_words) if n >= min_count)
    if not kept:
        raise EncoderError(f"no word occurs in {min_count} or more of the {len(bags)} {language} texts")
    vocabulary = {word: i for i, word in enumerate(kept)}
    idf = np.array([np.log(len(bags) / counts[word]) for word in kept], dtype=np.float32)
    empty = WordMap(language, vocabulary, idf, np.zeros((len(kept), targets.shape[1]), dtype=np.float32), {})
    x = empty.bags(bags)
    y = np.asarray(targets, dtype=np.float32)
    weights = np.linalg.solve(x.T @ x + ridge * np.eye(len(kept), dtype=np.float32), x.T @ y).astype(np.float32)
    return WordMap(language, vocabulary, idf, weights, {"ridge": ridge, "texts": len(bags), **(notes or {})})


def refine_word_map(fitted: WordMap, bags: Sequence[Sequence[str]], owners: np.ndarray, gallery: np.ndarray, *,
                    epochs: int, temperature: float = 0.05, lr: float = 3e-4, batch: int = 1024, seed: int = 0) -> WordMap:
    """A fitted map refined by InfoNCE: each bag's unit vector should score its own ``gallery`` row (``owners[i]``)
    above every other row, not only lie near it (Adam from the ridge weights, one thread, seeded: reproducible)."""
    import torch

    if len(bags) != len(owners) or not len(bags):
        raise EncoderError(f"refining a word map needs one gallery row per bag: {len(bags)} bags, {len(owners)} rows")
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(seed)
    x = fitted.bags(bags)
    weights = torch.tensor(fitted.weights.copy(), requires_grad=True)
    targets = torch.tensor(np.asarray(gallery, dtype=np.float32))
    rows = torch.tensor(np.asarray(owners, dtype=np.int64))
    optimizer = torch.optim.Adam([weights], lr=lr)
    losses = []
    for _ in range(epochs):
        order, total = torch.randperm(len(x), generator=generator), 0.0
        for start in range(0, len(x), batch):
            picked = order[start : start + batch]
            queries = torch.nn.functional.normalize(torch.from_numpy(x[picked.numpy()]) @ weights, dim=1)
            loss = torch.nn.functional.cross_entropy(queries @ targets.T / temperature, rows[picked])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(picked)
        losses.append(round(total / len(x), 4))
    notes = {**fitted.notes, "contrastive": {"epochs": epochs, "temperature": temperature, "lr": lr, "batch": batch,
                                             "seed": seed, "loss_by_epoch": losses}}
    return WordMap(fitted.language, fitted.vocabulary, fitted.idf, weights.detach().numpy().astype(np.float32), notes)


def save_word_map(folder: str | Path, word_map: WordMap) -> None:
    """``{language}.json`` (vocabulary in row order, notes) and ``{language}.safetensors`` (float16 weights, idf)."""
    from safetensors.numpy import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    words = sorted(word_map.vocabulary, key=word_map.vocabulary.__getitem__)
    meta = {"format": FORMAT, "language": word_map.language, "dim": word_map.dim, "words": words, "notes": word_map.notes}
    save_file({"weights": word_map.weights.astype(np.float16), "idf": word_map.idf.astype(np.float32)},
              str(folder / f"{word_map.language}.safetensors"))
    (folder / f"{word_map.language}.json").write_text(json.dumps(meta, ensure_ascii=False) + "\n", encoding="utf-8")


def read_word_map(folder: str | Path, language: str) -> WordMap:
    from safetensors.numpy import load_file

    folder = Path(folder)
    try:
        meta = json.loads((folder / f"{language}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EncoderError(f"cannot read the {language} word map in {folder}: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise EncoderError(f"{folder / (language + '.json')} is not a polyseek word map")
    try:
        tensors = load_file(str(folder / f"{language}.safetensors"))
    except Exception as exc:  # safetensors raises its own error type for a damaged file
        raise EncoderError(f"cannot read the {language} word map weights in {folder}: {exc}") from exc
    weights = np.asarray(tensors["weights"], dtype=np.float32)
    idf = np.asarray(tensors["idf"], dtype=np.float32)
    words = list(meta["words"])
    if weights.shape[0] != len(words) or idf.shape != (len(words),):
        raise EncoderError(f"the {language} word map in {folder} is inconsistent: {len(words)} words, weights {weights.shape}")
    return WordMap(language, {w: i for i, w in enumerate(words)}, idf, weights, dict(meta.get("notes") or {}))


def word_map(language: str, folder: str | Path | None = None) -> WordMap | None:
    """The shipped word map of ``language`` (loaded once), or None where none ships."""
    key = f"{folder}:{language}" if folder else language
    with _lock:
        if key not in _loaded:
            root = Path(folder) if folder else Path(str(resources.files("polyseek") / "models" / SHIPPED))
            _loaded[key] = read_word_map(root, language) if (root / f"{language}.json").is_file() else None
        return _loaded[key]
