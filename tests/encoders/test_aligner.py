"""aligner: the shipped default model directory loads offline, meets the encoder contract and ranks sensibly."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from polyseek.encoders import load_encoder
from polyseek.encoders.aligner import AlignerEncoder, default_model_dir
from polyseek.errors import EncoderError
from tests.encoders.encoder_contract import assert_encoder_contract, sample_images


@pytest.fixture(scope="module")
def aligner() -> AlignerEncoder:
    return load_encoder("aligner")


def test_default_model_directory_is_shipped_and_small():
    folder = default_model_dir()
    config = json.loads((folder / "config.json").read_text())
    assert config["text_encoder"] in ("bge-small-onnx", "minilm") and config["backbone"] in ("lite0", "lite1", "lite2")
    assert (folder / "MODEL_CARD.md").is_file() and "research" in (folder / "MODEL_CARD.md").read_text().lower()
    assert len((folder / "labels.txt").read_text().splitlines()) == 1000
    total = sum(p.stat().st_size for p in folder.iterdir())
    assert total < 6 * 1024 * 1024, f"shipped aligner is {total / 1e6:.1f} MB"


def test_default_aligner_contract(aligner):
    assert aligner.name == "aligner" and aligner.dim == 384
    assert aligner.text_encoder_name == aligner.config.text_encoder
    # the text side is bge-small INT8, whose dynamic quantisation scales activations by the whole batch's range
    assert_encoder_contract(aligner, images=True, batch_min_cosine=0.95)


def test_text_side_is_the_text_encoder_unchanged(aligner):
    text = load_encoder(aligner.text_encoder_name)
    texts = ["a dog running on grass", "two children on a beach"]
    np.testing.assert_allclose(aligner.encode_queries(texts), text.encode_queries(texts), atol=1e-6)
    np.testing.assert_allclose(aligner.encode_documents(texts), text.encode_documents(texts), atol=1e-6)


def _scene(kind: str) -> Image.Image:
    """Crude drawings a frozen ImageNet backbone still tells apart: a blue sea under sky, a green field, a night."""
    image = Image.new("RGB", (200, 150), {"sea": (40, 90, 200), "grass": (40, 150, 40), "night": (10, 10, 25)}[kind])
    draw = ImageDraw.Draw(image)
    if kind == "sea":
        draw.rectangle((0, 0, 200, 60), fill=(150, 200, 250))
    if kind == "night":
        draw.ellipse((140, 20, 170, 50), fill=(240, 240, 200))
    return image


def test_image_vectors_depend_on_the_image_not_just_its_size(aligner):
    vectors = aligner.encode_images([_scene("sea"), _scene("grass"), _scene("night")])
    similarity = vectors @ vectors.T
    assert similarity[0, 1] < 0.999 and similarity[0, 2] < 0.999
    # the same picture at half size stays nearer to itself than to the other pictures
    small = aligner.encode_images([_scene("sea").resize((100, 75))])[0]
    assert float(small @ vectors[0]) > max(float(small @ vectors[1]), float(small @ vectors[2]))


def test_named_model_directory_and_errors(tmp_path, aligner):
    other = load_encoder(f"aligner:{default_model_dir()}")
    assert other.name == f"aligner:{default_model_dir()}"
    np.testing.assert_allclose(other.encode_images(sample_images()[:1]), aligner.encode_images(sample_images()[:1]),
                               atol=1e-6)
    with pytest.raises(EncoderError, match="not an aligner model directory"):
        load_encoder(f"aligner:{tmp_path}")


def test_one_thread_small_passes_give_the_same_vectors():
    """A backfill's one-thread encoder runs 2 images a pass, indexing 32: the vectors must be identical."""
    from PIL import Image

    from polyseek.encoders.aligner import AlignerEncoder

    rng = np.random.default_rng(3)
    images = [Image.fromarray(rng.integers(0, 255, (90 + 7 * i, 120, 3), dtype=np.uint8)) for i in range(5)]
    images.append(images[0].convert("L"))
    encoder = AlignerEncoder()
    assert np.array_equal(encoder.encode_images(images), encoder.with_threads(1).encode_images(images))


def test_preprocess_matches_the_float_formula():
    from PIL import Image

    from polyseek.align.features import preprocess

    rng = np.random.default_rng(4)
    images = [Image.fromarray(rng.integers(0, 255, (50, 70, 4), dtype=np.uint8)),
              Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))]
    for flip in (False, True):
        expected = []
        for image in images:
            rgb = image.convert("RGB").resize((64, 64), Image.Resampling.BICUBIC) if image.size != (64, 64) else image.convert("RGB")
            rgb = rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else rgb
            expected.append((np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) - 127.0) / 128.0)
        assert np.array_equal(preprocess(images, 64, flip=flip), np.stack(expected))
