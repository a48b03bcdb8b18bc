"""The query-side kind prior: fitted from a tiny dev set, it moves the asked-for kind first in a mixed collection;
an explicit modality filter or an instruction that names a kind always wins; one-kind pools rank as before."""

from __future__ import annotations

import json

import numpy as np
import pytest

from polyseek.errors import InvalidInputError
from polyseek.search.config import SearchConfig
from polyseek.search.kind_prior import KindPrior, fit, inline_kinds, instruction_kinds, load
from polyseek.search.policies.kind_prior import KindPriorPolicy
from polyseek.stores.base import Row
from polyseek.types import Filters, Modality, Signal

DEV_CAPTIONS = ["A dog runs through the grass .", "Two children play on the beach .", "A man rides a red bike",
                "a woman in a hat sits on a bench", "Three dogs pull a sled through snow .", "A girl jumps into a pool"]
DEV_QUESTIONS = ["What was the total revenue in fiscal 2019?", "Which chart on page 4 shows the survey results?",
                 "How many employees did the company report in 2021?", "According to the report, what share of adults agree?",
                 "What is the FY2015 operating cash flow ratio?", "List the sections of the appendix."]
KINDS = {"visual": ["image", "video"], "document": ["document"]}
QUESTION = "what is the net income reported for 2020?"
CAPTION = "a brown dog jumps over a log"


def tiny_prior(weight: float = 4.0) -> KindPrior:
    return fit(DEV_CAPTIONS + DEV_QUESTIONS, ["visual"] * 6 + ["document"] * 6, KINDS, weight=weight)


def test_a_prior_fitted_on_a_tiny_dev_set_tells_captions_from_questions():
    prior = tiny_prior()
    assert prior.probabilities(QUESTION)["document"] > 0.7
    assert prior.probabilities(CAPTION)["visual"] > 0.7
    biases = prior.biases(QUESTION)
    assert biases["document"] > 0 > biases["image"] and biases["video"] == biases["image"]
    assert "audio" not in biases and "text" not in biases  # kinds the model never saw get no prior
    # the instruction names the kind: the model's guess is replaced, whatever the text looks like
    assert prior.biases(QUESTION, instruction="find a photo of") == {"image": prior.weight}
    assert instruction_kinds("Find a PDF page about") == ("document",)
    assert instruction_kinds("represent this sentence") == ()


def test_the_fitted_prior_round_trips_through_json_and_rejects_other_features(tmp_path):
    prior = tiny_prior()
    path = tmp_path / "prior.json"
    prior.save(path)
    again = load(str(path))
    assert again is not None and again.probabilities(QUESTION) == pytest.approx(prior.probabilities(QUESTION), abs=1e-5)
    data = json.loads(path.read_text())
    data["features"] = data["features"][:-1]
    path.write_text(json.dumps(data))
    with pytest.raises(InvalidInputError, match="other features"):
        KindPrior.from_dict(data)
    with pytest.raises(InvalidInputError, match="two classes"):
        fit(DEV_CAPTIONS, ["visual"] * 6, KINDS)
    with pytest.raises(InvalidInputError, match="kind_prior"):
        SearchConfig(kind_prior=-1)


def test_the_shipped_prior_was_fitted_on_dev_only_and_tells_the_kinds_apart():
    prior = load()
    assert prior is not None and prior.meta["fitted_on"] == "dev half only"
    assert prior.probabilities(QUESTION)["document"] > 0.9 and prior.probabilities(CAPTION)["visual"] > 0.9


def unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def mixed_engine(engine_factory, prior: KindPrior | None):
    """Photos and PDF pages; for each query one photo and one page stand out, the wrong kind a little more."""
    # pages that lead would be reranked by their (filler) text: left out, this measures the ranking itself
    engine = engine_factory(store="memory://", config=SearchConfig(rerank_documents=False))
    engine.spaces.ensure(engine.store)
    for policy in engine.pipeline.policies:
        if isinstance(policy, KindPriorPolicy):
            policy._prior = prior
    rng = np.random.default_rng(0)

    def noise(dim: int) -> np.ndarray:
        return unit(rng.normal(size=dim))

    di = len(engine.encoder("image").encode_queries(["x"])[0])
    dt = len(engine.encoder("text").encode_queries(["x"])[0])
    rows = []
    for i in range(40):
        rows.append(Row(id=f"photo{i}", doc=f"/p/{i}.jpg", path=f"/p/{i}.jpg", modality="image",
                        vectors={"image": noise(di)}))
        rows.append(Row(id=f"page{i}", doc=f"/d/{i}.pdf", path=f"/d/{i}.pdf", modality="page", text=f"filler {i}",
                        locator={"page": 1}, vectors={"image": noise(di), "text": noise(dt)}))
    engine.store.upsert(rows)
    # the query vectors the pipeline searches with, in each space
    vectors = {t: engine.trace(t, k=1).vectors for t in (QUESTION, CAPTION)}
    rows = []
    # the question's photo stands out more than its page; the caption's page more than its photo
    for name, text, photo_pull, page_pull in (("q", QUESTION, 0.9, 0.6), ("c", CAPTION, 0.6, 0.9)):
        rows.append(Row(id=f"photo_{name}", doc=f"/p/{name}.jpg", path=f"/p/{name}.jpg", modality="image",
                        vectors={"image": unit(photo_pull * vectors[text][Signal.IMAGE] + noise(di))}))
        rows.append(Row(id=f"page_{name}", doc=f"/d/{name}.pdf", path=f"/d/{name}.pdf", modality="page",
                        text="filler", locator={"page": 1},
                        vectors={"image": noise(di), "text": unit(page_pull * vectors[text][Signal.TEXT] + noise(dt))}))
    engine.store.upsert(rows)
    return engine


def test_the_prior_puts_the_kind_the_query_asks_for_first(engine_factory):
    off = engine_factory  # same index, prior switched off by config
    engine = mixed_engine(off, tiny_prior())
    no_prior = engine.with_config(kind_prior=0.0)
    assert engine.search(QUESTION, k=3, config=no_prior)[0].item.id == "photo_q"  # the bias, reproduced
    assert engine.search(CAPTION, k=3, config=no_prior)[0].item.id == "page_c"
    assert engine.search(QUESTION, k=3)[0].item.id == "page_q"
    assert engine.search(CAPTION, k=3)[0].item.id == "photo_c"
    # within one kind the order is the calibrated one
    photos = [h.item.id for h in engine.search(CAPTION, k=20) if h.item.modality == Modality.IMAGE]
    photos_off = [h.item.id for h in engine.search(CAPTION, k=20, config=no_prior) if h.item.modality == Modality.IMAGE]
    assert len(photos) > 5 and [i for i in photos if i in photos_off] == [i for i in photos_off if i in photos]


def test_an_explicit_modality_always_wins_over_the_prior(engine_factory):
    engine = mixed_engine(engine_factory, tiny_prior(weight=50.0))
    both = Filters(modalities=(Modality.IMAGE, Modality.PAGE))
    with_prior = [(h.item.id, h.score) for h in engine.search(QUESTION, k=5, filters=both)]
    without = [(h.item.id, h.score) for h in engine.search(QUESTION, k=5, filters=both,
                                                           config=engine.with_config(kind_prior=0.0))]
    assert with_prior == without and with_prior[0][0] == "photo_q"
    only_photos = engine.search(QUESTION, k=3, filters=Filters(modalities=(Modality.IMAGE,)))
    assert all(h.item.modality == Modality.IMAGE for h in only_photos)


def test_an_index_of_one_kind_is_ranked_as_without_the_prior(collection, engine_factory):
    engine = engine_factory()
    engine.index([collection / "photos"])
    for policy in engine.pipeline.policies:
        if isinstance(policy, KindPriorPolicy):
            policy._prior = tiny_prior(weight=50.0)
    for text in (QUESTION, CAPTION, "red"):
        on = engine.search(text, k=3)
        off = engine.search(text, k=3, config=engine.with_config(kind_prior=0.0))
        assert [(h.item.id, h.score) for h in on] == [(h.item.id, h.score) for h in off]


def test_a_composed_query_weighs_its_text_by_the_measured_balance(collection, engine_factory):
    from polyseek.encoders.base import normalize
    from polyseek.search.policies.composed import TEXT_WEIGHT

    engine = engine_factory()
    engine.index([collection])
    red = collection / "photos" / "red.jpg"
    trace = engine.trace("green", image=str(red), k=3)
    encoder = engine.encoder("image")
    from PIL import Image

    image = encoder.encode_images([Image.open(red).convert("RGB")])[0]
    text = encoder.encode_queries(["green"])[0]
    expected = normalize(image + TEXT_WEIGHT * text)[0]
    assert TEXT_WEIGHT != 1.0 and np.allclose(trace.vectors[Signal.IMAGE], expected, atol=1e-5)
    even = normalize(image + text)[0]
    assert not np.allclose(trace.vectors[Signal.IMAGE], even, atol=1e-3)


def test_the_prior_is_a_named_stage_between_fusion_and_the_pooling_policies(collection, engine_factory):
    engine = engine_factory()
    names = [name for name, _ in engine.pipeline.stages()]
    assert names.index("calibration.before_fusion") < names.index("fuse") < names.index("kind-prior.after_fusion")
    assert names.index("kind-prior.after_fusion") < names.index("moments.after_fusion") < names.index("documents.after_fusion")


def test_within_a_kind_the_universal_order_is_the_order_of_a_search_restricted_to_it(engine_factory):
    """Evidence decides between kinds, never within one: pages keep the order a pages-only search gives them."""
    from polyseek.search.policies.calibration import CalibrationPolicy

    engine = engine_factory(store="memory://", config=SearchConfig(rerank_documents=False))
    engine.spaces.ensure(engine.store)
    rng = np.random.default_rng(1)
    words = "apple banana cherry grape lemon mango olive peach pear plum".split()
    di = len(engine.encoder("image").encode_queries(["x"])[0])
    text_encoder = engine.encoder("text")
    rows = [Row(id=f"photo{i}", doc=f"/p/{i}.jpg", path=f"/p/{i}.jpg", modality="image",
                vectors={"image": unit(rng.normal(size=di))}) for i in range(30)]
    for i in range(30):
        text = " ".join(rng.choice(words, size=int(rng.integers(3, 12))))
        rows.append(Row(id=f"page{i}", doc=f"/d/{i}.pdf", path=f"/d/{i}.pdf", modality="page", text=text,
                        locator={"page": 1}, vectors={"image": unit(rng.normal(size=di)),
                                                      "text": text_encoder.encode_documents([text])[0]}))
    engine.store.upsert(rows)
    query = "banana lemon peach pear"

    def pages(**options) -> list[str]:
        return [h.item.id for h in engine.search(query, k=60, **options) if h.item.modality == Modality.PAGE][:12]

    restricted = pages(filters=Filters(modalities=(Modality.PAGE,)))
    assert len(restricted) == 12 and pages() == restricted
    calibration = next(p for p in engine.pipeline.policies if isinstance(p, CalibrationPolicy))
    calibration.keep_kind_order = False  # evidence alone reorders pages against pages
    assert pages() != restricted


def test_kinds_a_query_names_in_its_own_words():
    assert inline_kinds("what did I say in the voice memo") == ("audio",)
    assert inline_kinds("my notes about coffee") == ("text",)
    assert inline_kinds("rocket launch photo") == ("image",)
    assert inline_kinds("A man poses for a picture .") == ("image",)
    # a document word wins (a question about "the image on page 5" asks for the page), video words stay the model's
    assert inline_kinds("the image on page 5") == ()
    assert inline_kinds("How many recorded videos are in the section?") == ()
    assert inline_kinds("a brown dog jumps over a log") == ()


def test_a_kind_named_in_the_query_leads_in_its_own_order(engine_factory):
    engine = mixed_engine(engine_factory, tiny_prior())
    named = "photo: " + QUESTION  # a finance question whose page stands out, typed as a request for a photo
    trace = engine.trace(named, k=10)
    assert trace.state["kind-prior.named"] == ["image"]
    kinds = [h.item.modality for h in trace.hits]
    photos = kinds.count(Modality.IMAGE)
    assert photos >= 2 and kinds[:photos] == [Modality.IMAGE] * photos  # every photo among the hits comes first
    restricted = [h.item.id for h in engine.search(named, k=photos, filters=Filters(modalities=(Modality.IMAGE,)))]
    assert [h.item.id for h in trace.hits[:photos]] == restricted  # in the order of a search for photos only
    assert "kind-prior.named" not in engine.trace(QUESTION, k=3).state
    # an instruction that names a kind is the person's word: the text's own words do not add to it
    assert "kind-prior.named" not in engine.trace(named, k=3, instruction="find a PDF page").state
