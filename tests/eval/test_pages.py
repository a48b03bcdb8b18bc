"""`polyseek eval pages`: the JSON contract on a tiny generated dataset, and the metric definitions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polyseek.cli.app import app
from polyseek.eval.pages import load_questions, page_metrics, split_of
from tests.ingest._pdf import PageSpec, write_pdf

KEYS = {"recall@1", "recall@5", "recall@10", "hit@5", "ndcg@5", "mrr@10"}


def topic_page(words: str) -> PageSpec:
    return PageSpec(lines=[(72, 72, 14, words.title()), (72, 110, 11, f"This page is about {words} and little else."),
                           (72, 126, 11, f"More sentences on {words}, so the paragraph is long enough.")])


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "pages"
    (root / "documents").mkdir(parents=True)
    write_pdf(root / "documents" / "fruit.pdf", [topic_page(w) for w in ("apples", "bananas", "cherries")])
    write_pdf(root / "documents" / "tools.pdf", [topic_page(w) for w in ("hammers", "saws")])
    questions = [
        {"qid": 1, "question": "Which page talks about bananas?", "doc_id": "fruit.pdf", "evidence_pages": [2]},
        {"qid": 2, "question": "Where are saws described?", "doc_id": "tools.pdf", "evidence_pages": [2]},
        {"qid": 3, "question": "apples and cherries", "doc_id": "fruit.pdf", "evidence_pages": [1, 3]},
        {"qid": 4, "question": "a question about a missing file", "doc_id": "gone.pdf", "evidence_pages": [1]},
    ]
    (root / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in questions) + "\n")
    return root


def test_eval_pages_writes_the_contract(dataset, tmp_path):
    output = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["eval", "pages", str(dataset), "--output", str(output), "--image-encoder", "deterministic",
                                      "--text-encoder", "deterministic", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(output.read_text())
    assert report["n_queries"] == 3  # the question on a missing PDF is left out
    for task in ("within_document", "corpus"):
        assert KEYS <= set(report[task]) and all(0.0 <= v <= 1.0 for v in report[task].values())
    assert report["within_document"]["hit@5"] == 1.0  # three short topical pages each: words match
    per = report["per_query"]["within_document"]["1"]
    assert per["top"][0] == 2 and per["relevant"] == [2]
    assert output.with_suffix(".md").read_text().startswith("# Page retrieval")
    assert json.loads(result.stdout)["n_queries"] == 3


def test_page_metrics_follow_their_definitions():
    m = page_metrics([4, 7, 1, 9], {7, 9, 12})
    assert m["recall@1"] == 0 and m["hit@1"] == 0
    assert m["recall@5"] == pytest.approx(2 / 3) and m["hit@5"] == 1
    assert m["mrr@10"] == 0.5
    ideal = 1 + 1 / 1.584962500721156 + 0.5
    assert m["ndcg@5"] == pytest.approx((1 / 1.584962500721156 + 1 / 2.321928094887362) / ideal)
    assert page_metrics([], {1})["mrr@10"] == 0


def test_questions_split_by_document(dataset):
    from polyseek.errors import InvalidInputError

    expected = {"tune": set(), "test": set()}
    for qid, doc in (("1", "fruit.pdf"), ("2", "tools.pdf"), ("3", "fruit.pdf")):
        expected[split_of(doc)].add(qid)
    for name, qids in expected.items():
        if qids:
            _, questions = load_questions(dataset, split=name)
            assert {q.qid for q in questions} == qids and all(q.split == name for q in questions)
        else:
            with pytest.raises(InvalidInputError, match="no usable question"):
                load_questions(dataset, split=name)


def test_breakdown_by_facet_and_failed_files_are_reported(dataset, tmp_path):
    """MMLongBench-Doc's evidence_sources (a list) and doc_type, FinanceBench's question_type, group the metrics;
    a PDF that cannot be indexed is listed with its reason and its questions count as misses."""
    (dataset / "documents" / "broken.pdf").write_bytes(b"%PDF-1.4\nnot really a pdf")
    records = [json.loads(line) for line in (dataset / "queries.jsonl").read_text().splitlines()]
    facets = {"1": (["Chart", "Table"], "Report"), "2": (["Pure-text (Plain-text)"], "Guidebook"),
              "3": (["Table"], "Report")}
    for record in records:
        if str(record["qid"]) in facets:
            record["evidence_sources"], record["doc_type"] = facets[str(record["qid"])]
    records.append({"qid": "fin-1", "question": "broken file question", "doc_id": "broken.pdf", "evidence_pages": [1],
                    "question_type": "metrics-generated", "doc_type": "10k"})
    (dataset / "queries.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    output = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["eval", "pages", str(dataset), "--output", str(output), "--image-encoder", "deterministic",
                                      "--text-encoder", "deterministic"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(output.read_text())
    assert report["n_queries"] == 4
    sources = report["breakdown"]["evidence_sources"]
    assert sources["Table"]["n_queries"] == 2 and sources["Chart"]["n_queries"] == 1  # a list puts a question in each group
    per = report["per_query"]["within_document"]
    assert sources["Table"]["within_document"]["hit@5"] == pytest.approx((per["1"]["hit@5"] + per["3"]["hit@5"]) / 2)
    assert set(report["breakdown"]["doc_type"]) == {"Report", "Guidebook", "10k"}
    assert report["breakdown"]["question_type"]["metrics-generated"]["within_document"]["hit@5"] == 0.0
    assert [f["file"] for f in report["failed_files"]] == ["broken.pdf"]
    assert "damaged" in report["failed_files"][0]["reason"] and report["questions_on_failed_files"] == 1
    assert "by evidence_sources" in result.output and "broken.pdf" in result.output
    markdown = output.with_suffix(".md").read_text()
    assert "By `doc_type`:" in markdown and "`broken.pdf`" in markdown


def test_financebench_records_load_with_their_fields(tmp_path):
    root = tmp_path / "fb"
    (root / "documents").mkdir(parents=True)
    write_pdf(root / "documents" / "ADOBE_2015_10K.pdf", [topic_page("cash flow")])
    record = {"qid": "financebench_id_04735", "question": "What is the FY2015 operating cash flow ratio for Adobe?",
              "doc_id": "ADOBE_2015_10K.pdf", "evidence_pages": [1], "answer": "0.66", "question_type": "metrics-generated",
              "question_reasoning": "Numerical reasoning", "company": "Adobe", "doc_type": "10k", "doc_period": 2015,
              "evidence_texts": ["59\n ADOBE SYSTEMS INCORPORATED"]}
    (root / "queries.jsonl").write_text(json.dumps(record) + "\n")
    _, questions = load_questions(root)
    assert questions[0].qid == "financebench_id_04735" and questions[0].evidence_pages == (1,)
    assert questions[0].facet("question_type") == ("metrics-generated",) and questions[0].facet("doc_type") == ("10k",)
    assert questions[0].facet("evidence_sources") == ()


def test_reranker_is_chosen_by_name(dataset, tmp_path):
    from polyseek.errors import InvalidInputError
    from polyseek.eval.pages import run_pages_eval

    with pytest.raises(InvalidInputError, match="unknown reranker"):
        run_pages_eval(dataset, image_encoder="deterministic", text_encoder="deterministic", reranker="no-such")
    report = run_pages_eval(dataset, image_encoder="deterministic", text_encoder="deterministic", reranker="colbert", rerank=True)
    assert report["config"]["reranker"] == "colbert" and report["within_document"]["hit@5"] == 1.0


def test_statements_rule_is_chosen_by_name(dataset):
    from polyseek.errors import InvalidInputError
    from polyseek.eval.pages import run_pages_eval

    with pytest.raises(InvalidInputError, match="unknown statements rule"):
        run_pages_eval(dataset, image_encoder="deterministic", text_encoder="deterministic", statements="sometimes")
    report = run_pages_eval(dataset, image_encoder="deterministic", text_encoder="deterministic", rerank=False, statements="implied")
    assert report["config"]["statements"] == "implied"
