"""The LlamaIndex retriever with the real llama-index-core: the README snippet, a query engine on MockLLM, ImageNodes."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from tests.integrations._readme import snippet

pytest.importorskip("llama_index.core")


def test_readme_snippet_runs(readme_index, capsys):
    exec(compile(snippet("llama-index"), "README.md:llama-index", "exec"), {})
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4
    assert any(line.startswith("TextNode ") and line.endswith("pets.md") for line in lines)
    assert any(line.startswith("ImageNode ") and line.endswith(".jpg") for line in lines)


def test_query_engine_puts_retrieved_text_in_the_prompt(readme_index, engine_factory):
    from llama_index.core.llms import MockLLM
    from llama_index.core.query_engine import RetrieverQueryEngine

    from polyseek.integrations.llama_index import PolyseekRetriever

    retriever = PolyseekRetriever(engine_factory(readme_index.parent / "my-index"), k=2)
    # MockLLM without max_tokens answers with its prompt: the response shows what the retriever handed over
    response = RetrieverQueryEngine.from_args(retriever, llm=MockLLM()).query("which basil grows in the garden")
    assert "Tomatoes and basil grow in the garden beds." in str(response)
    assert any(s.node.metadata["path"].endswith("garden.txt") for s in response.source_nodes)
    assert "scores" not in str(response)  # nested records stay out of the prompt; path and locator go in


def test_image_query_bundle_returns_image_nodes(readme_index, engine_factory):
    from llama_index.core.schema import ImageNode, QueryBundle

    from polyseek.integrations.llama_index import PolyseekRetriever

    blue = readme_index / "photos" / "blue.jpg"
    retriever = PolyseekRetriever(engine_factory(readme_index.parent / "my-index"), k=2)
    results = retriever.retrieve(QueryBundle(query_str="", image_path=str(blue)))
    top = results[0]
    assert isinstance(top.node, ImageNode) and top.node.image_path == str(blue)
    assert top.score == pytest.approx(max(r.score for r in results))
    picture = Image.open(io.BytesIO(base64.b64decode(top.node.image)))
    assert picture.format == "JPEG" and picture.getpixel((5, 5))[2] > 180  # the blue photo
