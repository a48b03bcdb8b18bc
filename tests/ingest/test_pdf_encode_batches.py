"""Passages of a PDF are encoded once each, in batches of similar length, and land on their own chunks."""

from __future__ import annotations

import numpy as np

from polyseek.ingest.base import Chunk
from polyseek.spaces import TEXT_BATCH
from polyseek.types import Locator, Modality


def test_each_distinct_passage_is_encoded_once_in_short_length_ordered_batches(engine_factory):
    engine = engine_factory()
    encoder = engine.spaces.encoder("text")
    calls: list[list[str]] = []
    original = encoder.encode_documents

    def spy(texts):
        calls.append(list(texts))
        return original(texts)

    encoder.encode_documents = spy
    texts = ["a table row 12 | 34", "page text " * 80, "a table row 12 | 34", "Figure 2: revenue by region"]
    texts += [f"paragraph {i} " * (i + 1) for i in range(13)]
    chunks = [Chunk(modality=Modality.REGION, locator=Locator(page=1), text=t) for t in texts]
    vectors = engine.spaces.encode_chunks(chunks)["text"]
    sent = [t for call in calls for t in call]
    assert sorted(sent) == sorted(set(texts))  # every distinct text once: the repeated table row is not re-encoded
    assert all(len(call) <= TEXT_BATCH for call in calls)
    assert all(len(a[-1]) <= len(b[0]) for a, b in zip(calls, calls[1:]))  # shortest first: little padding
    for text, vector in zip(texts, vectors):  # and each chunk gets the vector of its own text
        assert vector is not None
        np.testing.assert_allclose(vector, original([text])[0], atol=1e-6)


def _page_with_regions(page: int, regions: list[str], count: int | None = None) -> list[Chunk]:
    from PIL import Image

    head = Chunk(modality=Modality.PAGE, locator=Locator(page=page), text="\n\n".join(regions),
                 image=Image.new("RGB", (60, 80), "white"), metadata={"regions": len(regions) if count is None else count})
    return [head] + [Chunk(modality=Modality.REGION, locator=Locator(page=page, bbox=(0, 10 * i, 100, 10 * i + 9)),
                           text=t, metadata={"kind": "text"}) for i, t in enumerate(regions)]


def test_a_page_with_regions_is_encoded_by_the_head_of_its_text_and_its_regions_whole(engine_factory):
    from polyseek import spaces

    engine = engine_factory()
    encoder = engine.spaces.encoder("text")
    sent: list[str] = []
    original = encoder.encode_documents
    encoder.encode_documents = lambda texts: (sent.extend(texts), original(texts))[1]
    long_region = " ".join(f"word{i}" for i in range(200))  # ~1,500 characters
    chunks = _page_with_regions(1, [long_region, "Operating margin was 31%."])
    chunks.append(Chunk(modality=Modality.TEXT, locator=Locator(), text=long_region + " and more"))
    vectors = engine.spaces.encode_chunks(chunks)["text"]
    head = chunks[0].text[:spaces.PAGE_TEXT_CHARS]
    assert chunks[0].text not in sent and long_region in sent and long_region + " and more" in sent
    page_sent = [t for t in sent if t.startswith("word0 ") and len(t) <= spaces.PAGE_TEXT_CHARS]
    assert len(page_sent) == 1 and head.startswith(page_sent[0]) and head[len(page_sent[0])] == " "  # whole words
    assert len(page_sent[0]) > spaces.PAGE_TEXT_CHARS - 12  # cut at the last word break, not earlier
    np.testing.assert_allclose(vectors[0], original([page_sent[0]])[0], atol=1e-6)


def test_an_upgrade_backfill_encodes_the_words_indexing_encodes(tmp_path):
    from polyseek.spaces import passage_text
    from polyseek.upgrade.core import decode_files

    from ._pdf import PageSpec, write_pdf

    lines = [(72, 72 + 16 * i, 11, f"Line {i} of the annual report says revenue grew in every segment of the firm") for i in range(30)]
    path = write_pdf(tmp_path / "long.pdf", [PageSpec(lines=lines)])
    texts = {item: text for _, item, text in decode_files([str(path)], "text").texts}
    from polyseek.ingest.base import ingestor_for

    chunks = list(ingestor_for(path).ingest(path, lambda *_: None))
    page = next(c for c in chunks if c.modality == Modality.PAGE)
    assert page.metadata.get("regions") and len(page.text) > 450
    assert passage_text(page) in texts.values() and page.text not in texts.values()

    long_region = " ".join(f"word{i}" for i in range(200))
    page, region = _page_with_regions(1, [long_region])
    assert passage_text(page) == page.text[:len(passage_text(page))] and len(passage_text(page)) < len(page.text)
    assert passage_text(region) == region.text  # regions and other text whole
    lone = Chunk(modality=Modality.PAGE, locator=Locator(page=2), text=long_region, metadata={})
    assert passage_text(lone) == long_region  # a page without regions keeps all its words


def test_bulk_unicode_read_matches_pdfium_per_character(tmp_path):
    import pypdfium2.raw as pdfium_c

    from polyseek.ingest.pdf import _unicode_codes, open_pdf

    from ._pdf import PageSpec, write_pdf

    mapping = {"x": "\U0001d465", "#": "\ud835", "~": "\x00", "-": "\u00ad"}
    lines = [(72, 72, 14, "Softmax attention with x and # and ~ here"),
             (72, 110, 11, "a soft-hyphenated word and a second line of the paragraph")]
    path = write_pdf(tmp_path / "codes.pdf", [PageSpec(lines=lines)], to_unicode=mapping)
    with open_pdf(path) as document:
        textpage = document[0].get_textpage()
        count = textpage.count_chars()
        assert count > 50
        expected = [pdfium_c.FPDFText_GetUnicode(textpage, i) for i in range(count)]
        assert _unicode_codes(textpage, count) == expected
        textpage.close()
