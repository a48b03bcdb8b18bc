"""A minimal PDF writer for server tests: Helvetica text lines at known positions, one list of lines per page."""

from __future__ import annotations

from pathlib import Path

PAGE = (612, 792)  # US Letter in points


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def write_pdf(path: Path, pages: list[list[tuple[float, float, float, str]]]) -> Path:
    """``pages``: per page, lines ``(x, y_from_top, font_size, text)`` in points. Returns ``path``."""
    objects: list[bytes] = []
    count = len(pages)
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(count))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode())
    font_ref = 3 + 2 * count
    for index, lines in enumerate(pages):
        content = "".join(
            f"BT /F1 {size:g} Tf {x:g} {PAGE[1] - y - size:g} Td ({_escape(text)}) Tj ET\n" for x, y, size, text in lines
        ).encode("latin-1")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE[0]} {PAGE[1]}] "
                       f"/Resources << /Font << /F1 {font_ref} 0 R >> >> /Contents {4 + 2 * index} 0 R >>".encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(bytes(out))
    return path


def report_pdf(path: Path) -> Path:
    """Two pages: a harbour report (page 1) and a lighthouse history with a separate paragraph (page 2)."""
    body = "The harbour handled more ships this year than ever before, mostly container traffic."
    return write_pdf(path, [
        [(72, 72, 22, "Harbour annual report"), (72, 130, 11, body), (72, 146, 11, "Fishing boats use the north quay.")],
        [(72, 72, 22, "History of the lighthouse"),
         (72, 130, 11, "The old stone tower stands on the cliff above the bay."),
         (72, 146, 11, "Its lamp burned whale oil for many years."),
         (72, 420, 11, "The lighthouse was built in 1887 by the engineer Ada Brandt."),
         (72, 436, 11, "Its beam reaches thirty kilometres out to sea on a clear night.")],
    ])
