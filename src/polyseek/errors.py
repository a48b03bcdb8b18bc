"""One exception hierarchy for polyseek; the CLI and the server turn these into one-line messages.

Every class carries three stable attributes, and nothing else decides how an error is shown:

- ``code``: a short machine-readable name (the ``error.code`` of an HTTP error body);
- ``exit_code``: the CLI's exit status;
- ``http_status``: the server's response status (4xx: the client's fault, 5xx: ours).

A new error is a subclass here with the three attributes set where they differ from its parent's.
"""

from __future__ import annotations

from collections.abc import Sequence


class PolyseekError(Exception):
    """Base of every error polyseek raises on purpose. ``code`` is stable and machine-readable."""

    code = "error"
    exit_code = 1
    http_status = 500
    retry_after: float | None = None  # seconds a client should wait before trying again (HTTP Retry-After)

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
    http_status = 400


class InvalidRequestError(InvalidInputError):
    """Request parameters (query string, path) that do not fit the API's schema; ``problems`` name them."""

    code = "invalid_request"
    http_status = 422
    what = "request parameters do not"

    def __init__(self, problems: Sequence[str], *, hint: str | None = None) -> None:
        self.problems = list(problems)
        super().__init__(f"{self.what} fit the schema: " + ("; ".join(self.problems) or "invalid"), hint=hint)


class InvalidBodyError(InvalidRequestError):
    """A request body that parsed but does not fit its schema."""

    code = "invalid_body"
    what = "request body does not"


class UnsupportedFileError(InvalidInputError):
    code = "unsupported_file"


class CorruptFileError(InvalidInputError):
    code = "corrupt_file"


class FileTooLargeError(InvalidInputError):
    code = "file_too_large"
    http_status = 413


class PayloadTooLargeError(InvalidInputError):
    """A request body over the server's upload limit."""

    code = "payload_too_large"
    http_status = 413


class UnauthorizedError(PolyseekError):
    """A missing or wrong API token."""

    code = "unauthorized"
    exit_code = 5
    http_status = 401


class ForbiddenError(PolyseekError):
    """A path outside the configured roots, or an action the server does not allow."""

    code = "forbidden"
    exit_code = 5
    http_status = 403


class BadHostError(ForbiddenError):
    """A request addressed to a host name the server does not answer (DNS-rebinding guard)."""

    code = "bad_host"


class CrossOriginError(ForbiddenError):
    """A state-changing browser request from another site (CSRF guard)."""

    code = "cross_origin"


class TooManyRequestsError(PolyseekError):
    """Too many failed token attempts from one client; ``retry_after`` says when to try again."""

    code = "rate_limited"
    exit_code = 5
    http_status = 429

    def __init__(self, message: str, *, retry_after: float, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class ServerBusyError(PolyseekError):
    """Every search worker is busy and the queue is full; ``retry_after`` says when to try again."""

    code = "busy"
    exit_code = 6
    http_status = 503

    def __init__(self, message: str, *, retry_after: float = 1.0, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class StoreError(PolyseekError):
    code = "store_error"


class StoreURIError(StoreError, ValueError):
    code = "bad_store_uri"
    exit_code = 2
    http_status = 400


class StoreBusyError(StoreError):
    """Another process (or thread) is writing to the store and the caller chose not to wait (``--no-wait``)."""

    code = "store_busy"
    exit_code = 5


class IndexMismatchError(StoreError):
    """The index was written by other encoders or a newer schema than the ones asked for."""

    code = "index_mismatch"
    exit_code = 3
    http_status = 409


class EncoderError(PolyseekError):
    code = "encoder_error"


class NotAvailableError(PolyseekError):
    """A feature whose optional part is not installed here."""

    code = "not_available"
    http_status = 501


class MissingDependencyError(NotAvailableError, ImportError):
    code = "missing_dependency"

    def __init__(self, module: str, extra: str | None = None) -> None:
        """``extra`` names the optional extra that installs ``module``; None for a core dependency gone missing."""
        install = f"pip install 'polyseek[{extra}]'" if extra else f"pip install --force-reinstall polyseek  # polyseek depends on {module}"
        super().__init__(f"this feature needs the Python package {module!r}", hint=f"install it with: {install}")


class NotFoundError(PolyseekError, KeyError):
    code = "not_found"
    exit_code = 4
    http_status = 404

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return PolyseekError.__str__(self)


class GeneratorError(PolyseekError):
    code = "generator_error"
    http_status = 502


def require(module: str, extra: str):
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(module, extra) from exc
