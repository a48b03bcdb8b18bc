"""``polyseek eval ask``: how answers are scored, how run-on table text is quoted, and a small end-to-end run on a
generated PDF with the extractive answerer and an OpenAI-compatible endpoint (a local scripted server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polyseek.eval.ask import answer_kind, numbers, says_not_found, score_answer, token_f1
from polyseek.rag.extractive import line_breaks, quote_units
from tests.ingest._pdf import report_page, text_page, write_pdf


def test_numbers_are_matched_at_the_gold_precision():
    assert numbers("Paid $1,251.50 in 2015, up 18.29%.") == ["1251.50", "2015", "18.29"]
    assert answer_kind("0.66") == "number" and answer_kind("18.29%") == "number" and answer_kind("[1500, 8000]") == "number"
    assert score_answer("The ratio is 0.657 [1].", "0.66")["accuracy"] == 1.0
    assert score_answer("The ratio is 0.7 [1].", "0.66")["accuracy"] == 0.0
    assert score_answer("Between 1,500 and 8,000 [2].", "[1500, 8000]")["accuracy"] == 1.0
    assert score_answer("Only 1,500 [2].", "[1500, 8000]")["accuracy"] == 0.0


def test_short_answers_match_whole_tokens_and_long_answers_score_f1():
    assert answer_kind("Europe") == "short" and score_answer("Growth was led by Europe [1].", "Europe")["accuracy"] == 1.0
    assert score_answer("Growth was led by Europeans [1].", "Europe")["accuracy"] == 0.0
    assert score_answer("Post reach and video views.", "['Post Reach', 'Video Views']")["accuracy"] == 1.0
    gold = "If it can be partially verified by the knowledge graph G"
    assert answer_kind(gold) == "long"
    assert score_answer(gold + " [1].", gold)["accuracy"] == 1.0
    assert 0 < token_f1("it can be verified by the graph and many other words here", gold) < 1
    assert token_f1("", gold) == 0.0


def test_not_found_answers_are_recognised():
    assert says_not_found("No passage clearly answers this. Closest match: revenue grew [1].")
    assert says_not_found("I cannot tell from the indexed files.")
    assert says_not_found("The context does not mention the author.")
    assert not says_not_found("Revenue grew by 12% in Asia [1].")


def test_a_run_on_table_is_quoted_row_by_row_and_prose_is_left_whole():
    page = ("Quarterly results\nRegion 2023 2024 Change\nEurope 1,204 1,530 27%\nAsia 980 1,101 12%\n"
            "Americas 1,660 1,790 8%\nAfrica 210 260 24%\nTotal current liabilities 2,213,556 2,494,435\n"
            "Deferred revenue 51,094 57,401\nOther liabilities 85,459 73,747")
    run_on = " ".join(page.split("\n", 1)[1].split())
    source = line_breaks(page)
    units = quote_units(run_on, source)
    assert "Asia 980 1,101 12%" in units and "Total current liabilities 2,213,556 2,494,435" in units
    assert all(len(u) < 60 for u in units)
    prose = "Revenue grew strongly in every region during the third quarter, led by Europe."
    assert quote_units(prose, line_breaks(prose)) == [prose]
    wrapped = ("This is a long sentence of ordinary prose that a PDF wrapped over several lines because the column is "
               "narrow, and it goes on\nfor a while describing results in words rather than in a table, so it should "
               "stay\nwhole when it is quoted by the answerer, as long as it has few line breaks.")
    assert quote_units(" ".join(wrapped.split()), line_breaks(wrapped)) == [" ".join(wrapped.split())]


@pytest.mark.slow
def test_eval_ask_command_scores_each_generator(tmp_path: Path, scripted_server):
    from typer.testing import CliRunner

    from polyseek.cli.app import app

    url, requests = scripted_server
    folder = tmp_path / "bench"
    (folder / "documents").mkdir(parents=True)
    write_pdf(folder / "documents" / "report.pdf", [text_page(1), report_page(), text_page(3)])
    questions = [
        {"qid": 1, "question": "Which region led revenue growth in the third quarter?", "doc_id": "report.pdf",
         "evidence_pages": [2], "answer": "Europe"},
        {"qid": 2, "question": "Who signed the report?", "doc_id": "report.pdf", "evidence_pages": [], "answer": "Not answerable"},
    ]
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in questions) + "\n")
    output = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["eval", "ask", str(folder), "--output", str(output), "-g", "extractive",
                                      "-g", f"openai:scripted@{url}", "--image-encoder", "deterministic",
                                      "--text-encoder", "deterministic", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(output.read_text())
    extractive = report["generators"]["extractive"]["all"]
    assert extractive["n_answerable"] == 1 and extractive["n_missing"] == 2
    assert extractive["accuracy"] == 1.0  # it quotes "... led by Europe" from page 2
    assert extractive["citation_precision"] == 1.0
    scripted = report["generators"][f"openai:scripted@{url}"]["all"]
    assert scripted["accuracy"] == 0.0 and scripted["not_found"] == 0.0  # it always answers about a hotel invoice
    assert scripted["cited"] == 1.0 and 0.0 <= scripted["citation_precision"] <= 1.0
    assert requests and requests[0]["model"] == "scripted"
    assert "| extractive |" in output.with_suffix(".md").read_text()
    bad = CliRunner().invoke(app, ["eval", "ask", str(folder), "--output", str(output), "-g", "nonsense:x"])
    assert bad.exit_code != 0
