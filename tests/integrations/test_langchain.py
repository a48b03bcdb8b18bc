"""The LangChain retriever with the real langchain-core: the README snippet, a chain to a fake chat model, images."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from tests.integrations._readme import snippet

pytest.importorskip("langchain_core")


def test_readme_snippet_runs(readme_index, capsys):
    exec(compile(snippet("langchain"), "README.md:langchain", "exec"), {})
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4
    assert any("pets.md" in line and line.startswith("text ") for line in lines)


def test_chain_hands_the_retrieved_text_to_the_model(readme_index, engine_factory):
    from langchain_core.language_models.fake_chat_models import ParrotFakeChatModel
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnablePassthrough

    from polyseek.integrations.langchain import PolyseekRetriever

    retriever = PolyseekRetriever(engine=engine_factory(readme_index.parent / "my-index"), k=2)

    def format_docs(docs) -> str:
        return "\n\n".join(f"[{d.metadata['path']}] {d.page_content}" for d in docs)

    prompt = ChatPromptTemplate.from_messages([("human", "Answer from the context.\n{context}\n\nQuestion: {question}")])
    # the parrot model answers with the prompt it got: the answer shows what reached the model
    chain = {"context": retriever | format_docs, "question": RunnablePassthrough()} | prompt | ParrotFakeChatModel() | StrOutputParser()
    answer = chain.invoke("which basil grows in the garden")
    assert "Question: which basil grows in the garden" in answer
    assert "Tomatoes and basil grow in the garden beds." in answer
    assert str(readme_index / "notes" / "garden.txt") in answer


def test_image_query_returns_the_photo_with_a_jpeg(readme_index, engine_factory):
    from polyseek import Filters, Modality
    from polyseek.integrations.langchain import PolyseekRetriever

    red = readme_index / "photos" / "red.jpg"
    retriever = PolyseekRetriever(engine=engine_factory(readme_index.parent / "my-index"), k=3, images=True,
                                  filters=Filters(modalities=(Modality.IMAGE,)), search_options={"image": str(red)})
    docs = retriever.invoke("")
    assert [d.metadata["modality"] for d in docs] == ["image"] * 3
    assert docs[0].metadata["path"] == str(red) and docs[0].id == docs[0].metadata["id"]
    picture = Image.open(io.BytesIO(base64.b64decode(docs[0].metadata["image_base64"])))
    assert picture.format == "JPEG" and picture.getpixel((5, 5))[0] > 180  # the red photo, not a placeholder card
