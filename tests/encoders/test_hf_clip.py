"""hf-clip: transformers CLIP and SigLIP loaded by folder through load_encoder, checked against the library itself."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from polyseek.encoders import load_encoder
from polyseek.encoders.hf_clip import HFClipEncoder, split_options
from polyseek.errors import EncoderError, InvalidInputError
from tests.encoders.encoder_contract import assert_encoder_contract, sample_images


@pytest.fixture(scope="module")
def clip(tiny_clip_dir):
    return load_encoder(f"hf-clip:{tiny_clip_dir}")


@pytest.fixture(scope="module")
def siglip(tiny_siglip_dir):
    return load_encoder(f"hf-clip:{tiny_siglip_dir}")


def test_clip_contract(clip, tiny_clip_dir):
    assert isinstance(clip, HFClipEncoder) and clip.model_type == "clip"
    assert clip.name == f"hf-clip:{tiny_clip_dir}" and clip.dim == 16
    assert_encoder_contract(clip, images=True)


def test_siglip_contract(siglip):
    assert siglip.model_type == "siglip" and siglip.dim == 32
    assert_encoder_contract(siglip, images=True)


def _reference(folder, model_class, texts, images, *, mask: bool, **text_kwargs):
    """What the model's own full forward pass returns (its image_embeds/text_embeds, normalised)."""
    import torch
    from transformers import AutoImageProcessor, AutoTokenizer

    model = model_class.from_pretrained(folder).eval()
    tokens = AutoTokenizer.from_pretrained(folder)(texts, return_tensors="pt", **text_kwargs)
    pixels = AutoImageProcessor.from_pretrained(folder)(images=[im.convert("RGB") for im in images],
                                                        return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        out = model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"] if mask else None,
                    pixel_values=pixels)
    return out.text_embeds.numpy(), out.image_embeds.numpy()


def test_clip_matches_the_model_forward_pass(clip, tiny_clip_dir):
    from transformers import CLIPModel

    texts, images = ["a dog", "a red car on the road"], sample_images()[:2]
    text_ref, image_ref = _reference(tiny_clip_dir, CLIPModel, texts, images, mask=True, padding=True)
    np.testing.assert_allclose(clip.encode_documents(texts), text_ref, atol=1e-5)
    np.testing.assert_allclose(clip.encode_images(images), image_ref, atol=1e-5)


def test_siglip_pads_to_max_length_as_the_model_expects(siglip, tiny_siglip_dir):
    from transformers import SiglipModel

    texts, images = ["a dog", "two cats sleeping on a sofa"], sample_images()[:2]
    # SigLIP was trained on text padded to max_length with no padding mask (pads attend), pooling the last position
    text_ref, image_ref = _reference(tiny_siglip_dir, SiglipModel, texts, images, mask=False, padding="max_length",
                                     truncation=True, max_length=16)
    np.testing.assert_allclose(siglip.encode_documents(texts), text_ref, atol=1e-5)
    np.testing.assert_allclose(siglip.encode_images(images), image_ref, atol=1e-5)
    short = ["a dog", "a car"]  # both shorter than 16 tokens, so padding to the longest gives other vectors
    padded_to_longest, _ = _reference(tiny_siglip_dir, SiglipModel, short, images, mask=False, padding=True)
    assert not np.allclose(siglip.encode_documents(short), padded_to_longest, atol=1e-3)


def test_query_template_applies_to_queries_only(tiny_clip_dir, clip):
    templated = load_encoder(f"hf-clip:{tiny_clip_dir}?template=a photo of {{}}&batch_size=2")
    assert templated.query_template == "a photo of {}" and templated.batch_size == 2
    assert templated.name == clip.name  # documents are unchanged, so the index name is too
    np.testing.assert_allclose(templated.encode_queries(["a dog"]), clip.encode_documents(["a photo of a dog"]),
                               atol=1e-6)
    np.testing.assert_allclose(templated.encode_documents(["a dog"]), clip.encode_documents(["a dog"]), atol=1e-6)
    keyword = HFClipEncoder(str(tiny_clip_dir), query_template="an image of {}")
    np.testing.assert_allclose(keyword.encode_queries(["{x}"]), clip.encode_documents(["an image of {x}"]), atol=1e-6)


def test_concurrent_use_gives_the_serial_answers(clip):
    from concurrent.futures import ThreadPoolExecutor

    texts = [f"a photo of {n} dogs" for n in range(8)]
    serial = [clip.encode_queries([t]) for t in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda t: clip.encode_queries([t]), texts * 3))
    for i, vectors in enumerate(parallel):
        np.testing.assert_allclose(vectors, serial[i % len(texts)], atol=1e-5)


@pytest.mark.parametrize("spec, message", [
    ("x?colour=red", "unknown hf-clip option"),
    ("x?template=no placeholder", "exactly once"),
    ("x?batch_size=0", "positive integer"),
    ("?template={}", "needs a model"),
])
def test_bad_options_are_refused(spec, message):
    with pytest.raises(InvalidInputError, match=message):
        HFClipEncoder(spec)


def test_split_options():
    assert split_options("a/b", "hf-clip") == ("a/b", {})
    expected = ("/m", {"batch_size": "4", "template": "{} art"})
    assert split_options("/m?batch_size=4&template={} art", "hf-clip") == expected


def test_unknown_hub_name_offline_says_so(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EncoderError, match="HF_HUB_OFFLINE is set and the model is not in the local Hugging Face"):
        load_encoder("hf-clip:polyseek-tests/no-such-clip-model")


def test_missing_folder_and_wrong_model_type(tmp_path, tiny_sentence_transformer_dir):
    with pytest.raises(EncoderError, match="folder not found"):
        load_encoder(f"hf-clip:{tmp_path / 'nothing-here'}")
    with pytest.raises(EncoderError, match="model_type 'bert'"):
        load_encoder(f"hf-clip:{tiny_sentence_transformer_dir}")


def test_plugs_into_the_engine(tmp_path, tiny_clip_dir):
    from polyseek.engine import Engine
    from polyseek.types import Filters, Modality

    photos = tmp_path / "photos"
    photos.mkdir()
    for name, image in zip(("red", "gradient", "checker"), sample_images(), strict=True):
        image.convert("RGB").save(photos / f"{name}.png")
    spec = f"hf-clip:{tiny_clip_dir}"
    with Engine("memory://", image_encoder=spec, text_encoder="deterministic") as engine:
        summary = engine.index([photos])
        assert (summary.added, summary.failed) == (3, ())
        assert engine.status()["encoders"]["image"] == spec
        only_images = Filters(modalities=(Modality.IMAGE,))
        probe = Image.open(photos / "gradient.png")
        hits = engine.search(image=probe, k=3, filters=only_images)
        assert [h.item.path.rsplit("/", 1)[-1] for h in hits][0] == "gradient.png"
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert len(engine.search("a red square", k=3, filters=only_images)) == 3
