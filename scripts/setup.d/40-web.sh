#!/usr/bin/env bash
# Web page (issue 6): Flask for `aural serve`; Debian's chromium and Playwright for Python for the
# browser tests (Playwright drives /usr/bin/chromium; it never downloads a browser of its own).
# Idempotent and non-interactive.
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
# a font with the glyphs the page uses (−, ·, ×), so screenshots show text, not boxes
fc-list 2>/dev/null | grep -qi dejavu || need+=(fonts-dejavu-core)
if ((${#need[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    if [ "$(id -u)" = 0 ]; then SUDO=(); else SUDO=(sudo -n); fi
    "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
    "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}"
fi
PY=${PYTHON:-}
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
"$PY" - <<'PYEOF' 2>/dev/null || "$PY" -m pip install -q "flask>=3.0" "playwright>=1.40"
import flask, playwright.sync_api  # noqa: F401
PYEOF
