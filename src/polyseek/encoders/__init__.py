"""Encoders: text, image-text, all behind one registry (see ``base.load_encoder``)."""

from polyseek.encoders.base import ImageTextEncoder, TextEncoder, encoders, load_encoder, normalize

__all__ = ["ImageTextEncoder", "TextEncoder", "encoders", "load_encoder", "normalize"]
