"""Search stages: query parsing, fusion of signals, reranking."""
