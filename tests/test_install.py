"""polyseek without scripts/setup.sh: a built wheel in a fresh virtual environment, no Debian packages on PATH.

Two ways to fill the environment, chosen by ``POLYSEEK_INSTALL_TEST``:

* ``closure`` (default, ~1 min): the wheel is built from the source tree (``pip wheel --no-deps``) and installed
  with ``--no-deps`` into ``python -m venv`` (no system site packages); then exactly the distributions its
  ``Requires-Dist`` reach (transitively, markers evaluated, no extras) are linked in from this test's own
  environment. A dependency polyseek imports but does not declare is absent there, so the run fails as it
  would after ``pip install .``; nothing is downloaded.
* ``full``: ``pip install SOURCE`` into the fresh venv, resolving and downloading everything (~2.9 GB).
  Measured on the 2-core development machine on 2026-11-29: 8 min wall (72 s CPU), the time going to
  downloads, as pip's HTTP cache is empty here; too slow to run on every CI run, so it is opt-in.

(``venv:PATH`` runs the checks on an environment made before.) Either way the environment then indexes photos, a Markdown note and a PDF with the shipped default models and
searches them through the ``polyseek`` command with ``PATH`` holding only the venv's ``bin``: no tesseract, ffmpeg
or espeak-ng. A scanned page in the same run is indexed by its image, with one warning naming the Tesseract packages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import make_images
from tests.ingest._pdf import report_page, scanned_pdf, write_pdf

ROOT = Path(__file__).resolve().parents[1]
MODE = os.environ.get("POLYSEEK_INSTALL_TEST", "closure")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def source_tree(target: Path) -> Path:
    """The files git knows (tracked, or new and not ignored): what a clean clone holds."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    for name in listed:
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(source.read_bytes())
    return target


def wheel_requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(name).decode()
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Requires-Dist:")]


def closure(requirements: list[str]) -> dict[str, metadata.Distribution]:
    """Installed distributions that ``requirements`` need, transitively (no extras unless a requirement asks)."""
    found: dict[str, metadata.Distribution] = {}
    seen_extras: dict[str, set[str]] = {}
    todo = [(Requirement(r), "") for r in requirements]
    while todo:
        requirement, from_extra = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": from_extra}):
            continue
        key = canonicalize_name(requirement.name)
        extras = set(requirement.extras)
        if key in found and extras <= seen_extras[key]:
            continue
        try:
            dist = found.get(key) or metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"polyseek declares {requirement}, which this environment lacks")
        new_extras = extras - seen_extras.get(key, set())
        first = key not in found
        found[key] = dist
        seen_extras.setdefault(key, set()).update(extras)
        for raw in dist.requires or []:
            child = Requirement(raw)
            if first and (child.marker is None or child.marker.evaluate({"extra": ""})):
                todo.append((child, ""))
            for extra in new_extras:
                if child.marker is not None and child.marker.evaluate({"extra": extra}):
                    todo.append((child, extra))
    return found


def link_distributions(dists: dict[str, metadata.Distribution], site: Path) -> None:
    """Expose each distribution's top-level files (packages, modules, .libs, dist-info, .pth) in ``site``."""
    for dist in dists.values():
        base = Path(dist.locate_file(""))
        for entry in {Path(f).parts[0] for f in dist.files or [] if not str(f).startswith("..")}:
            source, target = base / entry, site / entry
            if target.exists() or target.is_symlink() or not source.exists() or entry == "__pycache__":
                continue
            if entry.endswith(".pth"):
                target.write_bytes(source.read_bytes())
            else:
                target.symlink_to(source)


@pytest.fixture(scope="module")
def clean_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the polyseek wheel and (``closure``) its declared dependencies, or (``full``) pip's pick."""
    if MODE.startswith("venv:"):  # an environment made earlier, e.g. by a full install kept for inspection
        return Path(MODE[5:])
    work = tmp_path_factory.mktemp("install")
    source = source_tree(work / "source")
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True)
    python = work / "venv" / "bin" / "python"
    if MODE == "full":
        subprocess.run([str(python), "-m", "pip", "install", "-q", str(source)], check=True)
        return work / "venv"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(work / "dist"),
                    str(source)], check=True)
    wheel = next((work / "dist").glob("polyseek-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    for needed in ("polyseek/web/static/index.html", "polyseek/py.typed", "polyseek/cli/app.py", "polyseek/mcp_server/server.py"):
        assert needed in names, f"the wheel lacks {needed}"
    assert any(n.startswith("polyseek/models/") for n in names), "the wheel lacks the shipped aligner"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    link_distributions(closure(wheel_requirements(wheel)), site)
    return work / "venv"


def polyseek(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {"PATH": str(venv / "bin"), "HOME": str(cwd), "LANG": "C.UTF-8", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([str(venv / "bin" / "polyseek"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)


def test_index_and_search_photos_text_and_pdf(clean_env: Path, tmp_path: Path):
    files = tmp_path / "files"
    make_images(files / "photos")
    (files / "notes").mkdir()
    (files / "notes" / "pets.md").write_text("# Dogs\nA golden retriever fetches a ball in the park.\n")
    write_pdf(files / "report.pdf", [report_page()])
    scanned_pdf(files / "scan.pdf")  # no text layer, and no tesseract on PATH
    store = str(tmp_path / "index")

    indexed = polyseek(clean_env, "index", str(files), "--store", store, "--json", cwd=tmp_path)
    assert indexed.returncode == 0, indexed.stderr
    summary = json.loads(indexed.stdout)
    assert summary["added"] == 6 and not summary["failed"], summary
    assert "tesseract-ocr and tesseract-ocr-eng" in indexed.stderr  # the scan says which packages OCR needs
    assert indexed.stderr.count("indexed by its image only") == 1 and "Traceback" not in indexed.stderr

    text = polyseek(clean_env, "search", "golden retriever fetching a ball", "--store", store, "--json", "--k", "3", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert json.loads(text.stdout)["hits"][0]["path"].endswith("pets.md")
    photo = polyseek(clean_env, "search", "--image", str(files / "photos" / "green.jpg"), "--store", store, "--json",
                     "--k", "1", "--type", "jpg", cwd=tmp_path)
    assert photo.returncode == 0, photo.stderr
    assert json.loads(photo.stdout)["hits"][0]["path"].endswith("green.jpg")
