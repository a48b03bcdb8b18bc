"""The runner end to end through Engine on a generated captions folder (deterministic encoder: plumbing only)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from polyseek.eval.datasets import load_captions
from polyseek.eval.runner import run_dataset

# Colour words: the deterministic encoder maps mean RGB onto the buckets of "red", "green", "blue",
# so this tiny set is solved perfectly if (and only if) hits are mapped back to the right ids.
ENTRIES = {
    "r.jpg": ["red", "a red red square"],
    "g.jpg": ["green", "a green green patch"],
    "b.jpg": ["blue", "the blue blue sea"],
}
KEYS = ("recall@1", "recall@5", "recall@10", "ndcg@10", "mrr@10")


@pytest.fixture
def captions_dir(tmp_path, make_captions):
    return make_captions(tmp_path / "caps", ENTRIES)


def test_memory_run_is_perfect_on_colour_words(captions_dir):
    report = run_dataset(load_captions(captions_dir), image_encoder="deterministic", text_encoder="deterministic", store="memory")
    for task in ("text_to_image", "image_to_text"):
        assert report[task]["recall@1"] == 1.0 and report[task]["mean_rank"] == 1.0
        assert report["details"][task]["exact_ranks"] and report["details"][task]["unmapped_hits"] == 0
    assert report["details"]["text_to_image"]["n_candidate_items"] == 3
    assert report["details"]["image_to_text"]["n_candidate_items"] == 6
    assert report["image_to_text"]["recall_frac@1"] == pytest.approx(0.5)  # one of two captions at rank 1
    assert (report["n_images"], report["n_queries"]) == (3, 6)
    assert report["config"]["image_encoder_resolved"].startswith("deterministic")
    row = report["per_query"]["image_to_text"]["g.jpg"]
    assert row["relevant"] == ["g.jpg#0", "g.jpg#1"] and row["top"][0].startswith("g.jpg#")


@pytest.mark.slow
def test_cli_lancedb_report_and_compare(captions_dir, tmp_path):
    from polyseek.cli.app import app

    runner = CliRunner()
    out = tmp_path / "r.json"
    workdir = tmp_path / "work"
    args = ["eval", "captions", str(captions_dir), "--output", str(out), "--image-encoder", "deterministic",
            "--text-encoder", "deterministic", "--workdir", str(workdir)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    for task in ("text_to_image", "image_to_text"):
        assert set(KEYS) <= set(report[task]) and all(0.0 <= report[task][k] <= 1.0 for k in KEYS)
    assert report["text_to_image"]["recall@1"] == 1.0
    assert report["config"]["store"].startswith("lancedb")
    assert "| text_to_image |" in out.with_suffix(".md").read_text()

    # a kept workdir is reused: nothing is embedded again
    again = tmp_path / "again.json"
    assert runner.invoke(app, [*args[:3], "--output", str(again), *args[5:]]).exit_code == 0
    assert json.loads(again.read_text())["timing"]["indexing"]["images"]["unchanged"] == 3

    compared = runner.invoke(app, ["eval", "compare", str(out), str(again), "--json", "--permutations", "200"])
    assert compared.exit_code == 0, compared.output
    rows = json.loads(compared.output)["rows"]
    assert rows and all(r["mean_diff"] == 0.0 and r["p_randomization"] == 1.0 for r in rows)


def test_shallow_depth_with_deep_ranks_matches_full_depth(tmp_path, make_captions):
    entries = {**ENTRIES, "y.jpg": ["zzz", "unrelated words"], "w.jpg": ["qqq nothing", "xyzzy"]}
    data = load_captions(make_captions(tmp_path / "caps2", entries))
    options = {"image_encoder": "deterministic", "text_encoder": "deterministic", "store": "memory"}
    full = run_dataset(data, depth=50, **options)
    shallow = run_dataset(data, depth=1, **options)
    censored = run_dataset(data, depth=1, exact_ranks=False, **options)
    for task in ("text_to_image", "image_to_text"):
        assert shallow[task]["mean_rank"] == full[task]["mean_rank"]
        assert shallow[task]["recall@1"] == full[task]["recall@1"]
        assert shallow["details"][task]["deep_rank_queries"] > 0
        assert censored["details"][task]["censored_queries"] == shallow["details"][task]["deep_rank_queries"]
        assert censored[task]["mean_rank"] <= full[task]["mean_rank"]  # a lower bound
    assert full["text_to_image"]["mean_rank"] > 1.0  # the test has misses to find
