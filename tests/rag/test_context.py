"""Context selection: passages, adaptive threshold relative to the best, budgets, pictures, fixed top-k."""

from __future__ import annotations

from polyseek.rag.context import Candidate, select_adaptive, select_fixed, split_passages, split_sentences
from polyseek.types import Hit, Item, Modality


def candidate(rank, relevance, text="some words here."):
    modality = Modality.TEXT if text else Modality.IMAGE
    hit = Hit(item=Item(id=f"i{rank}", path=f"/f{rank}", modality=modality, text=text), score=1.0 / (rank + 1))
    passages = [text] if text else []
    return Candidate(hit=hit, rank=rank, passages=passages, passage_scores=[relevance] if text else [],
                     relevance=relevance if text else 1.0 / (rank + 1))


def test_sentences_and_passages():
    text = "First sentence here. Second one follows!\n\n# Heading\nThird, with 3.5 units. Then " + "word " * 200
    spans = [text[a:b] for a, b in split_sentences(text)]
    assert spans[:3] == ["First sentence here.", "Second one follows!", "# Heading\nThird, with 3.5 units."]
    assert all(b - a <= 600 for a, b in split_sentences(text))
    passages = split_passages(text, max_chars=200)
    assert passages[0].startswith("First sentence here.") and all(len(p) <= 700 for p in passages)


def test_adaptive_keeps_what_clears_the_threshold_relative_to_the_best():
    candidates = [candidate(0, 0.9), candidate(1, 0.6), candidate(2, 0.44), candidate(3, 0.95)]
    assert [c.rank for c in select_adaptive(candidates, ratio=0.5)] == [3, 0, 1]
    assert [c.rank for c in select_adaptive(candidates, ratio=0.5, max_items=2)] == [3, 0]
    # nothing relevant at all: still the single best, so the answer can say what came closest
    weak = [candidate(0, 0.01), candidate(1, 0.002)]
    assert [c.rank for c in select_adaptive(weak, ratio=0.5)] == [0]
    # the character budget stops it early
    long = [candidate(i, 0.9, "x" * 900 + ".") for i in range(5)]
    assert len(select_adaptive(long, ratio=0.5, max_chars=2000)) == 2


def test_pictures_form_their_own_pool_and_fixed_takes_k():
    candidates = [candidate(0, 0.0, text=""), candidate(1, 0.8), candidate(2, 0.0, text=""), candidate(3, 0.7), candidate(12, 0.0, text="")]
    chosen = select_adaptive(candidates, ratio=0.5, max_items=8)
    assert [c.rank for c in chosen] == [1, 3, 0]  # picture 2 scores under 0.9 x the best picture; 12 is ranked too low
    assert [c.rank for c in select_fixed(candidates, k=3)] == [1, 0, 2]
    assert [c.rank for c in select_fixed(candidates, k=5)] == [1, 3, 0, 2]
