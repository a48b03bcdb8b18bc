#!/usr/bin/env bash
# Installs everything polyseek needs on a fresh Debian machine: system packages, a virtualenv, the package.
# Idempotent: a second run only checks. Set POLYSEEK_NO_LLM=1 to skip the local-LLM extra (a ~7 min compile).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(tesseract-ocr tesseract-ocr-eng espeak-ng sox ffmpeg chromium chromium-driver fonts-dejavu-core)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first and pinned: this exact CPU wheel; an unpinned torch would pull a multi-GB CUDA build
.venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null \
  || .venv/bin/pip install -q torch==2.13.0
EXTRAS="test,milvus,ray,openclip,langchain,llama-index"
[ "${POLYSEEK_NO_LLM:-0}" = "1" ] || EXTRAS="$EXTRAS,llm"
EXTRAS="$EXTRAS,bench"  # faiss-cpu, usearch, hnswlib: the baselines of benchmarks/ann_baselines.py
# CMAKE_ARGS keeps llama.cpp's build portable and quick (no native-CPU tuning, no extras)
CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF}" \
  .venv/bin/pip install -q -e ".[${EXTRAS}]"
# open_clip without its requirements: they would replace the pinned torch (docs/encoders.md says why)
.venv/bin/python -c "import importlib.metadata as m; m.version('open_clip_torch')" 2>/dev/null \
  || .venv/bin/pip install -q --no-deps 'open_clip_torch==3.3.0'
# de2en's German->English lexicon (the multilingual query encoder's German glosses) without its requirements (pyproject says why)
.venv/bin/python -c "import importlib.metadata as m; m.version('de2en')" 2>/dev/null \
  || .venv/bin/pip install -q --no-deps 'de2en==0.1.1'
echo "setup: done ($(.venv/bin/polyseek --version 2>/dev/null || echo polyseek))"
