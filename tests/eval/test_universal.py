"""`polyseek eval universal`: the JSON contract on a tiny generated mixed pool, splits, and the moment scoring rule.

The deterministic encoder only knows word overlap and colour (a red photo is near the word "red"), so these tests check
plumbing and bookkeeping, never quality.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from typer.testing import CliRunner

from polyseek.cli.app import app
from polyseek.eval.moments import first_correct, iou, moment_ious, moment_queries
from polyseek.eval.universal import UniversalOptions, run_universal, split_of_photo, to_markdown
from polyseek.types import Hit, Item, Locator, Modality

DETERMINISTIC = ["--image-encoder", "deterministic", "--text-encoder", "deterministic"]


def test_eval_universal_writes_the_contract(pool, tmp_path):
    output = tmp_path / "u.json"
    args = ["eval", "universal", "--captions", str(pool["captions"]), "--pages", str(pool["pages"]),
            "--distractors", str(pool["distractors"]), "--output", str(output), "--workdir", str(tmp_path / "work"),
            *DETERMINISTIC, "--json"]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(output.read_text())
    assert set(report["tasks"]) == {"captions", "reports"}  # a page set is named by its folder
    captions, pages = report["tasks"]["captions"], report["tasks"]["reports"]
    assert captions["n_queries"] == 8 and pages["n_queries"] == 2
    for data in (captions, pages):
        assert set(data) >= {"own", "universal", "n_queries"}
        assert all(0.0 <= v <= 1.0 for scope in ("own", "universal") for v in data[scope].values())
    assert {"recall@1", "recall@5", "recall@10"} <= set(captions["own"])
    assert {"hit@10", "recall@5"} <= set(pages["universal"])
    # own pool: only the set's photos compete, and each pure-colour caption finds its colour
    own = report["per_query"]["captions"]["own"]
    assert own["red.jpg#0"]["first_relevant_rank"] == 1 and own["blue.jpg#0"]["first_relevant_rank"] == 1
    assert all(top.startswith("image:") for row in own.values() for top in row["top"])
    # own pool of a page set: its 5 pages only, all within the top 10
    assert pages["own"]["hit@10"] == 1.0
    assert all(top.startswith(("page:", "region:")) for row in report["per_query"]["reports"]["own"].values() for top in row["top"])
    # modality_top1 is the share of universal queries whose first hit has the target modality
    for name, prefixes in (("captions", ("image:",)), ("reports", ("page:", "region:"))):
        rows = report["per_query"][name]["universal"].values()
        expected = sum(1 for row in rows if row["top"] and row["top"][0].startswith(prefixes)) / len(rows)
        assert report["modality_top1"][name] == pytest.approx(expected)
    # the universal pool holds the distractors too: a poster or the note is among some caption query's hits
    universal_tops = [top for row in report["per_query"]["captions"]["universal"].values() for top in row["top"]]
    assert any("poster.jpg" in top or "note.txt" in top for top in universal_tops)
    image = report["image_queries"]
    assert image["n_queries"] == 4 and 0.0 <= image["photo_share_top5"] <= 1.0
    shares = [row["photo_share_top5"] for row in report["per_query"]["image_queries"].values()]
    assert image["photo_share_top5"] == pytest.approx(sum(shares) / len(shares))
    # every top-5 list leaves the query photo out: 3 other photos + poster are images, the rest is text or pages
    assert all(len(row["top5"]) == 5 for row in report["per_query"]["image_queries"].values())
    assert report["pool"]["captions"] == 4 and report["pool"]["distractors:misc"] >= 2
    markdown = output.with_suffix(".md").read_text()
    assert markdown.startswith("# polyseek eval universal") and "| captions | 8 | text→photo R@10 |" in markdown
    assert json.loads(result.stdout)["tasks"]["reports"]["n_queries"] == 2


def test_dev_and_test_split_the_queries(pool):
    counts = {}
    for split in ("dev", "test", "all"):
        try:
            report = run_universal(UniversalOptions(captions=pool["captions"], split=split, image_queries=0),
                                   store="memory://", image_encoder="deterministic", text_encoder="deterministic")
        except Exception as exc:  # a split may hold no photo of four; say which
            counts[split] = str(exc)
            continue
        counts[split] = report["tasks"]["captions"]["n_queries"]
    expected = {s: 2 * sum(1 for name in ("red.jpg", "green.jpg", "blue.jpg", "yellow.jpg") if split_of_photo(name) == s)
                for s in ("dev", "test")}
    for split in ("dev", "test"):
        if expected[split]:
            assert counts[split] == expected[split]
        else:
            assert "no query in split" in counts[split]
    assert counts["all"] == 8


def test_each_split_is_reported_and_the_own_pool_can_be_left_out(pool):
    options = UniversalOptions(captions=pool["captions"], pages=(pool["pages"],), image_queries=0)
    report = run_universal(options, store="memory://", image_encoder="deterministic", text_encoder="deterministic")
    for name, task in report["tasks"].items():
        rows = report["per_query"][name]["universal"]
        by_split = report["by_split"][name]
        assert sum(entry["n_queries"] for entry in by_split.values()) == task["n_queries"]
        for split, entry in by_split.items():
            members = [r for r in rows.values() if r["split"] == split]
            metric = "recall@10" if name == "captions" else "hit@10"
            assert entry["universal"][metric] == pytest.approx(sum(r[metric] for r in members) / len(members), abs=1e-6)
            assert entry["modality_top1"] == pytest.approx(sum(r["top1_on_target"] for r in members) / len(members), abs=1e-6)
        # the mean over splits, weighted by their queries, is the task's figure
        total = sum(e["universal"]["recall@1"] * e["n_queries"] for e in by_split.values()) / task["n_queries"]
        assert total == pytest.approx(task["universal"]["recall@1"], abs=1e-5)
    universal_only = run_universal(dataclasses.replace(options, own=False), store="memory://", image_encoder="deterministic",
                                   text_encoder="deterministic")
    assert all("own" not in task and "universal" in task for task in universal_only["tasks"].values())
    assert "| – |" in to_markdown(universal_only)


@pytest.mark.parametrize("extra, message", [([], "nothing to evaluate"), (["--captions", "MISSING"], "is not a folder"),
                                            (["--captions", "CAPTIONS", "--split", "train"], "unknown split")])
def test_bad_input_is_one_clear_line(pool, tmp_path, capsys, extra, message):
    from polyseek.cli.app import main

    extra = [str(tmp_path / "missing") if a == "MISSING" else str(pool["captions"]) if a == "CAPTIONS" else a for a in extra]
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "universal", "--output", str(tmp_path / "u.json"), *extra])
    assert exit_info.value.code != 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not (tmp_path / "u.json").exists()


def test_moment_queries_and_the_iou_rule(tmp_path):
    manifest = {"videos": [{"file": "a.mp4", "shots": [
        {"image": "x.jpg", "query": "a dog", "narration": None, "start": 0.0, "end": 4.0},
        {"image": "y.jpg", "query": "a cat", "narration": "a cat sleeps", "start": 4.0, "end": 10.0}]}]}
    queries = moment_queries(manifest, tmp_path)
    assert [q["kind"] for q in queries] == ["caption", "caption", "spoken"]
    assert queries[2]["span"] == (4.0, 10.0) and queries[2]["path"] == str(tmp_path / "a.mp4")
    assert iou((0, 4), (2, 6)) == pytest.approx(2 / 6)

    def hit(path: str, start: float, end: float) -> Hit:
        return Hit(Item(id=f"{path}@{start}", path=path, modality=Modality.VIDEO_MOMENT, locator=Locator(start=start, end=end)), 1.0)

    target = str(tmp_path / "a.mp4")
    hits = [hit("other.mp4", 4.0, 10.0), hit(target, 0.0, 4.0), hit(target, 5.0, 10.0)]
    ious = moment_ious(hits, target, (4.0, 10.0))
    assert ious[0] == 0.0 and ious[1] == 0.0 and ious[2] == pytest.approx(5 / 6)
    assert first_correct(ious) == 3 and first_correct([0.2, 0.4]) is None


def test_the_same_picture_as_another_kind_is_a_twin_not_a_miss(tmp_path):
    """A moments benchmark shows the caption set's photos as shots: in one pool, a moment query's photo and a caption
    query's shot are the same picture in another kind, taken out of the universal ranking (twin_rank records them)."""
    from polyseek.eval.universal import _Task, _twins

    photos = tmp_path / "flickr" / "images"
    captions = _Task("captions", "captions", photos, index_paths=[str(photos / "x.jpg"), str(photos / "z.jpg")])
    video = str(tmp_path / "bench" / "a.mp4")
    moments = _Task("moments", "moments", tmp_path / "bench", queries=[
        {"kind": "caption", "image": "x.jpg", "path": video, "span": (0.0, 4.0)},
        {"kind": "spoken", "image": "x.jpg", "path": video, "span": (0.0, 4.0)},
        {"kind": "caption", "image": "y.jpg", "path": video, "span": (4.0, 10.0)}])
    twins = _twins([captions, moments])
    assert twins is not None and twins.shots == {"x.jpg": [(video, 0.0, 4.0)], "y.jpg": [(video, 4.0, 10.0)]}

    def hit(path, modality, start=None, end=None):
        return Hit(Item(id=f"{path}@{start}", path=str(path), modality=modality, locator=Locator(start=start, end=end)), 1.0)

    moment_query = {"image": "x.jpg"}
    assert twins.of("moments", moment_query, hit(photos / "x.jpg", Modality.IMAGE))
    assert not twins.of("moments", moment_query, hit(photos / "z.jpg", Modality.IMAGE))
    assert not twins.of("moments", moment_query, hit(tmp_path / "posters" / "x.jpg", Modality.IMAGE))  # another folder
    caption_query = {"photo": "x.jpg"}
    assert twins.of("captions", caption_query, hit(video, Modality.VIDEO_MOMENT, 0.5, 4.0))
    assert not twins.of("captions", caption_query, hit(video, Modality.VIDEO_MOMENT, 4.0, 10.0))  # another shot
    assert not twins.of("pages", caption_query, hit(video, Modality.VIDEO_MOMENT, 0.5, 4.0))
    assert _twins([captions]) is None
    assert _twins([_Task("captions", "captions", photos, index_paths=[str(photos / "q.jpg")]), moments]) is None
