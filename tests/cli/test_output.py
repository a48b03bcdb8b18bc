"""The hits table without rich prints exactly what rich prints to a pipe, and leaves to rich what it cannot match."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from polyseek.cli.output import HEADERS, plain_table, print_rich_table, text_width, wrap_cell

WORDS = ["dog", "grass", "harbour", "quarterly", "revenue", "a", "lighthouse", "café", "12:31–12:45", "[bold]x[/bold]",
         ":dog:", "supercalifragilisticexpialidocious", "p.", "3", "—", "x" * 45]


def random_rows(rng: np.random.Generator, count: int) -> list[tuple[str, ...]]:
    kinds = ["image", "text", "page", "video_moment", "audio_segment"]
    rows = []
    for rank in range(1, count + 1):
        snippet = " ".join(rng.choice(WORDS, int(rng.integers(0, 30))))
        path = "/" + "/".join(rng.choice(["photos", "2024", "trip [1]", "notes", "Été", "a" * int(rng.integers(1, 30))],
                                         int(rng.integers(1, 4)))) + ".jpg"
        where = str(rng.choice(["", "p. 3", "p. 12 figure [10, 20, 300, 400]", "00:12–00:19", "lines 4–9"]))
        rows.append((str(rank), f"{rng.normal(1, 2):.4f}", str(rng.choice(kinds)), path, where, snippet))
    return rows


def test_the_plain_table_is_what_rich_prints_to_a_pipe(capsys, monkeypatch):
    rng = np.random.default_rng(0)
    compared = 0
    for case in range(160):
        width = int(rng.choice([60, 80, 100, 120, 160, 200, 240]))
        monkeypatch.setenv("COLUMNS", str(width))
        rows = random_rows(rng, int(rng.integers(1, 12)))
        plain = plain_table(rows, width, text_width())
        if plain is None:
            continue
        print_rich_table(rows)
        assert plain == capsys.readouterr().out, f"case {case}, width {width}"
        compared += 1
    assert compared >= 40  # (about a third of these random tables are too wide for their line: rich's)


def test_it_leaves_to_rich_what_rich_measures_or_narrows():
    rows = [("1", "0.5000", "image", "/a/" + "b" * 300 + ".jpg", "", "")]
    assert plain_table(rows, 120, 30) is None  # wider than the line: rich folds the path
    assert plain_table([("1", "0.5000", "text", "/a/日本.md", "", "")], 200, 30) is None  # wide characters
    assert plain_table([("1", "0.5000", "text", "/a/b\tc.md", "", "")], 200, 30) is None  # a control character
    table = plain_table([("1", "0.5000", "text", "/a/b.md", "", "harbour lighthouse ferry")], 200, 30)
    assert table is not None and table.splitlines()[0].split() == list(HEADERS)


def test_wrapping_breaks_at_words_and_cuts_a_long_word():
    assert wrap_cell("tower tower revenue bridge", 20) == ["tower tower revenue ", "bridge"]
    assert wrap_cell("a " + "x" * 25 + " b", 10) == ["a ", "xxxxxxxxx…", "b"]
    assert wrap_cell("", 20) == [""]


def test_a_piped_search_table_does_not_import_rich(tmp_path):
    hit = {"id": "a", "path": "/photos/dog.jpg", "modality": "image", "score": 0.5, "scores": {"image": 0.5},
           "locator": {}, "metadata": {}, "text": "a dog on the grass"}
    code = ("import json, sys; from polyseek.cli.output import print_hits; from polyseek.types import Hit; "
            "print_hits([Hit.from_dict(h) for h in json.loads(sys.argv[1])]); print('rich' in sys.modules)")
    env = {**os.environ, "COLUMNS": "120"}
    env.pop("FORCE_COLOR", None)
    out = subprocess.run([sys.executable, "-c", code, json.dumps([hit])], capture_output=True, text=True, env=env,
                         timeout=120).stdout.splitlines()
    assert out[-1] == "False" and "/photos/dog.jpg" in out[1] and out[1].startswith(" 1  0.5000  image")
    forced = subprocess.run([sys.executable, "-c", code, json.dumps([hit])], capture_output=True, text=True,
                            env={**env, "FORCE_COLOR": "1"}, timeout=120).stdout.splitlines()
    assert forced[-1] == "True"  # colours asked for: rich draws it


def test_no_results(capsys):
    from polyseek.cli.output import print_hits

    print_hits([])
    assert capsys.readouterr().out == "no results\n"
