"""open-clip: a tiny OpenCLIP model built and saved here, loaded through load_encoder like a user's model."""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pytest
from PIL import Image

from polyseek.encoders import load_encoder
from polyseek.encoders.open_clip import OpenClipEncoder, import_open_clip, parse_model, preprocess
from polyseek.errors import EncoderError, InvalidInputError, MissingDependencyError
from tests.encoders.encoder_contract import assert_encoder_contract, sample_images

INSTALL = "pip install 'polyseek[openclip]' && pip install --no-deps 'open_clip_torch==3.3.0'"
needs_open_clip = pytest.mark.skipif(importlib.util.find_spec("open_clip") is None,
                                     reason=f"open_clip_torch is not installed ({INSTALL})")


@pytest.fixture(scope="module")
def encoder(tiny_open_clip_dir):
    return load_encoder(f"open-clip:{tiny_open_clip_dir}")


@needs_open_clip
def test_contract(encoder, tiny_open_clip_dir):
    assert isinstance(encoder, OpenClipEncoder)
    assert encoder.name == f"open-clip:{tiny_open_clip_dir}" and encoder.dim == 16
    assert encoder.preprocess_cfg["size"] == (32, 32) and encoder.preprocess_cfg["std"] == [0.25, 0.25, 0.25]
    assert_encoder_contract(encoder, images=True)


@needs_open_clip
def test_matches_open_clip_itself(encoder, tiny_open_clip_dir):
    import torch

    open_clip = import_open_clip()
    model = open_clip.create_model(f"local-dir:{tiny_open_clip_dir}").eval()
    tokenizer = open_clip.get_tokenizer(f"local-dir:{tiny_open_clip_dir}")
    texts, images = ["a dog", "a red car on the road"], [im.convert("RGB") for im in sample_images()]
    pixels = torch.from_numpy(np.stack([preprocess(im, encoder.preprocess_cfg) for im in images]))
    with torch.no_grad():
        text_ref = model.encode_text(tokenizer(texts), normalize=True).numpy()
        image_ref = model.encode_image(pixels, normalize=True).numpy()
    np.testing.assert_allclose(encoder.encode_documents(texts), text_ref, atol=1e-5)
    np.testing.assert_allclose(encoder.encode_images(images), image_ref, atol=1e-5)


@needs_open_clip
def test_architecture_at_checkpoint(tmp_path, tiny_open_clip_dir, encoder):
    """``open-clip:<arch>@<file>``: an architecture open_clip knows (here one registered from JSON) + a checkpoint."""
    open_clip = import_open_clip()
    config = json.loads((tiny_open_clip_dir / "open_clip_config.json").read_text())["model_cfg"]
    (tmp_path / "polyseek-tiny-test.json").write_text(json.dumps(config))
    open_clip.add_model_config(tmp_path / "polyseek-tiny-test.json")
    by_checkpoint = load_encoder(f"open-clip:polyseek-tiny-test@{tiny_open_clip_dir / 'checkpoint.pt'}")
    assert by_checkpoint.dim == 16
    np.testing.assert_allclose(by_checkpoint.encode_documents(["a dog"]), encoder.encode_documents(["a dog"]),
                               atol=1e-6)
    # its preprocessing is open_clip's default (CLIP mean/std), not the folder's, so only text is compared


@needs_open_clip
def test_query_template(tiny_open_clip_dir, encoder):
    templated = load_encoder(f"open-clip:{tiny_open_clip_dir}?template=a photo of {{}}")
    np.testing.assert_allclose(templated.encode_queries(["a dog"]), encoder.encode_documents(["a photo of a dog"]),
                               atol=1e-6)


@needs_open_clip
def test_hub_tag_offline_says_so(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EncoderError, match="HF_HUB_OFFLINE is set"):
        load_encoder("open-clip:ViT-B-32/laion2b_s34b_b79k")


def test_bad_specs(tmp_path):
    with pytest.raises(InvalidInputError, match="names no weights"):
        parse_model("ViT-B-32")
    with pytest.raises(EncoderError, match="no open_clip_config.json"):
        parse_model(str(tmp_path))
    with pytest.raises(EncoderError, match="checkpoint not found"):
        parse_model(f"ViT-B-32@{tmp_path / 'missing.pt'}")
    assert parse_model("ViT-B-32/laion2b_s34b_b79k") == ("ViT-B-32", "laion2b_s34b_b79k")
    hub = "hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K"
    assert parse_model(hub) == (hub, None)


def test_missing_open_clip_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "open_clip", None)  # what an environment without open_clip looks like
    with pytest.raises(MissingDependencyError, match=r"polyseek\[openclip\]") as caught:
        load_encoder("open-clip:ViT-B-32/laion2b_s34b_b79k")
    assert "--no-deps" in str(caught.value)


@needs_open_clip
def test_torchvision_stand_in_stays_inside_open_clip():
    open_clip = import_open_clip()
    if not getattr(open_clip, "polyseek_torchvision_stand_in", False):
        pytest.skip("a working torchvision is installed, so open_clip imported it and no stand-in was used")
    assert not any(name.split(".")[0] in ("torchvision", "timm") for name in sys.modules)
    with pytest.raises(ImportError):
        import torchvision  # noqa: F401
    with pytest.raises(EncoderError, match="torchvision does not import"):
        open_clip.image_transform(32, is_train=False)


@needs_open_clip
@pytest.mark.slow
def test_importing_open_clip_first_leaves_transformers_image_processing_working(tiny_clip_dir):
    """In a fresh interpreter, open_clip (and its stand-in) first, then an hf-clip image: transformers must not
    have cached the stand-in as an installed torchvision."""
    import os
    import subprocess
    import textwrap

    script = textwrap.dedent(f"""
        from PIL import Image
        from polyseek.encoders.open_clip import import_open_clip
        import_open_clip()
        from transformers.utils import is_torchvision_available
        from polyseek.encoders import load_encoder
        encoder = load_encoder("hf-clip:{tiny_clip_dir}")
        print(is_torchvision_available(), encoder.encode_images([Image.new("RGB", (40, 40))]).shape)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    expected = "True" if importlib.util.find_spec("torchvision") else "False"
    assert result.stdout.split()[-3:] == [expected, "(1,", "16)"]


# ---- preprocessing ---------------------------------------------------------------------------------
CFG = {"size": (32, 32), "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "interpolation": "bicubic",
       "resize_mode": "shortest", "fill_color": 0}


@pytest.mark.parametrize("mode", ["shortest", "longest", "squash"])
@pytest.mark.parametrize("size", [(64, 48), (20, 90), (32, 32)])
def test_preprocess_shape_and_normalisation(mode, size):
    colour = (200, 100, 50)
    pixels = preprocess(Image.new("RGB", size, colour), {**CFG, "resize_mode": mode})
    assert pixels.shape == (3, 32, 32) and pixels.dtype == np.float32
    expected = (np.array(colour) / 255.0 - 0.5) / 0.25
    if mode == "longest" and size != (32, 32):  # padded with fill_color around the resized image
        centre = pixels[:, 16, 16]
        np.testing.assert_allclose(centre, expected, atol=1e-5)
        assert np.isclose(pixels, (0 - 0.5) / 0.25).any()
    else:
        np.testing.assert_allclose(pixels, expected[:, None, None] * np.ones((3, 32, 32)), atol=1e-5)


def test_preprocess_shortest_keeps_the_centre():
    """A 96x32 image whose middle third is white: after shortest-side resize and centre crop only white is left."""
    array = np.zeros((32, 96, 3), np.uint8)
    array[:, 32:64] = 255
    pixels = preprocess(Image.fromarray(array), CFG)
    np.testing.assert_allclose(pixels, (1.0 - 0.5) / 0.25, atol=1e-5)


def test_preprocess_non_square_shortest_is_bicubic_like_open_clip():
    """open_clip resizes non-square 'shortest' targets with bicubic whatever the configured interpolation."""
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8))
    cfg = {**CFG, "size": (32, 48)}
    bicubic = preprocess(image, {**cfg, "interpolation": "bicubic"})
    np.testing.assert_array_equal(preprocess(image, {**cfg, "interpolation": "bilinear"}), bicubic)
    assert not np.array_equal(preprocess(image, {**CFG, "interpolation": "bilinear"}),
                              preprocess(image, {**CFG, "interpolation": "bicubic"}))


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is None, reason="torchvision is not installed here")
def test_preprocess_matches_open_clip_transform_when_torchvision_works():
    open_clip = import_open_clip()
    if getattr(open_clip, "polyseek_torchvision_stand_in", False):
        pytest.skip("torchvision is installed but does not import (e.g. a CUDA wheel beside a CPU torch)")
    for mode in ("shortest", "longest", "squash"):
        for image in sample_images():
            image = image.convert("RGB")
            transform = open_clip.image_transform(32, is_train=False, mean=CFG["mean"], std=CFG["std"],
                                                  resize_mode=mode)
            np.testing.assert_allclose(preprocess(image, {**CFG, "resize_mode": mode}), transform(image).numpy(),
                                       atol=1e-5)


@needs_open_clip
def test_plugs_into_the_engine(tmp_path, tiny_open_clip_dir):
    from polyseek.engine import Engine
    from polyseek.types import Filters, Modality

    photos = tmp_path / "photos"
    photos.mkdir()
    for name, image in zip(("red", "gradient", "checker"), sample_images(), strict=True):
        image.convert("RGB").save(photos / f"{name}.png")
    with Engine("memory://", image_encoder=f"open-clip:{tiny_open_clip_dir}", text_encoder="deterministic") as engine:
        assert engine.index([photos]).added == 3
        only_images = Filters(modalities=(Modality.IMAGE,))
        hits = engine.search(image=Image.open(photos / "checker.png"), k=3, filters=only_images)
        assert hits[0].item.path.endswith("checker.png") and hits[0].score == pytest.approx(1.0, abs=1e-4)
