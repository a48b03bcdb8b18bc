"""Ingestion: files → chunks, one module per kind of file."""

from polyseek.ingest.base import Chunk, Ingestor, ingestor_for, ingestors, supported_extensions

__all__ = ["Chunk", "Ingestor", "ingestor_for", "ingestors", "supported_extensions"]
