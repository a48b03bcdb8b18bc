"""Context-selection evaluation: answer normalisation, and a small end-to-end run on generated PDFs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polyseek.eval.context import contains, gold_parts, normalise, run_context_eval, to_markdown
from tests.ingest._pdf import report_page, text_page, write_pdf


def test_answer_normalisation():
    assert normalise("1,251 Units.") == "1251 units"
    assert normalise("Revenue was $6.8 billion (up 12%).") == "revenue was $6.8 billion up 12%"
    assert gold_parts("['Post Reach', 'Video Views']") == ["post reach", "video views"]
    assert contains("Top metrics: video views and post reach.", gold_parts("['Post Reach', 'Video Views']"))
    assert not contains("reached 12 people", ["1"]) and contains("page 1 of 3", ["1"])  # whole tokens only


@pytest.mark.slow
def test_context_eval_end_to_end(tmp_path: Path):
    folder = tmp_path / "bench"
    (folder / "documents").mkdir(parents=True)
    write_pdf(folder / "documents" / "report.pdf", [text_page(1), report_page(), text_page(3)])
    questions = [
        {"qid": 1, "question": "Which region led revenue growth in the third quarter?", "doc_id": "report.pdf",
         "evidence_pages": [2], "answer": "Europe"},
        {"qid": 2, "question": "What does chapter 3 talk about?", "doc_id": "report.pdf", "evidence_pages": [3],
         "answer": "topic number 3"},
        {"qid": 3, "question": "Who wrote it?", "doc_id": "report.pdf", "evidence_pages": [1], "answer": "Not answerable"},
    ]
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in questions) + "\n")
    report = run_context_eval(folder, store="memory://", image_encoder="deterministic", text_encoder="deterministic",
                              fixed_ks=(1, 3), ratios=(0.5,), depth=10)
    assert report["timing"]["indexed"]["added"] == 1 and report["timing"]["index_seconds"] >= 0
    assert report["n_questions"] == 2  # "Not answerable" is left out
    table = report["all"]
    assert set(table) == {"fixed top-1", "fixed top-3", "adaptive r=0.5"}
    assert table["fixed top-3"]["items"] == 3 and table["fixed top-1"]["items"] == 1
    assert table["fixed top-3"]["answer_recall"] == 1.0  # both answers are on a page the retriever returns
    for metrics in table.values():
        assert 0.0 <= metrics["precision"] <= 1.0 and 0.0 <= metrics["extractive_contains"] <= 1.0
    assert report["per_question"]["1"]["fixed top-1"]["pages"] == [2]
    markdown = to_markdown(report)
    assert "| adaptive r=0.5 |" in markdown and "answer recall" in markdown


@pytest.mark.slow
def test_eval_context_command_writes_json_and_markdown(tmp_path: Path):
    from typer.testing import CliRunner

    from polyseek.cli.app import app

    folder = tmp_path / "bench"
    (folder / "documents").mkdir(parents=True)
    write_pdf(folder / "documents" / "report.pdf", [text_page(1), report_page()])
    (folder / "queries.jsonl").write_text(json.dumps(
        {"qid": 1, "question": "Which region led revenue growth?", "doc_id": "report.pdf", "evidence_pages": [2],
         "answer": "Europe"}) + "\n")
    output = tmp_path / "out" / "context.json"
    result = CliRunner().invoke(app, ["eval", "context", str(folder), "--output", str(output), "--image-encoder",
                                      "deterministic", "--text-encoder", "deterministic", "--no-extractive", "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(output.read_text())["n_questions"] == 1
    assert "answer recall" in output.with_suffix(".md").read_text()
    assert json.loads(result.stdout)["markdown"] == str(output.with_suffix(".md"))
