"""The needle benchmark on a tiny generated captions set: grids, the JSON contract, tiles against whole images."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from polyseek.eval.needle import NeedleOptions, build_grids, iou, run_needle
from polyseek.ingest.tiles import TileSettings

# the deterministic encoder maps mean colour onto the words red/green/blue: a caption "red" finds red pixels
COLOURS = {"red": (220, 20, 20), "green": (20, 200, 40), "blue": (30, 40, 220), "grey": (128, 128, 128)}


@pytest.fixture
def captions_folder(tmp_path):
    root = tmp_path / "captions"
    (root / "images").mkdir(parents=True)
    records = []
    for number in range(8):
        name = list(COLOURS)[min(number, 3)]  # one red, one green, one blue photo; the rest grey
        image = f"{name}-{number}.png"
        Image.new("RGB", (90, 60), COLOURS[name]).save(root / "images" / image)
        records.append({"image": image, "captions": [name, f"{name} {name}"]})
    (root / "captions.json").write_text(json.dumps(records))
    return root


def test_grids_are_deterministic_and_cells_are_their_boxes(captions_folder, tmp_path):
    photos = [(p, ["a caption"]) for p in sorted((captions_folder / "images").iterdir())]
    first = build_grids(photos, 2, tmp_path / "a", cell=40, seed=3)
    again = build_grids(photos, 2, tmp_path / "b", cell=40, seed=3)
    other = build_grids(photos, 2, tmp_path / "c", cell=40, seed=4)
    assert [c.query_id for c in first] == [c.query_id for c in again] != [c.query_id for c in other]
    assert len(first) == 8 and {c.split for c in first} == {"dev", "test"}
    assert (tmp_path / "a" / "grid-0000.jpg").read_bytes() == (tmp_path / "b" / "grid-0000.jpg").read_bytes()
    with Image.open(tmp_path / "a" / "grid-0000.jpg") as grid:
        assert grid.size == (80, 80)
    assert first[3].box == (40, 40, 80, 80)
    assert iou((0, 0, 2, 2), (0, 0, 2, 2)) == 1.0 and iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0


def test_needle_report_contract(captions_folder, tmp_path):
    options = NeedleOptions(grids=(2,), cell=64, tiles=TileSettings(min_side=100, levels=(2,), min_window=16))
    report = run_needle(captions_folder, options, workdir=tmp_path / "work", image_encoder="deterministic",
                        text_encoder="deterministic")
    entry = report["grids"]["2"]
    assert entry["n_grids"] == 2 and entry["n_queries"] == 8 and entry["splits"] == {"dev": 1, "test": 1}
    for variant in ("tiles", "whole"):
        for split in ("dev", "test", "all"):
            metrics = entry[variant][split]
            assert set(metrics) == {"grid_hit@1", "grid_hit@5", "grid_hit@10", "cell_box@1", "n_queries"}
            assert all(0.0 <= metrics[m] <= 1.0 for m in metrics if m != "n_queries")
        assert {"items", "index_seconds", "files"} <= set(entry[variant]["cost"])
    assert entry["whole"]["all"]["cell_box@1"] == 0.0  # a whole image carries no box
    assert entry["whole"]["cost"]["items"] == 2 and entry["tiles"]["cost"]["items"] == 2 * (1 + 9)
    # a pure-colour cell is found by its colour word: the tile over that cell leads (grey has no colour word)
    coloured = [q for q in entry["tiles"]["per_query"].values() if q["query"].split()[0] != "grey"]
    assert len(coloured) == 3 and all(q["cell_box@1"] == 1.0 and q["rank"] == 1 for q in coloured)
    alone = entry["cells_alone"]
    assert alone["cost"]["items"] == 8 and alone["all"]["cell_r@1"] >= 3 / 8  # each colour word finds its own cell
    assert report["goal"]["met"] is None  # no 4x4 grid in this run
    json.dumps(report)


def test_cli_refuses_bad_options_in_one_line(captions_folder, tmp_path, capsys):
    from polyseek.cli.app import main

    for args, message in ((["--grid", "two"], "--grid takes whole numbers"), (["--tiles", "levels=1"], "levels must be"),
                          (["--grid", "1"], "--grid must be whole numbers from 2 to 16")):
        with pytest.raises(SystemExit) as exited:
            main(["eval", "needle", str(captions_folder), *args, "-o", str(tmp_path / "r.json")])
        err = capsys.readouterr().err
        assert exited.value.code != 0 and message in err and "Traceback" not in err and len(err.strip().splitlines()) <= 2
    assert not (tmp_path / "r.json").exists()
