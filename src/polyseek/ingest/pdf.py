"""PDF ingestion with pypdfium2: each page becomes a page item and region items (text, figure, table).

A page item carries the page's text (text layer, or OCR for scans) and a small render for the
image-text encoder; each region carries its own text and, for figures and tables, a crop of the page.
Locators hold the 1-based page number and, for regions, the box in points from the page's top-left corner.

Pages are streamed: a background thread reads a few pages ahead (:func:`pages_ahead`) while the ones
before are encoded; renders are made at a small size, handed on, and never kept, so a 1,000-page PDF
needs no more memory than a short one. Previews re-render a page on demand
(:func:`render_page`). PDFium is not thread-safe, so every call into it holds :data:`PDFIUM_LOCK`.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from polyseek.errors import CorruptFileError, FileTooLargeError, InvalidInputError, PolyseekError, UnsupportedFileError
from polyseek.ingest.base import Chunk, ProgressFn, ingestors
from polyseek.ingest.clean import clean_text as normalize_text
from polyseek.ingest.layout import Box, Region, Run, build_regions
from polyseek.types import Locator, Modality

log = logging.getLogger(__name__)

PDFIUM_LOCK = threading.RLock()
MAX_PAGE_POINTS = 14_400.0  # 200 inches: the largest page the PDF format allows (ISO 32000, Annex C)
MAX_RENDER_PIXELS = 40_000_000  # refuse any bitmap larger than this (about 6,300 x 6,300)
MAX_PAGES = 20_000
PAGE_IMAGE_SIDE = 384  # the page render handed to the image encoder (it works at 224-260 px)
CROP_RENDER_SIDE = 1100  # regions are cut from a render of this size, then reduced
REGION_IMAGE_SIDE = 320
OCR_SIDE = 1700  # long side of the render Tesseract reads (~150 DPI for a letter page)
OCR_MAX_SCALE = 300 / 72
MIN_TEXT_CHARS = 25  # fewer visible characters in the text layer: treat the page as a scan
MAX_FIGURE_OCR = 4  # pictures without text read by OCR, per page
MIN_PICTURE_SHARE = 0.1  # a region with no text at all is kept only above this share of the page
PICTURED_REGIONS = frozenset({"figure", "table"})  # regions whose crop is embedded; a text region's is not
PAGES_AHEAD = 8  # pages read by a background thread while those before are encoded (the indexer encodes 32 items, ~6 pages, at a time)
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_LEADERS = re.compile(r"([._·…])\1{3,}|_{4,}")


@contextmanager
def open_pdf(path: Path | str) -> Iterator[Any]:
    """Open a PDF (lazily: pages are read when asked), turning PDFium's failures into clear errors."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    path = Path(path)
    name = path.name
    if not path.is_file():
        raise InvalidInputError(f"{name}: file not found")
    if path.stat().st_size == 0:
        raise CorruptFileError(f"{name}: empty file, not a PDF")
    with PDFIUM_LOCK:
        # the raw loader: PDFium's error code is only meaningful right after a failed load
        handle = pdfium_c.FPDF_LoadDocument((str(path.absolute()) + "\x00").encode("utf-8", errors="surrogateescape"), None)
        if not handle:
            code = pdfium_c.FPDF_GetLastError()
            if code == pdfium_c.FPDF_ERR_PASSWORD:
                raise UnsupportedFileError(f"{name}: the PDF is encrypted with a password",
                                           hint="remove the password (e.g. qpdf --decrypt) and index the copy")
            if code == pdfium_c.FPDF_ERR_SECURITY:
                raise UnsupportedFileError(f"{name}: the PDF uses an unsupported encryption scheme")
            if code == pdfium_c.FPDF_ERR_FILE:
                raise InvalidInputError(f"{name}: the file cannot be opened or read")
            reason = {pdfium_c.FPDF_ERR_FORMAT: "data format error"}.get(code, f"PDFium error {code}")
            raise CorruptFileError(f"{name}: damaged, truncated or not a PDF ({reason})")
        if pdfium_c.FPDF_GetPageCount(handle) < 1:
            pdfium_c.FPDF_CloseDocument(handle)
            raise CorruptFileError(f"{name}: the PDF has no pages")
        document = pdfium.PdfDocument(handle)
    try:
        yield document
    finally:
        with PDFIUM_LOCK:
            document.close()


@dataclass(frozen=True)
class PageGeometry:
    """How PDF user space (origin bottom-left, unrotated) maps onto the page as displayed (origin top-left)."""

    width: float  # as displayed, after /Rotate
    height: float
    rotation: int
    crop: tuple[float, float, float, float]  # left, bottom, right, top of the crop box

    def to_display(self, left: float, bottom: float, right: float, top: float) -> Box:
        cx0, cy0, cx1, cy1 = self.crop
        if self.rotation == 90:
            return Box(bottom - cy0, left - cx0, top - cy0, right - cx0)
        if self.rotation == 180:
            return Box(cx1 - right, bottom - cy0, cx1 - left, top - cy0)
        if self.rotation == 270:
            return Box(cy1 - top, cx1 - right, cy1 - bottom, cx1 - left)
        return Box(left - cx0, cy1 - top, right - cx0, cy1 - bottom)


def page_geometry(page: Any, name: str, number: int) -> PageGeometry:
    """The page's displayed size; refuses pages beyond the format's 200-inch limit (a 'PDF bomb')."""
    width, height = page.get_size()
    if not (width > 0 and height > 0):
        raise CorruptFileError(f"{name}: page {number} has an empty or invalid size ({width:g} x {height:g} pt)")
    if max(width, height) > MAX_PAGE_POINTS:
        raise FileTooLargeError(
            f"{name}: page {number} is {width:,.0f} x {height:,.0f} pt, beyond the PDF limit of {MAX_PAGE_POINTS:,.0f} pt "
            f"(200 in) per side; refused so it cannot be rendered into a huge bitmap")
    rotation = page.get_rotation() % 360
    try:
        crop = tuple(float(v) for v in page.get_cropbox())
    except Exception:  # noqa: BLE001 - fall back to the media box origin
        crop = (0.0, 0.0, width, height) if rotation in (0, 180) else (0.0, 0.0, height, width)
    return PageGeometry(float(width), float(height), rotation, crop)  # type: ignore[arg-type]


def scale_for(geometry: PageGeometry, long_side: int, max_scale: float = 4.0) -> float:
    return min(max_scale, long_side / max(geometry.width, geometry.height))


def render(page: Any, geometry: PageGeometry, scale: float, name: str = "", number: int = 0):
    """Render at ``scale`` (pixels per point) to an RGB PIL image, refusing bitmaps over :data:`MAX_RENDER_PIXELS`."""
    pixels = geometry.width * scale * geometry.height * scale
    if pixels > MAX_RENDER_PIXELS:
        raise FileTooLargeError(f"{name}: page {number} would render to {pixels:,.0f} pixels, over the limit of {MAX_RENDER_PIXELS:,}")
    with PDFIUM_LOCK:
        bitmap = page.render(scale=scale, may_draw_forms=True)
        image = bitmap.to_pil().convert("RGB")
        bitmap.close()
    return image


def item_pictures(path: Path | str, wanted: Sequence[tuple[int, tuple[float, float, float, float] | None]]) -> list[Any]:
    """The pictures indexing embeds for PDF items named by ``(page number, region box)`` (``None``: the page itself):
    the page's small render, or a region's crop (``None`` where the box is degenerate), cut from one render per page as
    :func:`read_page` cuts them. An upgrade's backfill asks for these by the stored locators, without layout analysis:
    PDFium's process-wide glyph cache makes character boxes, and so regions, come out differently when a page is read
    again in a process that has rendered it (an index built twice in one process can differ by a region)."""
    from PIL import Image

    out: list[Any] = [None] * len(wanted)
    by_page: dict[int, list[int]] = {}
    for position, (number, _) in enumerate(wanted):
        by_page.setdefault(int(number), []).append(position)
    name = Path(path).name
    with open_pdf(path) as document:
        for number, positions in sorted(by_page.items()):
            with PDFIUM_LOCK:
                page = document[number - 1]
                try:
                    geometry = page_geometry(page, name, number)
                    scale = scale_for(geometry, CROP_RENDER_SIDE)
                    big = render(page, geometry, scale, name, number)
                finally:
                    page.close()
            for position in positions:
                box = wanted[position][1]
                if box is None:
                    picture = big.copy()
                    picture.thumbnail((PAGE_IMAGE_SIDE, PAGE_IMAGE_SIDE), Image.Resampling.BICUBIC)
                    out[position] = picture
                else:
                    out[position] = _crop(big, scale, Box(*(float(v) for v in box)))
            big.close()
    return out


def clean_text(text: str) -> str:
    """Normalised text (:func:`polyseek.ingest.clean.clean_text`) without dot leaders or runs of spaces."""
    text = normalize_text(text.replace("\x02", "-"))
    text = _LEADERS.sub(" ", text)  # dot leaders of tables of contents and statements carry no meaning
    text = _SPACES.sub(" ", text)
    return _BLANK_LINES.sub("\n\n", "\n".join(line.strip() for line in text.split("\n"))).strip()


@dataclass
class PageContent:
    """What one page yields before encoding: its text, regions and renders."""

    number: int
    geometry: PageGeometry
    text: str
    regions: list[Region]
    image: Any  # small render for the page item
    crops: list[Any]  # one per region (None where the box is degenerate)
    ocr: bool


def _unicode_codes(textpage: Any, count: int) -> list[int]:
    """The UTF-16 unit of each of the text page's ``count`` characters, read in one PDFium call
    (``FPDFText_GetText``) instead of one ``FPDFText_GetUnicode`` call per character; per character only if the
    bulk read does not give exactly one unit per character."""
    import ctypes

    import pypdfium2.raw as pdfium_c

    buffer = (ctypes.c_ushort * (count + 1))()
    written = pdfium_c.FPDFText_GetText(textpage, 0, count, buffer)
    if written == count + 1:  # the count includes the terminating NUL
        codes = list(buffer[:count])
        # the bulk read writes U+FFFE where a soft hyphen stands (``FPDFText_GetUnicode`` says 2): ask those alone
        return [pdfium_c.FPDFText_GetUnicode(textpage, i) if code == 0xFFFE else code for i, code in enumerate(codes)]
    return [pdfium_c.FPDFText_GetUnicode(textpage, index) for index in range(count)]  # pragma: no cover


def _text_layer(page: Any, geometry: PageGeometry) -> tuple[str, list[Run]]:
    """The page text in content order, and its words as runs (from character boxes).

    Words are built from characters rather than PDFium's text rectangles: those overlap when glyphs
    are kerned, and the text inside overlapping rectangles comes out doubled ("UNITED STATATATES").
    """
    import pypdfium2.raw as pdfium_c

    textpage = page.get_textpage()
    try:
        count = textpage.count_chars()
        if count <= 0:
            return "", []
        text = textpage.get_text_range()
        codes = _unicode_codes(textpage, count)
        is_generated, char_box = pdfium_c.FPDFText_IsGenerated, pdfium_c.FPDFText_GetLooseCharBox
        raw = textpage.raw
        runs: list[Run] = []
        to_display = geometry.to_display
        rect = pdfium_c.FS_RECTF()
        word: list[str] = []
        left = bottom = right = top = 0.0

        def flush() -> None:
            if word:
                runs.append(Run(to_display(left, bottom, right, top), "".join(word)))
                word.clear()

        index = -1
        while index + 1 < count:
            index += 1
            first = index  # the character's box and flags are those of its first UTF-16 unit
            code = codes[index]
            if 0xD800 <= code <= 0xDFFF:
                if code <= 0xDBFF and index + 1 < count:
                    # PDFium counts UTF-16 units: a math letter such as 𝑥 is two "characters", a surrogate pair
                    low = codes[index + 1]
                    if 0xDC00 <= low <= 0xDFFF:
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        index += 1
                if 0xD800 <= code <= 0xDFFF:
                    continue  # a lone half encodes nothing
            char = "-" if code == 2 else (chr(code) if code > 0 else "")  # 2: PDFium's soft hyphen
            if not char or char.isspace() or is_generated(raw, first) == 1:
                if word:
                    word.append(" ")  # a word break even where justified text leaves no visible gap
                flush()
                continue
            if not char_box(raw, first, rect):
                continue
            c_left, c_right, c_top, c_bottom = rect.left, rect.right, rect.top, rect.bottom
            height = max(1e-3, c_top - c_bottom)
            if word:
                same_line = min(top, c_top) - max(bottom, c_bottom) >= 0.5 * min(height, top - bottom)
                if not same_line or c_left - right > 0.25 * height or c_left < left - height:
                    flush()
            if word:
                left, bottom, right, top = min(left, c_left), min(bottom, c_bottom), max(right, c_right), max(top, c_top)
            else:
                left, bottom, right, top = c_left, c_bottom, c_right, c_top
            word.append(char)
        flush()
        return text, runs
    finally:
        textpage.close()


def _graphics(page: Any, geometry: PageGeometry) -> tuple[list[Box], list[Box]]:
    """Boxes of pictures and of vector paths. Form XObjects count as one picture or a bundle of paths.

    Walks the page's top-level objects through PDFium's C API directly: a filing's page can hold 10,000
    vector paths, and a Python wrapper object per path cost as much as the walk itself.
    """
    import ctypes

    import pypdfium2.raw as pdfium_c

    images: list[Box] = []
    paths: list[Box] = []
    raw = page.raw
    count = pdfium_c.FPDFPage_CountObjects(raw)
    wanted = (pdfium_c.FPDF_PAGEOBJ_IMAGE, pdfium_c.FPDF_PAGEOBJ_PATH, pdfium_c.FPDF_PAGEOBJ_FORM,
              pdfium_c.FPDF_PAGEOBJ_SHADING)
    left, bottom, right, top = ctypes.c_float(), ctypes.c_float(), ctypes.c_float(), ctypes.c_float()
    for index in range(max(0, count)):
        obj = pdfium_c.FPDFPage_GetObject(raw, index)
        if not obj:
            continue
        kind = pdfium_c.FPDFPageObj_GetType(obj)
        if kind not in wanted:
            continue
        if not pdfium_c.FPDFPageObj_GetBounds(obj, left, bottom, right, top):
            continue  # an object PDFium cannot place is skipped
        box = geometry.to_display(left.value, bottom.value, right.value, top.value)
        if kind == pdfium_c.FPDF_PAGEOBJ_IMAGE:
            images.append(box)
        elif kind == pdfium_c.FPDF_PAGEOBJ_FORM:
            # a form holding many objects is a drawing (charts are often exported this way)
            (images if pdfium_c.FPDFFormObj_CountObjects(obj) >= 6 else paths).append(box)
        else:
            paths.append(box)
        if len(paths) > 20_000:
            break
    return images, paths


def _crop(render_image: Any, scale: float, box: Box):
    from PIL import Image

    left, top = max(0, int(box.x0 * scale) - 2), max(0, int(box.y0 * scale) - 2)
    right, bottom = min(render_image.width, int(box.x1 * scale) + 3), min(render_image.height, int(box.y1 * scale) + 3)
    if right - left < 8 or bottom - top < 8:
        return None
    crop = render_image.crop((left, top, right, bottom))
    if max(crop.size) > REGION_IMAGE_SIDE:
        crop.thumbnail((REGION_IMAGE_SIDE, REGION_IMAGE_SIDE), Image.Resampling.BICUBIC)
    return crop


def read_page(document: Any, index: int, name: str, ocr: bool = True,
              timings: dict[str, float] | None = None) -> PageContent:
    """Text, regions and renders of one page (0-based ``index``); the caller drops the renders after use.

    Scanned pages are read by OCR; so are pictures with no text of their own (titles and charts
    exported as images), whose words then join the page text. ``timings``, when given, accumulates the
    seconds spent per stage (text layer, graphics, render, layout, ocr, crops) for benchmarks.
    """
    from PIL import Image

    from polyseek.ingest import ocr as ocr_module
    from polyseek.ingest import picture_pages

    marks = [time.perf_counter()]

    def lap(stage: str) -> None:
        if timings is not None:
            now = time.perf_counter()
            timings[stage] = timings.get(stage, 0.0) + now - marks[0]
            marks[0] = now

    number = index + 1
    can_ocr = ocr and ocr_module.ocr_available()
    with PDFIUM_LOCK:
        page = document[index]
        try:
            geometry = page_geometry(page, name, number)
            text, runs = _text_layer(page, geometry)
            lap("text layer")
            images, paths = _graphics(page, geometry)
            lap("graphics")
            crop_scale = scale_for(geometry, CROP_RENDER_SIDE)
            big = render(page, geometry, crop_scale, name, number)
            lap("render")
            scanned = sum(1 for c in text if not c.isspace()) < MIN_TEXT_CHARS
            regions = [] if scanned else build_regions(runs, images, paths, geometry.width, geometry.height)
            lap("layout")
            # pictures with (almost) no words of their own: text set as an image, a chart exported as a picture
            mute = [i for i, r in enumerate(regions) if r.kind == "figure" and len(r.text) < r.box.area / 2000
                    and r.box.area >= 0.02 * geometry.width * geometry.height][:MAX_FIGURE_OCR]
            # a scan's figure page under a thin OCR text layer: the picture's own words (ingest/picture_pages.py)
            backdrop = not scanned and picture_pages.is_picture_page(images, geometry.width, geometry.height, text)
            ocr_image: Image.Image | None = None
            ocr_scale = 1.0
            if can_ocr and (scanned or mute or backdrop):
                ocr_scale = scale_for(geometry, OCR_SIDE, OCR_MAX_SCALE)
                ocr_image = render(page, geometry, ocr_scale, name, number)
        finally:
            page.close()
    used_ocr = False
    if ocr_image is not None:
        try:  # Tesseract runs outside the PDFium lock
            if scanned:
                runs, words = ocr_module.ocr_read(ocr_image, scale=ocr_scale)
                if picture_pages.visible_chars(" ".join(r.text for r in runs)) < MIN_TEXT_CHARS:
                    # display type over photos reads as nothing: sparse-text mode (ingest/picture_pages.py)
                    runs, words = picture_pages.better_read((runs, words), picture_pages.sparse_read(ocr_image, scale=ocr_scale))
                text = "\n".join(r.text for r in runs)
                # words, not lines, make the regions: a table row is one OCR line, its cells only show as gaps
                regions = build_regions(words, images, paths, geometry.width, geometry.height)
            else:
                extra: list[str] = []
                for i in mute:
                    box = regions[i].box
                    crop = ocr_image.crop((int(box.x0 * ocr_scale), int(box.y0 * ocr_scale),
                                           int(box.x1 * ocr_scale) + 1, int(box.y1 * ocr_scale) + 1))
                    figure_text = " ".join(r.text for r in ocr_module.ocr_lines(crop, scale=ocr_scale))
                    if figure_text.strip():
                        regions[i] = Region(regions[i].kind, box, f"{regions[i].text} {figure_text}".strip())
                        extra.append(figure_text)
                if backdrop:
                    extra += picture_pages.missing_lines(ocr_module.ocr_lines(ocr_image, scale=ocr_scale), text + "\n" + "\n".join(extra))
                if extra:
                    text = text.rstrip() + "\n" + "\n".join(extra)
            used_ocr = True
        except PolyseekError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed OCR leaves the page searchable by its image
            log.warning("%s: OCR failed on page %d: %s", name, number, exc)
        finally:
            ocr_image.close()
    elif scanned and ocr:
        ocr_module.warn_unavailable_once()
        log.info("%s: page %d has no text layer and Tesseract is not installed; indexed by its image only", name, number)
    lap("ocr")
    page_area = geometry.width * geometry.height
    # a picture without words is kept only when it is big enough to be worth finding by its look
    regions = [Region(r.kind, r.box, clean_text(r.text)) for r in regions
               if r.text.strip() or r.box.area >= MIN_PICTURE_SHARE * page_area]
    # a paragraph's crop is a picture of its words: its image-space vector comes from its text instead
    # (Spaces.encode_chunks), which text queries never use for documents and an image query matches as well
    crops = [_crop(big, crop_scale, region.box) if region.kind in PICTURED_REGIONS else None for region in regions]
    page_image = big.copy()
    page_image.thumbnail((PAGE_IMAGE_SIDE, PAGE_IMAGE_SIDE), Image.Resampling.BICUBIC)
    big.close()
    text = clean_text(text)
    lap("crops")
    return PageContent(number, geometry, text, regions, page_image, crops, used_ocr)


def pdf_date(document: Any) -> float | None:
    """The document's creation date (``D:YYYYMMDDHHmmSS...``) as a POSIX timestamp, if it has a sane one."""
    try:
        with PDFIUM_LOCK:
            raw_value = document.get_metadata_value("CreationDate") or document.get_metadata_value("ModDate")
    except Exception:  # noqa: BLE001
        return None
    match = re.match(r"D?:?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?", raw_value or "")
    if not match:
        return None
    year, month, day, hour, minute, second = (int(p) if p else d for p, d in zip(match.groups(), (0, 1, 1, 0, 0, 0)))
    try:
        value = datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()
    except ValueError:
        return None
    return value if 0 < value < datetime.now(UTC).timestamp() + 86_400 else None


def pages_ahead(document: Any, indices: range, name: str, ocr: bool = True,
                ahead: int = PAGES_AHEAD) -> Iterator[tuple[int, PageContent | BaseException]]:
    """``(index, page or the exception reading it raised)`` in page order, read by a background thread up to
    ``ahead`` pages ahead, so that PDFium and layout work overlaps the encoding of the pages already yielded.

    Closing the iterator early (a time budget, an error downstream) stops the reader before the caller closes
    the document; the reader never holds more than ``ahead`` pages of renders.
    """
    results: queue.Queue = queue.Queue(maxsize=max(1, ahead))
    stop = threading.Event()

    def put(entry: tuple[int, PageContent | BaseException] | None) -> bool:
        while not stop.is_set():
            try:
                results.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for index in indices:
                if stop.is_set():
                    return
                try:
                    read: PageContent | BaseException = read_page(document, index, name, ocr=ocr)
                except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which decides
                    read = exc
                if not put((index, read)):
                    return
        finally:
            put(None)

    reader = threading.Thread(target=work, name=f"pdf-pages:{name}", daemon=True)
    reader.start()
    try:
        while (entry := results.get()) is not None:
            yield entry
    finally:
        stop.set()
        reader.join()


@ingestors.register("pdf")
class PdfIngestor:
    """Yields, page by page, a page chunk followed by its region chunks."""

    name = "pdf"
    extensions = frozenset({"pdf"})

    def __init__(self, ocr: bool = True, regions: bool = True) -> None:
        self.ocr = ocr
        self.regions = regions

    def ingest(self, path: Path, progress: ProgressFn | None = None, resume: dict | None = None) -> Iterator[Chunk]:
        """``resume`` ``{"page": index, "item": position}`` starts at a 0-based page whose item number is known
        (the indexer's checkpoint of a long PDF cut short)."""
        path = Path(path)
        name = path.name
        with open_pdf(path) as document:
            with PDFIUM_LOCK:
                count = len(document)
            if count > MAX_PAGES:
                raise FileTooLargeError(f"{name}: {count:,} pages, over the limit of {MAX_PAGES:,}")
            date = pdf_date(document)
            position = int((resume or {}).get("item", 0))  # index of the next chunk: regions point at their page's item by it
            indexed, first_error = 0, None
            for index, read in pages_ahead(document, range(int((resume or {}).get("page", 0)), count), name, self.ocr):
                try:
                    if isinstance(read, BaseException):
                        raise read
                    content = read
                except (FileTooLargeError, CorruptFileError) as exc:
                    first_error = first_error or exc
                    log.warning("%s", exc.message)
                    continue
                except PolyseekError:
                    raise
                except Exception as exc:  # noqa: BLE001 - one broken page must not lose the others
                    first_error = first_error or CorruptFileError(f"{name}: page {index + 1} cannot be read ({type(exc).__name__}: {exc})")
                    log.warning("%s: page %d skipped: %s", name, index + 1, exc)
                    continue
                page_position = position
                geometry = content.geometry
                regions = content.regions if self.regions else []
                yield Chunk(
                    modality=Modality.PAGE, locator=Locator(page=content.number), text=content.text, image=content.image,
                    metadata={"page_count": count, "width": round(geometry.width, 1), "height": round(geometry.height, 1),
                              "ocr": content.ocr, "regions": len(regions)},
                    date=date,
                )
                position += 1
                for number, (region, crop) in enumerate(zip(regions, content.crops)):
                    yield Chunk(
                        modality=Modality.REGION, locator=Locator(page=content.number, bbox=region.box.as_tuple()),
                        text=region.text, image=crop,
                        metadata={"kind": region.kind, "page_item": page_position, "region": number, "ocr": content.ocr},
                        date=date,
                    )
                    position += 1
                indexed += 1
                if progress:
                    progress(index + 1, count, "pages")
            if indexed == 0 and first_error is not None:
                raise first_error
