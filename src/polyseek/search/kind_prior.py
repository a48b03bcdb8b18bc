"""Which kind of item a text query is after, predicted from the query alone: a small logistic regression.

A caption-like query ("a brown dog runs through the grass") asks for a picture; a long question with figures
("what is the FY2015 operating cash flow ratio for Adobe?") asks for a page of a document. Calibration
(:mod:`polyseek.search.calibration`) makes each kind's scores comparable, but a question about a report still
meets a poster that stands out as much as the right page does. This model gives each kind a prior from cheap
features of the query's text (length, interrogative form, digits, financial terms, words such as "page",
"chart" or "photo"); ``policies/kind_prior.py`` adds it to the fused evidence of a mixed collection.

The model is fitted on the *dev* half of the eval sets only (``scripts/fit_kind_prior.py``): caption queries are
``visual``, page questions are ``document``; its parameters ship as JSON (``polyseek/models/kind-prior``). Kinds
the model has no class for (notes, audio) get no prior. An instruction that names a kind ("find a PDF page")
replaces the model's guess; an explicit modality filter turns the prior off.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from polyseek.errors import InvalidInputError

FEATURES = ("log_words", "question_mark", "wh_start", "aux_start", "imperative_start", "article_start", "has_digit",
            "digit_share", "finance", "document_words", "photo_words", "video_words", "capital_share", "long_words",
            "symbols")
WH = {"what", "which", "who", "whom", "whose", "when", "where", "why", "how"}
AUX = {"is", "are", "was", "were", "do", "does", "did", "can", "could", "should", "would", "will", "has", "have", "had"}
IMPERATIVE = {"list", "find", "show", "give", "compute", "calculate", "according", "based", "tell", "name", "identify",
              "describe", "summarize", "summarise", "explain", "compare", "you", "using", "in", "among", "from", "for"}
ARTICLES = {"a", "an", "the", "two", "three", "four", "several", "some", "one", "many", "group"}
FINANCE = {"revenue", "revenues", "income", "profit", "profits", "margin", "fiscal", "fy", "quarter", "quarterly",
           "million", "millions", "billion", "billions", "usd", "dollars", "eps", "ebitda", "cash", "assets", "liabilities",
           "equity", "debt", "ratio", "expenses", "expense", "sales", "earnings", "dividend", "dividends", "capex",
           "shares", "operating", "net", "gross", "inventory", "tax", "percent", "percentage", "growth", "rate",
           "total", "annual", "year", "years", "10-k", "10-q", "statement", "balance"}
DOCUMENT = {"page", "pages", "chart", "charts", "table", "tables", "figure", "figures", "fig", "slide", "slides",
            "report", "reports", "section", "document", "documents", "pdf", "appendix", "graph", "graphs", "diagram",
            "filing", "paper", "survey", "guide", "manual", "chapter", "paragraph", "caption", "footnote", "list"}
PHOTO = {"photo", "photos", "photograph", "photographs", "picture", "pictures", "pic", "pics", "image", "images",
         "snapshot", "selfie", "shot"}
VIDEO = {"video", "videos", "clip", "clips", "footage", "scene", "scenes", "moment", "movie", "film"}
TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-.,%$']*")

# an instruction's words -> the kinds (calibration groups) it names; it replaces the model's guess
INSTRUCTION_KINDS: Mapping[str, tuple[str, ...]] = {
    "page": ("document",), "pages": ("document",), "pdf": ("document",), "pdfs": ("document",),
    "document": ("document",), "documents": ("document",), "report": ("document",), "slide": ("document",),
    "slides": ("document",), "chart": ("document",), "table": ("document",), "figure": ("document",),
    "photo": ("image",), "photos": ("image",), "photograph": ("image",), "picture": ("image",),
    "pictures": ("image",), "image": ("image",), "images": ("image",), "poster": ("image",), "posters": ("image",),
    "video": ("video",), "videos": ("video",), "clip": ("video",), "moment": ("video",), "moments": ("video",),
    "footage": ("video",), "audio": ("audio",), "recording": ("audio",), "recordings": ("audio",),
    "memo": ("audio",), "podcast": ("audio",), "note": ("text",), "notes": ("text",), "passage": ("text",),
}
DEFAULT_PATH = "models/kind-prior/kind_prior.json"


def features(text: str) -> np.ndarray:
    """The query's cheap features, in the order of :data:`FEATURES` (no encoder, no vocabulary beyond the sets)."""
    tokens = TOKEN.findall(text)
    words = [t.strip(".,'").lower() for t in tokens]
    n = max(len(words), 1)
    first = words[0] if words else ""
    values = {
        "log_words": math.log1p(len(words)),
        "question_mark": float("?" in text),
        "wh_start": float(any(w in WH for w in words[:3])),
        "aux_start": float(first in AUX),
        "imperative_start": float(first in IMPERATIVE),
        "article_start": float(first in ARTICLES),
        "has_digit": float(any(c.isdigit() for c in text)),
        "digit_share": sum(any(c.isdigit() for c in t) for t in tokens) / n,
        "finance": min(sum(w in FINANCE for w in words), 3) / 3,
        "document_words": float(any(w in DOCUMENT for w in words)),
        "photo_words": float(any(w in PHOTO for w in words)),
        "video_words": float(any(w in VIDEO for w in words)),
        "capital_share": sum(t[:1].isupper() for t in tokens[1:]) / n,
        "long_words": sum(len(w) >= 9 for w in words) / n,
        "symbols": float(any(c in text for c in "()%$\":;")),
    }
    return np.array([values[name] for name in FEATURES], dtype=np.float64)


def instruction_kinds(instruction: str | None) -> tuple[str, ...]:
    """The kinds an instruction names ("find a PDF page …" → document), in order; () when it names none."""
    if not instruction:
        return ()
    named: list[str] = []
    for word in TOKEN.findall(instruction.lower()):
        for kind in INSTRUCTION_KINDS.get(word.strip(".,'"), ()):
            if kind not in named:
                named.append(kind)
    return tuple(named)


# kinds a query names in its own words ("my notes about coffee", "the voice memo", "rocket launch photo"): the
# model was fitted on captions and document questions only, so it has no class for notes or recordings, and a
# typed "photo" moves it less than the evidence of a note holding the other words. Named so, a kind's items lead
# (policies/kind_prior.py). Document words (a question about "the image on page 5" asks for the page) and video
# words (MMLongBench-Doc asks about "recorded videos" in a report) are left to the model.
INLINE_KINDS = frozenset({"text", "audio", "image"})
# ... except the words that name documents and nothing else: none of them is in any of the 2,530 eval captions,
# while "table", "slide", "paper" and "figure" are (a family at a table, a child on a slide, a figure skater).
# "pdf about harbours" asks for the PDF whatever the model guesses from three words.
INLINE_DOCUMENT_WORDS = frozenset({"page", "pages", "pdf", "pdfs", "document", "documents", "report"})
# the model was fitted on captions and questions of three words or more (one eval caption in 2,530 has two): a
# one- or two-word keyword query ("harbours", "tax forms") is outside what it has seen, so it gives no prior
MIN_PRIOR_WORDS = 3


def inline_kinds(text: str | None) -> tuple[str, ...]:
    """The kinds a query names in its own words, as :data:`INLINE_KINDS` allows; () when it also names documents.

    >>> inline_kinds("what did I say in the voice memo"), inline_kinds("the image on page 5")
    (('audio',), ())
    >>> inline_kinds("pdf about harbours"), inline_kinds("a family sits at a table")
    (('document',), ())
    """
    named = instruction_kinds(text)
    if "document" in named:  # a document named alone, by a word with no everyday second meaning, leads
        words = {w.strip(".,'") for w in TOKEN.findall(text.lower())} if text else set()
        return ("document",) if named == ("document",) and words & INLINE_DOCUMENT_WORDS else ()
    return tuple(kind for kind in named if kind in INLINE_KINDS)


@dataclass(frozen=True)
class KindPrior:
    """A fitted multinomial logistic regression: query features → probability of each class of kinds.

    ``classes`` name the classes; ``kinds`` says which calibration groups each class covers (``visual`` →
    image and video moments); ``weight`` (z units of fused evidence) scales the prior a kind receives:
    ``weight × (p(class) − 1/len(classes))``, so a sure guess moves kinds apart by at most ``weight``.
    """

    classes: tuple[str, ...]
    kinds: Mapping[str, tuple[str, ...]]
    coef: np.ndarray  # (len(classes), len(FEATURES)) on standardised features
    intercept: np.ndarray  # (len(classes),)
    mean: np.ndarray  # feature standardisation fitted with the model
    scale: np.ndarray
    weight: float = 1.0
    meta: Mapping[str, Any] = field(default_factory=dict)

    def probabilities(self, text: str) -> dict[str, float]:
        logits = self.coef @ ((features(text) - self.mean) / self.scale) + self.intercept
        logits -= logits.max()
        p = np.exp(logits)
        p /= p.sum()
        return {c: float(v) for c, v in zip(self.classes, p)}

    def biases(self, text: str, instruction: str | None = None, weight: float | None = None) -> dict[str, float]:
        """The prior added to each kind's fused evidence (calibration groups; kinds not listed get 0).

        An instruction that names kinds gives those kinds the full ``weight`` and the model is not asked; a query
        of fewer than :data:`MIN_PRIOR_WORDS` words gets no prior.
        """
        scale = self.weight if weight is None else weight
        named = instruction_kinds(instruction)
        if named:
            return {kind: scale for kind in named}
        if len(TOKEN.findall(text or "")) < MIN_PRIOR_WORDS:
            return {}
        centre = 1.0 / len(self.classes)
        out: dict[str, float] = {}
        for name, p in self.probabilities(text).items():
            for kind in self.kinds.get(name, ()):
                out[kind] = scale * (p - centre)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(FEATURES), "classes": list(self.classes),
                "kinds": {c: list(k) for c, k in self.kinds.items()}, "coef": self.coef.round(6).tolist(),
                "intercept": self.intercept.round(6).tolist(), "mean": self.mean.round(6).tolist(),
                "scale": self.scale.round(6).tolist(), "weight": self.weight, "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KindPrior:
        try:
            if list(data["features"]) != list(FEATURES):
                raise InvalidInputError("kind prior was fitted on other features",
                                        hint="refit it with scripts/fit_kind_prior.py")
            classes = tuple(str(c) for c in data["classes"])
            coef = np.asarray(data["coef"], dtype=np.float64)
            if coef.shape != (len(classes), len(FEATURES)) or len(classes) < 2:
                raise InvalidInputError("kind prior: coef must be classes × features, with at least two classes")
            return cls(classes=classes, kinds={str(c): tuple(v) for c, v in dict(data["kinds"]).items()}, coef=coef,
                       intercept=np.asarray(data["intercept"], dtype=np.float64),
                       mean=np.asarray(data["mean"], dtype=np.float64),
                       scale=np.asarray(data["scale"], dtype=np.float64), weight=float(data.get("weight", 1.0)),
                       meta=dict(data.get("meta", {})))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"kind prior file is malformed ({exc})", hint="refit it with scripts/fit_kind_prior.py") from exc

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")


def fit(texts: Sequence[str], labels: Sequence[str], kinds: Mapping[str, Sequence[str]], *, l2: float = 1.0,
        weight: float = 1.0, steps: int = 400, meta: Mapping[str, Any] | None = None) -> KindPrior:
    """Fit the prior on labelled dev queries: class-balanced multinomial logistic regression, L2-regularised.

    >>> prior = fit(["a dog on grass", "two kids play in the sand", "what was revenue in 2019?",
    ...              "which page shows the 2020 sales table?"], ["visual", "visual", "document", "document"],
    ...             {"visual": ["image"], "document": ["document"]})
    >>> prior.probabilities("a cat on a sofa")["visual"] > 0.5
    True
    """
    if len(texts) != len(labels) or not texts:
        raise InvalidInputError("fit needs one label per query and at least one query")
    classes = tuple(sorted(set(labels)))
    if len(classes) < 2:
        raise InvalidInputError(f"fit needs queries of at least two classes, got {list(classes)}")
    x = np.stack([features(t) for t in texts])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    x = (x - mean) / scale
    y = np.array([classes.index(label) for label in labels])
    onehot = np.eye(len(classes))[y]
    counts = onehot.sum(axis=0)
    sample_weight = (len(y) / (len(classes) * counts))[y]  # each class weighs the same in the loss
    coef = np.zeros((len(classes), x.shape[1]))
    intercept = np.zeros(len(classes))
    n = float(sample_weight.sum())
    for _ in range(steps):  # full-batch gradient descent with a fixed step: the loss is convex and small
        logits = x @ coef.T + intercept
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        residual = (p - onehot) * sample_weight[:, None]
        coef -= 0.5 * (residual.T @ x / n + l2 * coef / n)
        intercept -= 0.5 * residual.sum(axis=0) / n
    return KindPrior(classes=classes, kinds={c: tuple(kinds.get(c, ())) for c in classes}, coef=coef,
                     intercept=intercept, mean=mean, scale=scale, weight=weight, meta=dict(meta or {}))


@lru_cache(maxsize=4)
def load(path: str | None = None) -> KindPrior | None:
    """The shipped prior (or the one at ``path``); ``None`` when there is none."""
    if path is None:
        resource = resources.files("polyseek").joinpath(DEFAULT_PATH)
        if not resource.is_file():
            return None
        return KindPrior.from_dict(json.loads(resource.read_text(encoding="utf-8")))
    return KindPrior.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
