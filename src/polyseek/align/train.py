"""Contrastive training of the aligner's projector (frozen image backbone -> frozen text encoder's space)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from polyseek.align.model import assemble, build_projector
from polyseek.encoders.base import normalize
from polyseek.errors import InvalidInputError

Log = Callable[[str, int, int, dict], None]  # (stage, done, total, figures)


@dataclass
class TrainOptions:
    epochs: int = 12  # 30 overfit: 12 with the shrunk views gave +0.16 rsum on the tuning split
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.05
    hidden: int = 0
    dropout: float = 0.1
    input_dropout: float = 0.4
    temperature: float = 0.05  # initial; learned (as log 1/t) and clamped at 1/100
    warmup_epochs: int = 1
    hard_negatives: bool = False
    hard_start: int = 5  # epoch from which negatives are mined with the current model
    hard_k: int = 8  # candidates kept per image and direction
    hard_captions: int = 2  # extra wrong images per image whose captions join the image->text negatives
    false_negative_cos: float = 0.9  # images whose mean captions are this close count as the same content, never negatives
    seed: int = 0
    # Matryoshka loss (Kusupati et al. 2022): the same contrastive loss on these leading dimensions of the image
    # vector (renormalised) against the same leading dimensions of the frozen text vectors, averaged with the
    # full-dimension loss, so prefixes of the image vector keep their ranking. (): the full dimension only.
    matryoshka: tuple[int, ...] = ()


def parse_dims(text: str) -> tuple[int, ...]:
    """``"64,128,256"`` -> (64, 128, 256): the prefix sizes of ``--matryoshka`` ("" -> none)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not all(p.isdigit() and int(p) > 0 for p in parts):
        raise InvalidInputError(f"--matryoshka takes positive whole numbers separated by commas, got {text!r}",
                                hint="e.g. --matryoshka 64,128,256")
    return tuple(sorted({int(p) for p in parts}))


def _caption_lists(owner: np.ndarray, n_images: int) -> list[np.ndarray]:
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(n_images + 1))
    return [order[bounds[i] : bounds[i + 1]] for i in range(n_images)]


def _mean_caption(vectors: np.ndarray, caption_lists: list[np.ndarray]) -> np.ndarray:
    return normalize(np.stack([vectors[c].mean(0) for c in caption_lists]))


def _topk_rows(scores_fn, n: int, k: int, exclude_fn, chunk: int = 1024) -> np.ndarray:
    """Top-k column indices per row of a (n x n) score matrix built in row chunks, with excluded cells at -inf."""
    out = np.zeros((n, k), dtype=np.int64)
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        scores = scores_fn(lo, hi)
        scores[exclude_fn(lo, hi)] = -np.inf
        part = np.argpartition(-scores, kth=min(k, scores.shape[1] - 1), axis=1)[:, :k]
        rows = np.take_along_axis(scores, part, 1)
        out[lo:hi] = np.take_along_axis(part, np.argsort(-rows, axis=1, kind="stable"), 1)
    return out


def mine_hard_negatives(image_vectors: np.ndarray, query_means: np.ndarray, doc_means: np.ndarray, k: int,
                        false_negative_cos: float) -> tuple[np.ndarray, np.ndarray]:
    """Modality-aware mining with the current model.

    Returns (t2i, i2t), each (n, k) image indices: ``t2i[i]`` are the wrong images that image i's captions (as
    queries) rank highest; ``i2t[i]`` the wrong images whose captions (as documents) image i ranks highest. Images
    whose captions mean nearly the same (cosine of mean caption embeddings >= ``false_negative_cos``) are skipped:
    Flickr8k is full of "a dog runs through the grass", and those are not negatives.
    """
    n = image_vectors.shape[0]
    k = min(k, n - 1)

    def exclude(lo: int, hi: int) -> np.ndarray:
        same = doc_means[lo:hi] @ doc_means.T >= false_negative_cos
        same[np.arange(hi - lo), np.arange(lo, hi)] = True
        return same

    t2i = _topk_rows(lambda lo, hi: query_means[lo:hi] @ image_vectors.T, n, k, exclude)
    i2t = _topk_rows(lambda lo, hi: image_vectors[lo:hi] @ doc_means.T, n, k, exclude)
    return t2i, i2t


def train_projector(inputs: np.ndarray, other_views: np.ndarray | list[np.ndarray] | None, query_vectors: np.ndarray,
                    doc_vectors: np.ndarray, owner: np.ndarray, options: TrainOptions,
                    log: Log | None = None, groups: np.ndarray | None = None):
    """Train a projector with a symmetric contrastive loss; returns (projector module, history list).

    Each image is contrasted with every caption in the batch (its own captions are the positives; image->text uses
    the captions' document embeddings, text->image their query embeddings, as the engine does at search time). The
    temperature is learned. ``other_views`` are features of the same images seen otherwise: one array (the mirror
    images) is used for a random half of the images at each step; a list (mirrored, shrunk, ...) lets each step
    draw one of the ``1 + len`` views per image.

    ``groups`` (one id per image, optional): images of one group share their captions as positives. Rendered
    negatives (:mod:`polyseek.align.negatives`) of one kind share five generic captions ("a bar chart"), so a
    caption of a render counts as matching every render of its kind, never as a negative for them; photos keep
    a group of their own. Without ``groups`` the loss is exactly the photo-only one.
    """
    import torch
    import torch.nn.functional as F

    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    n = inputs.shape[0]
    captions = _caption_lists(owner, n)
    query_means = _mean_caption(query_vectors, captions)
    doc_means = _mean_caption(doc_vectors, captions)
    x_all = torch.from_numpy(inputs)
    views = x_flip = None
    if isinstance(other_views, list | tuple):
        views = torch.stack([x_all, *(torch.from_numpy(v) for v in other_views)])
    elif other_views is not None:  # one array: kept apart so the two-view runs draw the same random numbers as before
        x_flip = torch.from_numpy(other_views)
    tq_all = torch.from_numpy(query_vectors)
    td_all = torch.from_numpy(doc_vectors)
    full_dim = query_vectors.shape[1]
    # (dims, text queries, text documents) per level: prefixes renormalised once, the full vectors as they are
    levels = [(full_dim, tq_all, td_all)] + [
        (d, F.normalize(tq_all[:, :d], dim=1), F.normalize(td_all[:, :d], dim=1))
        for d in sorted(set(options.matryoshka)) if 0 < d < full_dim]
    projector = build_projector(inputs.shape[1], query_vectors.shape[1], options.hidden, options.dropout)
    log_scale = torch.nn.Parameter(torch.tensor(math.log(1.0 / options.temperature)))
    params = [{"params": [p for p in projector.parameters() if p.ndim > 1], "weight_decay": options.weight_decay},
              {"params": [p for p in projector.parameters() if p.ndim <= 1] + [log_scale], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(params, lr=options.lr)
    batch = min(options.batch_size, n)
    steps_per_epoch = max(1, n // batch)
    total_steps = steps_per_epoch * options.epochs
    warmup = max(1, steps_per_epoch * options.warmup_epochs)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / total_steps))))
    hard_t2i = hard_i2t = None
    history = []
    step = 0
    for epoch in range(options.epochs):
        if options.hard_negatives and epoch >= options.hard_start:
            projector.eval()
            with torch.no_grad():
                current = normalize(projector(x_all).numpy())
            hard_t2i, hard_i2t = mine_hard_negatives(current, query_means, doc_means, options.hard_k,
                                                     options.false_negative_cos)
        projector.train()
        order = rng.permutation(n)
        if hard_t2i is not None:  # half the batch: seeds; the other half: one hard image for each seed
            order = _hard_batches(order, hard_t2i, batch, rng)
        running = 0.0
        for b in range(steps_per_epoch):
            ids = order[b * batch : (b + 1) * batch]
            x = x_all[ids]
            if x_flip is not None:
                use_flip = torch.from_numpy(rng.random(len(ids)) < 0.5)[:, None]
                x = torch.where(use_flip, x_flip[ids], x)
            elif views is not None:
                x = views[torch.from_numpy(rng.integers(0, len(views), len(ids))), torch.from_numpy(ids)]
            x = F.dropout(x, options.input_dropout, training=True)
            projected = projector(x)
            cap_ids = np.concatenate([captions[i] for i in ids])
            cap_owner = torch.from_numpy(np.concatenate([[j] * len(captions[i]) for j, i in enumerate(ids)]))
            scale = log_scale.exp().clamp(max=100.0)
            neg_ids = cap_ids
            neg_owner = ids[cap_owner.numpy()]
            if hard_i2t is not None and options.hard_captions:
                extra_images = hard_i2t[ids, : options.hard_captions].reshape(-1)
                extra = np.concatenate([captions[i] for i in extra_images])
                neg_ids = np.concatenate([cap_ids, extra])
                neg_owner = np.concatenate([neg_owner, np.concatenate([[i] * len(captions[i]) for i in extra_images])])
            if groups is None:
                positive = torch.from_numpy(neg_owner[None, :] == ids[:, None])
            else:
                positive = torch.from_numpy(groups[neg_owner][None, :] == groups[ids][:, None])
            losses = []
            for dims, tq_level, td_level in levels:
                u = F.normalize(projected[:, :dims], dim=1)
                # text -> image: each caption picks its image among the batch's images
                t2i_logits = scale * tq_level[cap_ids] @ u.T
                if groups is None:
                    loss_t2i = F.cross_entropy(t2i_logits, cap_owner)
                else:  # several positives per caption (its image's group): multi-positive InfoNCE
                    batch_groups = torch.from_numpy(groups[ids])
                    shared = batch_groups[cap_owner][:, None] == batch_groups[None, :]
                    loss_t2i = (torch.logsumexp(t2i_logits, 1) - torch.logsumexp(t2i_logits.masked_fill(~shared, float("-inf")), 1)).mean()
                # image -> text: each image against the batch's captions (+ hard ones), own captions positive
                i2t_logits = scale * u @ td_level[neg_ids].T
                negatives_lse = torch.logsumexp(i2t_logits.masked_fill(positive, float("-inf")), dim=1, keepdim=True)
                per_positive = torch.logaddexp(i2t_logits, negatives_lse) - i2t_logits
                loss_i2t = per_positive[positive].mean()
                losses.append(0.5 * (loss_t2i + loss_i2t))
            loss = losses[0] if len(losses) == 1 else torch.stack(losses).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            running += float(loss.detach())
        figures = {"epoch": epoch + 1, "loss": running / steps_per_epoch, "temperature": float(1 / log_scale.detach().exp().clamp(max=100))}
        history.append(figures)
        if log:
            log("training", epoch + 1, options.epochs, figures)
    projector.eval()
    return projector, history


def _hard_batches(order: np.ndarray, hard: np.ndarray, batch: int, rng: np.random.Generator) -> np.ndarray:
    """Reorder images so each batch pairs seeds with one of their mined hard images (no image twice per batch)."""
    n = len(order)
    out: list[int] = []
    used = np.zeros(n, dtype=bool)
    current: list[int] = []
    seen: set[int] = set()
    for seed in order:
        if used[seed]:
            continue
        current.append(int(seed))
        seen.add(int(seed))
        used[seed] = True
        partner = int(hard[seed, rng.integers(hard.shape[1])])
        if not used[partner] and partner not in seen and len(current) < batch:
            current.append(partner)
            seen.add(partner)
            used[partner] = True
        if len(current) >= batch:
            out += current
            current, seen = [], set()
    out += current
    return np.array(out, dtype=np.int64)


def project(projector, inputs: np.ndarray) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return normalize(projector(torch.from_numpy(inputs)).numpy())


def projector_tensors(projector) -> dict[str, np.ndarray]:
    return {f"projector.{k}": v.detach().numpy().copy() for k, v in projector.state_dict().items()}


def options_dict(options: TrainOptions) -> dict:
    return asdict(options)


__all__ = ["TrainOptions", "assemble", "parse_dims", "mine_hard_negatives", "project", "projector_tensors", "train_projector"]
