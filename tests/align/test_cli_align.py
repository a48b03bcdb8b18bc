"""``polyseek align`` from the command line: writes a loadable model directory, prints metrics, refuses bad options."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from polyseek.cli.app import app


@pytest.mark.slow
def test_align_command_writes_a_model_directory(tiny_pairs, align_cache, tmp_path):
    output = tmp_path / "model"
    result = CliRunner().invoke(app, ["align", "--pairs", str(tiny_pairs), "--output", str(output), "--holdout", "12",
                                      "--epochs", "5", "--batch-size", "12", "--cache", str(align_cache), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["train_images"] == 36 and set(metrics["holdout"]) >= {"t2i_R@1", "i2t_R@1"}
    config = json.loads((output / "config.json").read_text())
    assert config["backbone"] == "lite0" and config["text_encoder"] == "bge-small-onnx" and config["flip_average"]
    data = json.loads((output / "data.json").read_text())
    assert data["images"] == 48 and data["captions"] == 144 and data["holdout_images"] == 12


@pytest.mark.parametrize("option, value, message", [
    ("--backbone", "resnet50", "unknown backbone"),
    ("--features", "mean,colour", "unknown feature"),
    ("--text-encoder", "word2vec", "unknown text encoder"),
])
def test_align_refuses_unknown_choices(tiny_pairs, tmp_path, option, value, message):
    result = CliRunner().invoke(app, ["align", "--pairs", str(tiny_pairs), "--cache", str(tmp_path), option, value])
    assert result.exit_code != 0
    assert message in str(result.exception) or message in result.output
