#!/usr/bin/env bash
# `make test`: set up, then run the whole test suite.  Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export AURAL_NO_SKIPS=1  # everything is installed now: a skip would hide a feature (tests/conftest.py)
exec .venv/bin/python -m pytest -q tests/ "$@"
