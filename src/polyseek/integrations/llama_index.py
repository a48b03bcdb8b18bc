"""A LlamaIndex retriever over polyseek: text hits as ``TextNode``, pictured hits as ``ImageNode``, with scores.

``PolyseekRetriever(engine)`` works wherever LlamaIndex takes a retriever, e.g.
``RetrieverQueryEngine.from_args(retriever, llm=...)``. A ``QueryBundle`` with ``image_path`` searches by
that image (and its text, if any). Image, page and keyframe hits carry a JPEG (base64, ``image``) that
multimodal LLMs can read, and photos their file as ``image_path``. Needs ``pip install 'polyseek[llama-index]'``.
"""

from __future__ import annotations

from typing import Any

from polyseek.errors import MissingDependencyError

try:
    from llama_index.core.base.base_retriever import BaseRetriever
    from llama_index.core.callbacks import CallbackManager
    from llama_index.core.schema import ImageNode, NodeWithScore, QueryBundle, TextNode
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependencyError("llama-index-core", "llama-index") from exc

from polyseek.integrations import PICTURED, hit_metadata, hit_text, thumbnail_base64
from polyseek.types import Modality

# what the LLM sees of a node's metadata: where the text comes from, not scores or nested records
LLM_METADATA = ("source", "where", "modality")


class PolyseekRetriever(BaseRetriever):
    """Retrieves from a polyseek index; ``images=False`` leaves the JPEGs out of ``ImageNode``s.

    >>> retriever = PolyseekRetriever(Engine("./my-index"), k=4)  # doctest: +SKIP
    >>> [n.node.metadata["where"] for n in retriever.retrieve("the wiring diagram")]  # doctest: +SKIP
    ['12:31–12:45', 'p. 4']
    """

    def __init__(self, engine: Any, k: int = 4, filters: Any = None, images: bool = True,
                 callback_manager: CallbackManager | None = None, **search_options: Any) -> None:
        super().__init__(callback_manager=callback_manager)
        self.engine = engine
        self.k = k
        self.filters = filters
        self.images = images
        self.search_options = search_options

    @classmethod
    def from_store(cls, store: str, **kwargs: Any) -> PolyseekRetriever:
        """Open the index at ``store`` (a folder or store URI) and retrieve from it."""
        from polyseek.engine import Engine

        return cls(Engine(store), **kwargs)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        text = query_bundle.query_str.strip() or None
        options = dict(self.search_options)
        if query_bundle.image_path:
            options["image"] = query_bundle.image_path
        hits = self.engine.search(text, k=self.k, filters=self.filters, **options)
        return [NodeWithScore(node=self._node(hit), score=float(hit.score)) for hit in hits]

    def _node(self, hit: Any) -> TextNode:
        metadata = hit_metadata(hit)
        hidden = [key for key in metadata if key not in LLM_METADATA]
        common = {"id_": hit.id, "text": hit_text(hit), "metadata": metadata,
                  "excluded_llm_metadata_keys": hidden, "excluded_embed_metadata_keys": hidden}
        if hit.item.modality not in PICTURED:
            return TextNode(**common)
        picture = thumbnail_base64(self.engine, hit) if self.images else None
        return ImageNode(**common, image=picture, image_mimetype="image/jpeg" if picture else None,
                         image_path=hit.item.path if hit.item.modality == Modality.IMAGE else None)
