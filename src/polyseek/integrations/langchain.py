"""A LangChain retriever over polyseek: ``PolyseekRetriever(engine=Engine("./my-index"), k=4)``.

Each hit becomes a ``Document``: its text (or a line naming a picture that has none) as ``page_content``,
and in ``metadata`` the item id, score, modality, path (also as ``source``), locator (page, box, time span,
lines), its human form (``where``) and, with ``images=True``, a JPEG of pictured hits as base64.
Needs ``pip install 'polyseek[langchain]'``.
"""

from __future__ import annotations

from typing import Any

from polyseek.errors import MissingDependencyError

try:
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependencyError("langchain-core", "langchain") from exc

from polyseek.integrations import hit_metadata, hit_text, thumbnail_base64


class PolyseekRetriever(BaseRetriever):
    """Retrieves photos, PDF pages and regions, video moments, audio segments and text from a polyseek index.

    >>> retriever = PolyseekRetriever(engine=Engine("./my-index"), k=4)  # doctest: +SKIP
    >>> retriever.invoke("revenue by region")[0].metadata["where"]         # doctest: +SKIP
    'p. 3 [72, 140, 520, 388]'
    """

    engine: Any
    """An open :class:`polyseek.Engine` (or anything with its ``search``)."""
    k: int = 4
    filters: Any = None
    """Optional :class:`polyseek.Filters`: path glob, file types, modalities, dates."""
    images: bool = False
    """Attach a JPEG of image, page and keyframe hits as ``metadata["image_base64"]``."""
    search_options: dict[str, Any] = {}
    """More keyword arguments for ``engine.search`` (e.g. ``{"image": "dress.jpg", "image_weight": 0.7}``)."""

    @classmethod
    def from_store(cls, store: str, **kwargs: Any) -> PolyseekRetriever:
        """Open the index at ``store`` (a folder or store URI) and retrieve from it."""
        from polyseek.engine import Engine

        return cls(engine=Engine(store), **kwargs)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        hits = self.engine.search(query, k=self.k, filters=self.filters, **self.search_options)
        documents = []
        for hit in hits:
            metadata = hit_metadata(hit)
            if self.images:
                picture = thumbnail_base64(self.engine, hit)
                if picture is not None:
                    metadata["image_base64"] = picture
                    metadata["image_mime_type"] = "image/jpeg"
            documents.append(Document(page_content=hit_text(hit), metadata=metadata, id=hit.id))
        return documents
