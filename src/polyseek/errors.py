"""One exception hierarchy for polyseek; the CLI and server turn these into one-line messages."""

from __future__ import annotations


class PolyseekError(Exception):
    """Base of every error polyseek raises on purpose. ``code`` is stable and machine-readable."""

    code = "error"
    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InvalidInputError(PolyseekError, ValueError):
    """A query, file or argument that polyseek cannot accept; the message says what is accepted."""

    code = "invalid_input"
    exit_code = 2


class UnsupportedFileError(InvalidInputError):
    code = "unsupported_file"


class CorruptFileError(InvalidInputError):
    code = "corrupt_file"


class FileTooLargeError(InvalidInputError):
    code = "file_too_large"


class StoreError(PolyseekError):
    code = "store_error"


class StoreURIError(StoreError, ValueError):
    code = "bad_store_uri"
    exit_code = 2


class IndexMismatchError(StoreError):
    """The index was written by other encoders or a newer schema than the ones asked for."""

    code = "index_mismatch"
    exit_code = 3


class EncoderError(PolyseekError):
    code = "encoder_error"


class MissingDependencyError(PolyseekError, ImportError):
    code = "missing_dependency"

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"this feature needs the Python package {module!r}",
            hint=f"install it with: pip install 'polyseek[{extra}]'",
        )


class NotFoundError(PolyseekError, KeyError):
    code = "not_found"
    exit_code = 4

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return PolyseekError.__str__(self)


class GeneratorError(PolyseekError):
    code = "generator_error"


def require(module: str, extra: str):
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(module, extra) from exc
