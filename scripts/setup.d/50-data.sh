#!/usr/bin/env bash
# Training/dev audio for the neural enhancers (issue 3), from Debian packages (see
# ../shared/data/SOURCES.md; files in RESERVED.txt are excluded by models/data.py, not here).
#   fillets-ng-data-cs : clean Czech speech (22.05 kHz)            ~80 MB
#   sonic-pi-samples   : CC0 music loops, ambi_* and vinyl_* noise  ~22 MB
#   megaglest-data     : rain, wind, insects, birds (real noise)    ~240 MB download; only with
#                        AURAL_DATA=full (the tests do not need it; `aural train` uses it if present)
# Idempotent and non-interactive.
set -euo pipefail
need=()
[ -d /usr/share/games/fillets-ng/sound ] && ls /usr/share/games/fillets-ng/sound/*/cs >/dev/null 2>&1 \
    || need+=(fillets-ng-data-cs)
[ -d /usr/share/sonic-pi/samples ] || need+=(sonic-pi-samples)
if [ "${AURAL_DATA:-}" = full ] && [ ! -d /usr/share/games/megaglest/tilesets ]; then
    need+=(megaglest-data)
fi
if ((${#need[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    if [ "$(id -u)" = 0 ]; then SUDO=(); else SUDO=(sudo -n); fi
    "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
    "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}"
fi
