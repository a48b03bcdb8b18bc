"""The automatic document rerank is skipped when the first stage is confident (SearchConfig.rerank_skip_gap)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from polyseek.errors import InvalidInputError
from polyseek.search.config import SearchConfig
from polyseek.search.rerank import first_stage_confident


def test_confidence_is_the_top_results_lead_over_the_second():
    top_of_both, second_of_both, first_and_third = 1 / 61, 1 / 62, (1 / 61 + 0.5 / 63) / 1.5
    assert first_stage_confident([top_of_both, second_of_both / 2], 0.4)
    assert not first_stage_confident([top_of_both, first_and_third], 0.02)  # (s1 - s2) / s1 = 0.011
    assert first_stage_confident([top_of_both, first_and_third], 0.01)
    assert first_stage_confident([1.0, 0.0], 1.0) and not first_stage_confident([1.0, 0.01], 1.0)
    # never: no gap configured, one result, nothing positive at the top, equal scores
    assert not first_stage_confident([0.02, 0.001], None)
    assert not first_stage_confident([0.02], 0.01) and not first_stage_confident([], 0.01)
    assert not first_stage_confident([0.0, 0.0], 0.01) and not first_stage_confident([0.02, 0.02], 0.01)


def test_bad_gaps_are_refused_with_one_line():
    assert SearchConfig(rerank_skip_gap=None).rerank_skip_gap is None
    for bad in (0, -0.1, 1.5, True, "0.05", float("nan")):
        with pytest.raises(InvalidInputError, match="rerank_skip_gap"):
            SearchConfig(rerank_skip_gap=bad)  # type: ignore[arg-type]


def test_a_confident_first_stage_skips_only_the_automatic_rerank(engine_factory, tmp_path):
    from tests.ingest._pdf import report_page, text_page, write_pdf

    docs = tmp_path / "docs"
    docs.mkdir()
    write_pdf(docs / "report.pdf", [report_page(), text_page(2), text_page(3)])
    engine = engine_factory()
    engine.index([str(docs)])
    query = "quarterly results revenue grew strongly in every region"
    plain = engine.search(query, k=3, rerank=False)
    assert plain[0].score > plain[1].score  # the first stage puts one page ahead
    never = replace(engine.config, rerank_skip_gap=None)
    tiny = replace(engine.config, rerank_skip_gap=1e-9)  # any lead is enough
    assert all("rerank" in h.scores for h in engine.search(query, k=3, config=never))
    skipped = engine.search(query, k=3, config=tiny)
    assert not any("rerank" in h.scores for h in skipped)
    assert [h.item.id for h in skipped] == [h.item.id for h in plain]  # the first stage's order, as without rerank
    asked = engine.search(query, k=3, rerank=True, config=tiny)  # the user asked: reranked whatever the lead
    assert all("rerank" in h.scores for h in asked)
