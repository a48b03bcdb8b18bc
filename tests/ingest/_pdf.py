"""Small PDFs written byte by byte for tests: text pages, drawn charts and tables, scans, and broken files."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont


@dataclass
class PageSpec:
    """One page: text lines ``(x, y_from_top, size, text)`` and filled rectangles ``(x, y_from_top, w, h)``."""

    lines: list[tuple[float, float, float, str]] = field(default_factory=list)
    rects: list[tuple[float, float, float, float]] = field(default_factory=list)
    width: float = 612
    height: float = 792


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _to_unicode_cmap(mapping: dict[str, str]) -> bytes:
    """A ToUnicode CMap sending single-byte codes to any UTF-16 (surrogate halves, NULs included)."""
    entries = "\n".join(f"<{ord(code):02X}> <{text.encode('utf-16-be', 'surrogatepass').hex().upper() or '0000'}>"
                        for code, text in mapping.items())
    body = ("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
            "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n1 begincodespacerange\n<00> <FF>\nendcodespacerange\n"
            f"{len(mapping)} beginbfchar\n{entries}\nendbfchar\nendcmap\n"
            "CMapName currentdict /CMap defineresource pop\nend\nend").encode()
    return b"<< /Length %d >>\nstream\n" % len(body) + body + b"\nendstream"


def pdf_bytes(pages: list[PageSpec], *, encrypt: bool = False, count: int | None = None,
              to_unicode: dict[str, str] | None = None) -> bytes:
    """A valid PDF with Helvetica text and grey rectangles; ``encrypt`` adds a password-protected /Encrypt.

    ``to_unicode`` maps characters of the drawn text to the Unicode a text extractor reports for them
    (a ToUnicode CMap), so a test can make a text layer hold whatever real PDFs hold: ``{"x": "\\U0001d465"}``.
    """
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in once the page tree exists
    pages_id = add(b"")
    cmap = f" /ToUnicode {add(_to_unicode_cmap(to_unicode))} 0 R" if to_unicode else ""
    font = add(f"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding{cmap} >>".encode())
    kids = []
    for spec in pages:
        ops = ["0.6 g"]
        for x, y, w, h in spec.rects:
            ops.append(f"{x:.2f} {spec.height - y - h:.2f} {w:.2f} {h:.2f} re f")
        ops.append("0 g")
        for x, y, size, text in spec.lines:
            ops.append(f"BT /F1 {size:g} Tf {x:.2f} {spec.height - y - size:.2f} Td ({_escape(text)}) Tj ET")
        stream = "\n".join(ops).encode("latin-1")
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        kids.append(add(
            f"<< /Type /Page /Parent {pages_id} 0 R /MediaBox [0 0 {spec.width:g} {spec.height:g}] "
            f"/Resources << /Font << /F1 {font} 0 R >> >> /Contents {content} 0 R >>".encode()))
    objects[catalog - 1] = f"<< /Type /Catalog /Pages {pages_id} 0 R >>".encode()
    objects[pages_id - 1] = (f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] "
                             f"/Count {len(kids) if count is None else count} >>").encode()
    encrypt_ref = ""
    if encrypt:
        # Standard security handler, RC4 40-bit, with /O and /U that no empty password can satisfy
        secret = os.urandom(32).hex().upper()
        enc = add(f"<< /Filter /Standard /V 1 /R 2 /O <{secret}> /U <{secret[::-1]}> /P -44 >>".encode())
        encrypt_ref = f" /Encrypt {enc} 0 R /ID [<{secret[:32]}> <{secret[:32]}>]"
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root {catalog} 0 R{encrypt_ref} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def write_pdf(path: Path, pages: list[PageSpec], **kwargs) -> Path:
    path.write_bytes(pdf_bytes(pages, **kwargs))
    return path


def report_page() -> PageSpec:
    """A report page: a heading, a paragraph, a bar chart (many rectangles) with its title, and a table."""
    lines = [
        (72, 60, 20, "Quarterly Results"),
        (72, 100, 11, "Revenue grew strongly in every region during the third quarter, led by Europe."),
        (72, 116, 11, "Margins improved as the company reduced shipping costs and renegotiated contracts."),
        (72, 170, 12, "Revenue growth by region chart"),
    ]
    bars = [(90 + i * 45, 330 - h, 30, h) for i, h in enumerate((60, 90, 120, 80, 140, 100, 70, 110))]
    axis = [(85, 330, 370, 2), (85, 190, 2, 142)]
    table = [(72, 430, 9, "Region"), (250, 430, 9, "2023"), (350, 430, 9, "2024"), (450, 430, 9, "Change")]
    for row, (name, a, b, c) in enumerate([("Europe", "1,204", "1,530", "27%"), ("Asia", "980", "1,101", "12%"),
                                           ("Americas", "1,660", "1,790", "8%"), ("Africa", "210", "260", "24%")]):
        y = 448 + row * 16
        table += [(72, y, 9, name), (250, y, 9, a), (350, y, 9, b), (450, y, 9, c)]
    return PageSpec(lines=lines + table, rects=bars + axis)


def text_page(number: int) -> PageSpec:
    return PageSpec(lines=[(72, 72, 14, f"Chapter {number}"),
                           (72, 110, 11, f"This page talks about topic number {number} and nothing else."),
                           (72, 126, 11, "It has a second line so that the paragraph forms a block of text.")])


def scanned_pdf(path: Path, words: str = "Invoice total for Norway shipments") -> Path:
    """A page that is only a picture of text (no text layer), as a scanner would make."""
    image = Image.new("RGB", (1275, 1650), "white")  # letter size at 150 dpi
    draw = ImageDraw.Draw(image)
    try:
        font = ImageFont.truetype("DejaVuSans.ttf", 48)
    except OSError:
        font = ImageFont.load_default(size=48)
    draw.text((120, 200), words, fill="black", font=font)
    draw.text((120, 300), "Paid in full on 3 March", fill="black", font=font)
    image.save(path, "PDF", resolution=150.0)
    return path
