"""Grounded answers with citations: context selection, generators (extractive, OpenAI-compatible, llama.cpp)."""

from polyseek.rag.base import Answer, Citation, ContextBlock, Generator, generators, load_generator

__all__ = ["Answer", "Citation", "ContextBlock", "Generator", "generators", "load_generator"]
