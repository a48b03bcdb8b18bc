"""Tiny random-weight encoder models, built and saved once per session (the contract is in encoder_contract.py).

The tiny models (hidden size 32, 2 layers, 32-pixel images) exist so the real loading code runs offline; their
vectors mean nothing, so tests on them check plumbing and agreement with the library, never quality.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

HIDDEN = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
CORPUS = ["a photo of a dog", "a red car on the road", "two cats sleeping on a sofa",
          "the quick brown fox jumps over the lazy dog", "quarterly revenue chart", "a rocket launch at night"]


# ---- tiny models, built once per session -----------------------------------------------------------
@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory) -> Path:
    """A transformers CLIPModel folder: byte-level BPE tokenizer (no merges), random weights."""
    import torch
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

    torch.manual_seed(0)
    alphabet = sorted(ByteLevel.alphabet())
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for token in [*alphabet, *(c + "</w>" for c in alphabet)]:
        vocab.setdefault(token, len(vocab))
    config = CLIPConfig(
        text_config=dict(vocab_size=len(vocab), max_position_embeddings=32, bos_token_id=0, eos_token_id=1,
                         pad_token_id=1, **HIDDEN),
        vision_config=dict(image_size=32, patch_size=8, **HIDDEN),
        projection_dim=16,
    )
    folder = tmp_path_factory.mktemp("tiny-clip")
    CLIPModel(config).save_pretrained(folder)
    CLIPTokenizer(vocab=vocab, merges=[]).save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_siglip_dir(tmp_path_factory) -> Path:
    """A transformers SiglipModel folder with a real SentencePiece SiglipTokenizer trained here."""
    import sentencepiece as spm
    import torch
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel, SiglipTokenizer

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-siglip")
    model_bytes = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(CORPUS * 10), model_writer=model_bytes, vocab_size=48,
                                   model_type="unigram", character_coverage=1.0, hard_vocab_limit=False,
                                   minloglevel=2)
    (folder / "spiece.model").write_bytes(model_bytes.getvalue())
    tokenizer = SiglipTokenizer(vocab_file=str(folder / "spiece.model"))
    config = SiglipConfig(
        text_config=dict(vocab_size=len(tokenizer), max_position_embeddings=16, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id, **HIDDEN),
        vision_config=dict(image_size=32, patch_size=8, **HIDDEN),
    )
    SiglipModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    SiglipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


TINY_OPEN_CLIP = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "patch_size": 8, "head_width": 16},
    # open_clip's bundled CLIP BPE tokenizer has 49408 tokens, so the tiny text tower keeps that vocabulary
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


@pytest.fixture(scope="session")
def tiny_open_clip_dir(tmp_path_factory) -> Path:
    """An open_clip hf-hub-style folder (open_clip_config.json + open_clip_model.safetensors) and a .pt checkpoint."""
    from polyseek.encoders.open_clip import import_open_clip

    open_clip = import_open_clip()
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = open_clip.CLIP(**TINY_OPEN_CLIP)
    folder = tmp_path_factory.mktemp("tiny-open-clip")
    config = {"model_cfg": TINY_OPEN_CLIP, "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}}
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    save_file(model.state_dict(), str(folder / "open_clip_model.safetensors"))
    torch.save(model.state_dict(), folder / "checkpoint.pt")
    return folder


@pytest.fixture(scope="session")
def tiny_sentence_transformer_dir(tmp_path_factory) -> Path:
    """A sentence-transformers folder: tiny random BERT, a WordPiece tokenizer built here, mean pooling."""
    import torch
    from sentence_transformers import SentenceTransformer

    try:  # sentence-transformers >= 6 moved the module classes; older releases only have .models
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:
        from sentence_transformers.models import Pooling, Transformer
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordPiece
    from tokenizers.processors import TemplateProcessing
    from transformers import BertConfig, BertModel, BertTokenizerFast

    torch.manual_seed(0)
    words = sorted({w for line in CORPUS for w in line.split()} | {"grass", "running", "quarter", "went", "up", "in",
                                                                    "third", "revenue"})
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    letters = sorted(set("abcdefghijklmnopqrstuvwxyz0123456789"))
    vocab = {t: i for i, t in enumerate([*specials, *words, *letters, *("##" + c for c in letters)])}
    backend = Tokenizer(WordPiece(vocab, unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.post_processor = TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    tokenizer = BertTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                  sep_token="[SEP]", mask_token="[MASK]", model_max_length=64)
    hf_folder = tmp_path_factory.mktemp("tiny-bert")
    BertModel(BertConfig(vocab_size=len(vocab), max_position_embeddings=64, **HIDDEN)).save_pretrained(hf_folder)
    tokenizer.save_pretrained(hf_folder)
    transformer = Transformer(str(hf_folder), max_seq_length=64)
    pooling = Pooling(HIDDEN["hidden_size"], pooling_mode="mean")
    folder = tmp_path_factory.mktemp("tiny-sentence-transformer")
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(folder))
    return folder
