"""A small SASRec-style transformer over frozen multimodal item embeddings: model, training, saving, loading.

Each item enters as a projection of its image and text vectors from the index (frozen content encoders, in the
spirit of MLLM-MSR and Molar with an MLLM replaced by the index's encoders) plus a learned id embedding that
starts at zero: an item seen in no training sequence is represented by its content alone, which is what lets the
model rank new (cold-start) items. A causal transformer reads the last ``max_len`` items of a history and scores
every item by the dot product of its last state with the item's representation (full softmax, cross-entropy).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.errors import InvalidInputError, NotFoundError

MODEL_FILE = "model.pt"
CONFIG_FILE = "config.json"
ITEMS_FILE = "items.json"
FORMAT = 1


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters (defaults tuned on the MovieLens dev users, docs/recommend.md)."""

    dim: int = 48
    layers: int = 1
    heads: int = 2
    max_len: int = 50
    dropout: float = 0.2
    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    id_embeddings: bool = True
    negatives: int = 256  # shared uniform negatives per batch (sampled softmax); 0: full softmax over all items
    reduce: int = 64  # frozen PCA of the image+text vectors to this many dimensions first (0: none): cheaper steps
    seed: int = 0


def _torch():
    import torch

    return torch


def build_model(feature_dim: int, n_items: int, config: TrainConfig):
    """The network (torch is imported only when a sequential model is used)."""
    torch = _torch()
    nn = torch.nn
    module: Any = nn.Module  # a base class known only at run time (torch is imported lazily)

    class SASRec(module):
        def __init__(self) -> None:
            super().__init__()
            reduced = config.reduce if 0 < config.reduce < feature_dim else feature_dim
            # frozen: the top principal directions of the items' vectors, set once from the training items
            self.register_buffer("basis", torch.eye(feature_dim)[:, :reduced].clone())
            self.register_buffer("centre", torch.zeros(feature_dim))
            self.project = nn.Linear(reduced, config.dim)
            self.ids = nn.Embedding(n_items + 1, config.dim, padding_idx=0)
            nn.init.zeros_(self.ids.weight)  # unseen items: content only
            self.positions = nn.Embedding(config.max_len, config.dim)
            layer = nn.TransformerEncoderLayer(config.dim, config.heads, config.dim * 2, config.dropout,
                                               batch_first=True, norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(config.dim)
            self.dropout = nn.Dropout(config.dropout)

        def reduce(self, features):
            return (features - self.centre) @ self.basis

        def embed(self, reduced, known):
            out = self.project(reduced)
            if config.id_embeddings:
                out = out + self.ids(known)
            return out

        def table(self, features, known):
            """Item representations: content projection + id embedding (index 0: no id)."""
            return self.embed(self.reduce(features), known)

        def forward(self, sequence_table, padding):
            """``sequence_table`` (B, L, dim) item representations, ``padding`` (B, L) True where empty."""
            length = sequence_table.shape[1]
            positions = torch.arange(length, device=sequence_table.device)
            hidden = self.dropout(sequence_table * (config.dim ** 0.5) + self.positions(positions)[None])
            # causal, and padding keys hidden; every position still sees itself, so no row is fully masked (a
            # fully masked row turns into NaN, which would reach real positions through the next layer's values)
            causal = torch.triu(torch.ones(length, length, dtype=torch.bool, device=hidden.device), diagonal=1)
            blocked = causal[None] | padding[:, None, :]
            blocked = blocked & ~torch.eye(length, dtype=torch.bool, device=hidden.device)[None]
            blocked = blocked.repeat_interleave(config.heads, dim=0)
            hidden = self.encoder(hidden, mask=blocked)
            return self.norm(hidden)

    return SASRec()


def windows(sequences: Sequence[Sequence[int]], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and next-item targets (item numbers from 1; 0 pads on the left), ``max_len`` steps per window."""
    inputs, targets = [], []
    for sequence in sequences:
        sequence = list(sequence)
        for end in range(len(sequence), 1, -max_len):
            start = max(0, end - max_len - 1)
            piece = sequence[start:end]
            x, y = piece[:-1], piece[1:]
            pad = max_len - len(x)
            inputs.append([0] * pad + x)
            targets.append([0] * pad + y)
    if not inputs:
        raise InvalidInputError("no history has two or more interactions to learn from")
    return np.array(inputs, dtype=np.int64), np.array(targets, dtype=np.int64)


def train(features: np.ndarray, sequences: Sequence[Sequence[int]], config: TrainConfig = TrainConfig(), *,
          on_epoch: Callable[[int, Any], float | None] | None = None,
          progress: Callable[[str, int, int], None] | None = None,
          time_budget_s: float | None = None) -> tuple[Any, dict[str, Any]]:
    """Train on ``sequences`` of item numbers (1-based rows of ``features``); returns the model and a log.

    ``on_epoch(epoch, model)`` may return a validation score: the best epoch's weights are kept.
    ``time_budget_s``: stop after the epoch that passes it (the log says so).
    """
    torch = _torch()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: one thread is several times faster on a shared, busy CPU (measured)
    try:
        return _train(torch, features, sequences, config, on_epoch, progress, time_budget_s)
    finally:
        torch.set_num_threads(threads)


def _train(torch, features, sequences, config, on_epoch, progress, time_budget_s):
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    n_items, feature_dim = features.shape
    model = build_model(feature_dim, n_items, config)
    if 0 < config.reduce < feature_dim:
        centred = torch.from_numpy(features.astype(np.float32))
        centre = centred.mean(0)
        centred = centred - centre
        # principal directions from the covariance (torch on one thread: numpy's BLAS threads crawl on busy cores)
        covariance = (centred.T @ centred).double()
        covariance += 1e-6 * (float(covariance.diagonal().mean()) + 1.0) * torch.eye(feature_dim, dtype=torch.float64)
        _, vectors = torch.linalg.eigh(covariance)  # ascending; the ridge keeps a rank-deficient matrix solvable
        vectors = vectors.float()
        kept = min(config.reduce, n_items)  # fewer when there are fewer items than dimensions
        model.basis.zero_()
        model.basis[:, :kept] = vectors.flip(1)[:, :kept]
        model.centre.copy_(centre)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    inputs, targets = windows(sequences, config.max_len)
    feature_table = torch.from_numpy(np.vstack([np.zeros((1, feature_dim), np.float32), features.astype(np.float32)]))
    known = torch.arange(n_items + 1)
    log: dict[str, Any] = {"windows": int(len(inputs)), "epochs": [], "best_epoch": None}
    best_score, best_state = None, None
    started = time.perf_counter()
    with torch.no_grad():
        reduced_table = model.reduce(feature_table)  # frozen: once, not per step
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = rng.permutation(len(inputs))
        total, steps = 0.0, 0
        for start in range(0, len(order), config.batch_size):
            batch = order[start:start + config.batch_size]
            x = torch.from_numpy(inputs[batch])
            y = torch.from_numpy(targets[batch])
            table = model.embed(reduced_table, known)  # (N+1, dim); row 0 is padding
            hidden = model(table[x], x == 0)
            loss = _loss(torch, hidden, table, y, n_items, config.negatives, rng)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, steps = total + float(loss.detach()), steps + 1
        entry = {"epoch": epoch, "loss": total / max(steps, 1), "seconds": round(time.perf_counter() - started, 1)}
        if on_epoch is not None:
            model.eval()
            score = on_epoch(epoch, model)
            if score is not None:
                entry["validation"] = float(score)
                if best_score is None or score > best_score:
                    best_score, log["best_epoch"] = score, epoch
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        log["epochs"].append(entry)
        if progress:
            progress("train", epoch, config.epochs)
        if time_budget_s is not None and time.perf_counter() - started > time_budget_s and epoch < config.epochs:
            log["stopped_by_time_budget"] = epoch
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model, log


def _loss(torch, hidden, table, targets, n_items: int, negatives: int, rng):
    """Cross-entropy of each next item against all items, or against ``negatives`` shared uniform samples.

    Uniform samples need no log-probability correction; a sample that is the position's own target is masked.
    """
    real = targets > 0
    hidden, targets = hidden[real], targets[real]  # (P, dim), (P,)
    if not negatives or negatives >= n_items:
        return torch.nn.functional.cross_entropy(hidden @ table[1:].T, targets - 1)
    sampled = torch.from_numpy(rng.integers(1, n_items + 1, size=negatives))
    positive = (hidden * table[targets]).sum(-1, keepdim=True)
    negative = hidden @ table[sampled].T
    negative = negative.masked_fill(sampled[None, :] == targets[:, None], float("-inf"))
    logits = torch.cat([positive, negative], dim=1)
    return torch.nn.functional.cross_entropy(logits, torch.zeros(len(targets), dtype=torch.long))


def item_table(model: Any, features: np.ndarray, known: np.ndarray) -> Any:
    """Item representations of a pool (computed once per pool and reused across requests)."""
    torch = _torch()
    with torch.no_grad():
        return model.table(torch.from_numpy(features.astype(np.float32)), torch.from_numpy(known))


def score_all(model: Any, history_features: np.ndarray, history_known: np.ndarray, pool_features: np.ndarray | None,
              pool_known: np.ndarray | None, max_len: int, table: Any = None) -> np.ndarray:
    """Scores of every pool item after a history (rows of features oldest first; ``known``: model item numbers)."""
    torch = _torch()
    with torch.no_grad():
        history_features, history_known = history_features[-max_len:], history_known[-max_len:]
        pad = max_len - len(history_features)
        seq = model.table(torch.from_numpy(history_features.astype(np.float32)), torch.from_numpy(history_known))
        seq = torch.cat([torch.zeros(pad, seq.shape[1]), seq])[None]
        padding = torch.zeros(1, max_len, dtype=torch.bool)
        padding[0, :pad] = True
        hidden = model(seq, padding)[0, -1]
        if table is None:
            if pool_features is None or pool_known is None:
                raise InvalidInputError("scoring a pool needs its features, or a table made from them")
            table = model.table(torch.from_numpy(pool_features.astype(np.float32)), torch.from_numpy(pool_known))
        return (table @ hidden).numpy()


def save(model: Any, directory: Path, item_ids: Sequence[str], config: TrainConfig, info: dict[str, Any],
         extra: Callable[[Path], None] | None = None) -> Path:
    """Write the model directory (weights, config, item ids) atomically: a half-written model is never read.

    ``extra(folder)`` writes more files into the directory before it appears.
    """
    torch = _torch()
    directory = Path(directory)
    scratch = directory.with_name(directory.name + ".partial")
    if scratch.exists():
        import shutil

        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    torch.save(model.state_dict(), scratch / MODEL_FILE)
    (scratch / ITEMS_FILE).write_text(json.dumps(list(item_ids)), encoding="utf-8")
    if extra is not None:
        extra(scratch)
    (scratch / CONFIG_FILE).write_text(json.dumps({"format": FORMAT, "config": asdict(config), **info}, indent=1),
                                       encoding="utf-8")
    if directory.exists():
        import shutil

        old = directory.with_name(directory.name + ".old")
        if old.exists():
            shutil.rmtree(old)
        directory.rename(old)
        scratch.rename(directory)
        shutil.rmtree(old)
    else:
        scratch.rename(directory)
    return directory


def load(directory: Path) -> tuple[Any, TrainConfig, list[str], dict[str, Any]]:
    """Model, its config, its item ids (model item number i+1 is ``item_ids[i]``) and the saved info."""
    torch = _torch()
    directory = Path(directory)
    if not (directory / CONFIG_FILE).is_file() or not (directory / MODEL_FILE).is_file():
        raise NotFoundError(f"no trained recommender in {directory}",
                            hint="train one with: polyseek train-recommender INTERACTIONS.csv")
    info = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    if info.get("format", 0) > FORMAT:
        raise InvalidInputError(f"recommender in {directory} has format {info.get('format')}, newer than this polyseek")
    config = TrainConfig(**info["config"])
    item_ids = json.loads((directory / ITEMS_FILE).read_text(encoding="utf-8"))
    model = build_model(int(info["feature_dim"]), len(item_ids), config)
    model.load_state_dict(torch.load(directory / MODEL_FILE, weights_only=True))
    model.eval()
    return model, config, item_ids, info
