#!/usr/bin/env bash
# `make demo`: set up the lean core install (no torch, browser or JACK), then enhance the bundled
# example (noisy, hummy, clicky speech) with the voice preset, print the before/after figures, and
# score the result against the clean reference.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh demo
mkdir -p out/demo
IN=aural/examples/speech_noisy.flac
OUT=out/demo/speech_noisy.enhanced.flac
echo
echo "== aural info $IN"
.venv/bin/aural info "$IN"
echo
echo "== aural enhance $IN -o $OUT --preset voice"
.venv/bin/aural enhance "$IN" -o "$OUT" --preset voice
echo
echo "== score against the clean reference"
.venv/bin/python scripts/score_example.py "$OUT" --preset voice
echo
echo "Listen: $IN (before) and $OUT (after)."
