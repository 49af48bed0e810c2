#!/usr/bin/env bash
# Set-up shared by `make demo` and `make test` (idempotent, non-interactive, safe to run twice).
#   bash scripts/setup.sh demo   the lean install for the main job (`make demo`):
#                                 .venv + `pip install .` (a built wheel: numpy, scipy, numba,
#                                 soundfile, pedalboard, onnxruntime; no torch, browser or JACK),
#                                 then `aural warmup` compiles the Numba kernels once.
#   bash scripts/setup.sh [dev]  everything the test suite exercises (`make test`):
#     1. a Python >= 3.10 with venv (Debian's python3-venv is installed if venv is missing),
#     2. .venv in the repository root,
#     3. every scripts/setup.d/*.sh (system packages other parts need; each is idempotent),
#     4. `pip install -e .[dev]` (skipped when setup.py has not changed since the last install).
# Works with or without a pip find-links/wheel-cache config; needs only PyPI and Debian's mirrors.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MODE=${1:-dev}
case "$MODE" in demo|dev) ;; *) echo "usage: scripts/setup.sh [demo|dev]" >&2; exit 2;; esac
EXTRAS=${AURAL_EXTRAS:-dev}
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
SUDO=()
[ "$(id -u)" = 0 ] || SUDO=(sudo -n)

apt_install() {
    if [ -z "${_APT_UPDATED:-}" ]; then
        "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
        _APT_UPDATED=1
    fi
    "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@"
}

pick_python() {
    local c
    for c in ${PYTHON:-} python3.11 python3.12 python3.10 python3; do
        if command -v "$c" >/dev/null 2>&1 &&
           "$c" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
            echo "$c"; return 0
        fi
    done
    return 1
}

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys' 2>/dev/null; then
    if ! PY=$(pick_python); then
        echo "setup: no Python >= 3.10 found; installing Debian's python3" >&2
        apt_install python3 python3-venv
        PY=python3
    fi
    echo "setup: creating .venv with $($PY --version 2>&1)"
    rm -rf .venv
    if ! "$PY" -m venv .venv >/dev/null 2>&1; then
        # Debian splits venv/ensurepip off into python3.X-venv
        rm -rf .venv
        ver=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
        apt_install "python${ver}-venv" || apt_install python3-venv
        "$PY" -m venv .venv
    fi
fi
export PYTHON="$PWD/.venv/bin/python"
export PATH="$PWD/.venv/bin:$PATH"

stamp=.venv/.aural-installed
setup_sha=$(sha256sum setup.py | cut -d' ' -f1)

if [ "$MODE" = demo ]; then
    # any earlier install of this setup.py (lean or full) already holds the core
    if [ "$(cut -d' ' -f1 "$stamp" 2>/dev/null)" != "$setup_sha" ] || ! "$PYTHON" -c 'import aural.engine' 2>/dev/null; then
        echo "setup: pip install . (core only: no torch, no browser, no JACK)"
        "$PYTHON" -m pip install -q .
        echo "$setup_sha core" > "$stamp"
    fi
    # compile the Numba kernels once, ahead of the first real run (cached on disk)
    echo "setup: aural warmup voice (compiles the DSP kernels of the demo once; about a minute)"
    .venv/bin/aural warmup voice >/dev/null || echo "setup: kernel warm-up failed; the first run compiles them" >&2
    echo "setup: ready ($("$PYTHON" --version 2>&1), aural $("$PYTHON" -c 'import aural; print(aural.__version__)'), core install)"
    exit 0
fi

for s in scripts/setup.d/*.sh; do
    [ -e "$s" ] || continue
    echo "setup: $s"
    bash "$s"
done

want="$setup_sha $EXTRAS"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! "$PYTHON" -c 'import aural, pytest' 2>/dev/null; then
    echo "setup: pip install -e .[$EXTRAS]"
    "$PYTHON" -m pip install -q -e ".[$EXTRAS]"
    echo "$want" > "$stamp"
fi
echo "setup: ready ($("$PYTHON" --version 2>&1), aural $("$PYTHON" -c 'import aural; print(aural.__version__)'))"
