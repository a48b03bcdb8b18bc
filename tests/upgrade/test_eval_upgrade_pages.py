"""``polyseek eval upgrade`` on a pages folder (documents/*.pdf and queries.jsonl): every row is ``eval pages``."""

from __future__ import annotations

import json

from polyseek.eval.upgrade import is_pages_folder, pages_markdown, run_upgrade_pages_eval
from tests.ingest._pdf import PageSpec, write_pdf

NEW = "tests.upgrade.small_encoders:Rotated"
TOPICS = [("harbour lighthouse granite lamp", "the ferry timetable and harbour fees"),
          ("quarterly revenue grew in every segment", "operating margin and cash flow")]


def make_pages(root):
    (root / "documents").mkdir(parents=True)
    questions = []
    for d, pages in enumerate(TOPICS):
        specs = [PageSpec(lines=[(72, 72, 14, f"Chapter {p + 1}"), (72, 110, 11, f"This page is about {words}.")])
                 for p, words in enumerate(pages)]
        write_pdf(root / "documents" / f"doc{d}.pdf", specs)
        for p, words in enumerate(pages):
            questions.append({"qid": f"q{d}{p}", "question": f"what is said about {words}?", "doc_id": f"doc{d}.pdf",
                              "evidence_pages": [p + 1], "answer": words})
    (root / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in questions) + "\n")
    return root


def test_a_pages_folder_is_measured_at_every_step_and_ends_as_a_fresh_index(tmp_path):
    folder = make_pages(tmp_path / "pages")
    assert is_pages_folder(folder) and not is_pages_folder(tmp_path)
    report = run_upgrade_pages_eval(folder, old="deterministic", new=NEW, space="text", sample=8,
                                    workdir=tmp_path / "work", other_encoder="deterministic")
    rows = report["rows"]
    assert list(rows) == ["old", "projected_0", "projected_50", "projected_100", "switched", "new_scratch"]
    assert report["queries"] == 4 and report["backfill_100"]["remaining_files"] == 0
    for row in rows.values():
        assert {"corpus_hit@10", "corpus_mrr@10", "within_document_recall@5"} <= set(row)
        assert 0.0 <= row["corpus_mrr@10"] <= 1.0
    # after the switch the index answers exactly as one built with the new model from scratch
    assert {k: v for k, v in rows["switched"].items() if k != "seconds"} == \
        {k: v for k, v in rows["new_scratch"].items() if k != "seconds"}
    assert "| switched |" in pages_markdown(report)


def test_the_cli_limits_a_pages_folder_to_its_first_questions(tmp_path):
    from typer.testing import CliRunner

    from polyseek.cli.app import app

    folder = make_pages(tmp_path / "pages")
    out = tmp_path / "up.json"
    result = CliRunner().invoke(app, ["eval", "upgrade", str(folder), "--old", "deterministic", "--new", NEW, "--sample", "8",
                                      "--limit", "2", "--output", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["queries"] == 2 and report["indexed_items"]["store-upgrade"] == report["indexed_items"]["store-new"]


def test_a_folder_of_neither_layout_is_refused_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from polyseek.cli.app import app
    from polyseek.errors import InvalidInputError

    (tmp_path / "notes").mkdir()
    for folder, said in ((tmp_path / "nope", "no folder"), (tmp_path / "notes", "neither a captions folder nor a pages folder")):
        result = CliRunner().invoke(app, ["eval", "upgrade", str(folder), "--output", str(tmp_path / "u.json")],
                                    env={"COLUMNS": "200"})
        # the CLI's entry point prints an InvalidInputError as one line and exits 2 (tests/cli)
        assert isinstance(result.exception, InvalidInputError) and said in result.exception.message
        assert "pages folder" in (result.exception.hint or "") and not (tmp_path / "u.json").exists()
