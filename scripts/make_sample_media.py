"""Regenerates the sample collection's PDF, video and audio (all made here: text we wrote, speech by espeak-ng).

    .venv/bin/python scripts/make_sample_media.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.ingest._media import soundtrack, write_audio, write_video  # noqa: E402
from tests.ingest._pdf import PageSpec, report_page, write_pdf  # noqa: E402

COLLECTION = ROOT / "src" / "polyseek" / "sample" / "collection"


def main() -> None:
    (COLLECTION / "documents").mkdir(parents=True, exist_ok=True)
    (COLLECTION / "media").mkdir(parents=True, exist_ok=True)
    lighthouse = PageSpec(lines=[
        (72, 72, 18, "History of the harbour lighthouse"),
        (72, 110, 11, "The lighthouse was built in 1874 from granite quarried two miles inland."),
        (72, 126, 11, "Its lamp burned whale oil until 1902, then kerosene, and has been electric since 1931."),
        (72, 142, 11, "The keeper's cottage is now a small museum that opens on summer weekends."),
    ])
    write_pdf(COLLECTION / "documents" / "harbour-report.pdf", [report_page(), lighthouse])
    with tempfile.TemporaryDirectory() as work:
        scenes = [((40, 160, 60), 5.0), ((40, 90, 200), 5.0), ((170, 40, 40), 5.0)]
        track, _ = soundtrack(15.0, [(0.5, "Welcome to the garden tour."), (5.5, "Here is the swimming pool."),
                                     (10.5, "And this is the old red barn.")], Path(work))
        write_video(COLLECTION / "media" / "garden-tour.mp4", scenes, track, faststart=True)
        memo, _ = soundtrack(6.0, [(0.3, "Remember to buy coffee beans and feed the cat on Saturday.")], Path(work))
        write_audio(COLLECTION / "media" / "voice-memo.mp3", memo)
    for path in sorted((COLLECTION / "documents").iterdir()) + sorted((COLLECTION / "media").iterdir()):
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
