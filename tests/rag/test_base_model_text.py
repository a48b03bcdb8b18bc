"""A base model's completion is cut where it starts copying the next context label (pure text handling)."""

from __future__ import annotations

import pytest

from polyseek.rag.llamacpp import plain_prompt, until_label
from polyseek.rag.prompts import ANSWER_CUE


@pytest.mark.parametrize(("pieces", "answer"), [
    (["It opened in 1889 [1].\n[2] notes.md, lines 1–4 (text)\nBananas are yellow."], "It opened in 1889 [1]."),
    (["\n[1] facts.txt (text)\nThe tower opened", " in 1889.", "\n[2] b.pdf, page 2 (page)\nx"], "The tower opened in 1889."),
    (["[1] The answer is 5.\n\nSource: Pew [2]."], "[1] The answer is 5.\n\nSource: Pew [2]."),
    (["1000\n\n", "Source: Pew [1]."], "1000\n\nSource: Pew [1]."),
    (["\n\n", "[1] a.txt (text)"], ""),
])
def test_until_label_keeps_the_answer_and_drops_copied_labels(pieces, answer):
    assert "".join(until_label(pieces)) == answer


def test_until_label_streams_a_line_that_cannot_be_a_label():
    assert list(until_label(["It", " opened", " in 1889."])) == ["It", " opened", " in 1889."]


def test_plain_prompt_asks_a_base_model_plainly():
    prompt = plain_prompt([{"role": "system", "content": "Rules."},
                           {"role": "user", "content": [{"type": "text", "text": f"Context: x\nQuestion: y?\n{ANSWER_CUE}"}]}])
    assert prompt == "Rules.\n\nContext: x\nQuestion: y?\nAnswer:"
