"""``polyseek eval upgrade`` between the two small test encoders, with the first half backfilled while searching."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from polyseek.eval.upgrade import run_upgrade_eval, to_markdown

NEW = "tests.upgrade.small_encoders:Rotated"
WORDS = "dog cat horse bird red green blue beach grass snow city river car boat child running jumping swimming ball tree".split()


def make_folder(root, photos: int = 12):
    rng = np.random.default_rng(5)
    (root / "images").mkdir(parents=True)
    records = []
    for i in range(photos):
        Image.new("RGB", (8, 8), (i * 20 % 255, 40, 90)).save(root / "images" / f"{i}.jpg")
        topic = list(rng.choice(WORDS, size=3, replace=False))
        records.append({"image": f"{i}.jpg", "captions": [" ".join(topic + list(rng.choice(WORDS, size=2))) for _ in range(3)]})
    (root / "captions.json").write_text(json.dumps(records))
    return root


def test_searches_run_beside_the_backfill_and_every_row_is_measured(tmp_path):
    folder = make_folder(tmp_path / "flickr")
    report = run_upgrade_eval(folder, old="deterministic", new=NEW, limit=12, sample=16, workdir=tmp_path / "work",
                              during_backfill=True)
    rows = report["rows"]
    assert list(rows) == ["old", "projected_0", "during_backfill", "projected_50", "projected_100", "switched", "new_scratch"]
    during = rows["during_backfill"]
    assert during["searches"] >= 1 and during["search_p95_ms"] > 0
    assert during["idle_p95_ms"] == rows["projected_0"]["search_p95_ms"]
    assert report["backfill_50"]["files"] == 18  # half of the 36 caption files, written while searching
    assert report["backfill_100"]["remaining_files"] == 0
    # the switched index answers exactly as one built from scratch with the new model
    assert rows["switched"]["recall@10"] == rows["new_scratch"]["recall@10"]
    assert "searches during the first half's backfill" in to_markdown(report)
