"""OCR for pages without a text layer (scans, slides exported as pictures): Tesseract via pytesseract.

Needs the Debian packages ``tesseract-ocr`` and ``tesseract-ocr-eng``. Output is one :class:`Run` per
recognised line, in the coordinates the caller asks for, so layout treats OCR text like a text layer.
"""

from __future__ import annotations

import logging
import shutil
from functools import lru_cache

from polyseek.errors import MissingDependencyError, PolyseekError
from polyseek.ingest.layout import Box, Run

log = logging.getLogger(__name__)
MIN_CONFIDENCE = 30  # Tesseract word confidence (0-100); lower is mostly noise from pictures
TIMEOUT_S = 120  # per page: a pathological image must not stall a run


@lru_cache(maxsize=1)
def ocr_available() -> bool:
    """True when pytesseract imports and the ``tesseract`` binary with English data is installed."""
    try:
        import pytesseract
    except ImportError:
        return False
    if shutil.which(pytesseract.pytesseract.tesseract_cmd) is None and shutil.which("tesseract") is None:
        return False
    try:
        return "eng" in pytesseract.get_languages(config="")
    except Exception:  # noqa: BLE001 - a broken install reads as "not available"
        return False


class OcrUnavailableError(MissingDependencyError):
    """Tesseract (the binary, its English model or pytesseract) is not installed."""

    def __init__(self) -> None:
        PolyseekError.__init__(self, "OCR needs Tesseract, which is not installed",
                               hint="install the Debian packages tesseract-ocr and tesseract-ocr-eng, and pytesseract")


@lru_cache(maxsize=1)
def warn_unavailable_once() -> None:
    """Say once per process which packages OCR needs, when a page that needed it was indexed without it."""
    log.warning("a page without a text layer was indexed by its image only: %s (%s)",
                OcrUnavailableError().message, OcrUnavailableError().hint)


def require_ocr() -> None:
    if not ocr_available():
        raise OcrUnavailableError()


def ocr_lines(image, scale: float = 1.0, lang: str = "eng") -> list[Run]:
    """Recognise ``image`` (PIL) and return its lines; boxes are pixel coordinates divided by ``scale``.

    >>> ocr_lines(page_render, scale=render_scale)  # doctest: +SKIP
    [Run(box=Box(x0=72.0, y0=70.1, ...), text='Quarterly revenue grew 12%'), ...]
    """
    return ocr_read(image, scale, lang)[0]


def ocr_read(image, scale: float = 1.0, lang: str = "eng", psm: int = 3,
             min_confidence: float = MIN_CONFIDENCE) -> tuple[list[Run], list[Run]]:
    """One Tesseract pass: ``(lines, words)``, each a list of runs with boxes divided by ``scale``.

    Lines read well as text; words are what layout needs, since Tesseract reads a table row as one
    line and only the gaps between its words show the cells. ``psm`` is Tesseract's page segmentation
    mode (3: automatic; 11: sparse text, for words scattered over pictures).
    """
    import pytesseract

    require_ocr()
    data = pytesseract.image_to_data(image.convert("L"), lang=lang, config=f"--psm {int(psm)}",
                                     output_type=pytesseract.Output.DICT, timeout=TIMEOUT_S)
    lines: dict[tuple[int, int, int], list[int]] = {}
    for i, word in enumerate(data["text"]):
        try:
            confidence = float(data["conf"][i])
        except (TypeError, ValueError):
            confidence = -1.0
        if not word or not word.strip() or confidence < min_confidence:
            continue
        lines.setdefault((data["block_num"][i], data["par_num"][i], data["line_num"][i]), []).append(i)
    runs, words_out = [], []
    for key in sorted(lines):
        words = lines[key]
        x0 = min(data["left"][i] for i in words)
        y0 = min(data["top"][i] for i in words)
        x1 = max(data["left"][i] + data["width"][i] for i in words)
        y1 = max(data["top"][i] + data["height"][i] for i in words)
        text = " ".join(data["text"][i].strip() for i in sorted(words, key=lambda i: data["left"][i]))
        runs.append(Run(Box(x0 / scale, y0 / scale, x1 / scale, y1 / scale), text))
        for i in sorted(words, key=lambda i: data["left"][i]):
            left, top = data["left"][i], data["top"][i]
            words_out.append(Run(Box(left / scale, top / scale, (left + data["width"][i]) / scale,
                                     (top + data["height"][i]) / scale), data["text"][i].strip()))
    return runs, words_out
