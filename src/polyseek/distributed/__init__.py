"""Scale-out: ingestion on a Ray cluster (:mod:`.ray_ingest`, imported only for ``--ray``) and an index description
kept with the store, so engines on other machines can open a shared collection from its URI (:mod:`.shared`)."""

from __future__ import annotations

from polyseek.distributed.shared import open_catalog, publish_description

__all__ = ["open_catalog", "publish_description"]
