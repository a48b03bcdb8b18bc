#!/usr/bin/env bash
# Runs the test suite (after making sure everything is installed). Extra arguments go to pytest,
# e.g. scripts/test.sh -m "not slow" for the quick tests only.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec .venv/bin/python -m pytest -q -rs "$@"
