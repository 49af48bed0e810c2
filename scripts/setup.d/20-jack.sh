#!/usr/bin/env bash
# Live audio (issue 4): PortAudio for sounddevice and a JACK2 server whose dummy driver the live
# tests use as a bit-exact, clocked audio device on machines without a sound card.
# Idempotent and non-interactive.
set -euo pipefail
need=()
command -v jackd >/dev/null 2>&1 || need+=(jackd2)
ldconfig -p 2>/dev/null | grep -q 'libportaudio\.so\.2' || need+=(libportaudio2)
ldconfig -p 2>/dev/null | grep -q 'libjack\.so\.0' || need+=(libjack-jackd2-0)
if ((${#need[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    # jackd2 asks whether to enable real-time priority; answer for it.
    echo "jackd2 jackd/tweak_rt_limits boolean false" | debconf-set-selections 2>/dev/null || true
    if [ "$(id -u)" = 0 ]; then SUDO=(); else SUDO=(sudo -n); fi
    "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
    "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}"
fi
# Python side: sounddevice + python-osc are the "live" extra; JACK-Client drives the tests.
PY=${PYTHON:-}
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
"$PY" - <<'PYEOF' 2>/dev/null || "$PY" -m pip install -q "sounddevice>=0.4" "python-osc>=1.8" "JACK-Client>=0.5"
import sounddevice, pythonosc, jack  # noqa: F401
PYEOF
