"""Training-free label bridge: an image becomes the probability-weighted mean of its ImageNet label-prompt embeddings."""

from __future__ import annotations

from importlib import resources

import numpy as np

from polyseek.encoders.base import normalize

# WordNet lemmas of the 1,000 ImageNet-1k classes in class-index order, shipped inside the default model directory
LABELS_FILE = ("models", "aligner-default", "labels.txt")


def imagenet_labels() -> list[str]:
    """The 1,000 class names shipped with polyseek (from timm's imagenet_synset_to_lemma.txt; WordNet lemmas)."""
    text = resources.files("polyseek").joinpath(*LABELS_FILE).read_text(encoding="utf-8")
    labels = [line for line in text.splitlines() if line.strip()]
    if len(labels) != 1000:  # pragma: no cover - a packaging error
        raise RuntimeError(f"expected 1000 ImageNet labels, found {len(labels)}")
    return labels


def label_prompts(labels: list[str], template: str = "a photo of a {}.") -> list[str]:
    """One prompt per class from its first lemma ("Great Dane, ..." -> "a photo of a Great Dane.")."""
    return [template.format(label.split(",")[0].strip()) for label in labels]


def label_embeddings(text_encoder, labels: list[str], template: str = "a photo of a {}.") -> np.ndarray:
    """Document-side embeddings of the label prompts, (1000, dim) unit rows."""
    return normalize(text_encoder.encode_documents(label_prompts(labels, template)))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = np.asarray(logits, dtype=np.float64) / max(temperature, 1e-6)
    scaled -= scaled.max(axis=1, keepdims=True)
    probs = np.exp(scaled)
    return (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)


def bridge_vectors(logits: np.ndarray, label_vectors: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Unit vectors in the text space: softmax(logits / t) @ label_vectors."""
    return normalize(softmax(logits, temperature) @ label_vectors)
