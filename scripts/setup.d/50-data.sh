#!/usr/bin/env bash
# Training/dev audio for the neural enhancers (issue 3), from Debian packages (see
# ../shared/data/SOURCES.md; files in RESERVED.txt are excluded by models/data.py, not here).
#   fillets-ng-data-cs : clean Czech speech (22.05 kHz)            ~80 MB
#   sonic-pi-samples   : CC0 music loops, ambi_* and vinyl_* noise  ~22 MB
#   megaglest-data     : rain, wind, insects, birds (real noise)    ~240 MB download; only with
#                        AURAL_DATA=full (the tests do not need it; `aural train` uses it if present)
#   more real noise, train split only, also only with AURAL_DATA=full:
#   supertux-data      : rain.wav, waterfall.wav                    ~162 MB download
#   lincity-ng-data    : Market*.wav (crowd)                        ~45 MB download
#   wesnoth-1.16-data  : data/core/sounds/ambient/*.ogg             ~146 MB download
#   asterisk-core-sounds-en-g722 : dry studio speech, one voice, 16 kHz G.722  ~9 MB (always)
#   asterisk-core-sounds-{es,fr,it,ru}-g722 : four more voices, only with AURAL_DATA=full
#   espeak-ng          : synthetic dry speech for bench_quality.py --espeak          ~4 MB (always)
# Idempotent and non-interactive.
set -euo pipefail
need=()
[ -d /usr/share/games/fillets-ng/sound ] && ls /usr/share/games/fillets-ng/sound/*/cs >/dev/null 2>&1 \
    || need+=(fillets-ng-data-cs)
[ -d /usr/share/sonic-pi/samples ] || need+=(sonic-pi-samples)
[ -f /usr/share/asterisk/sounds/en_US_f_Allison/activated.g722 ] || need+=(asterisk-core-sounds-en-g722)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
if [ "${AURAL_DATA:-}" = full ] && [ ! -d /usr/share/games/megaglest/tilesets ]; then
    need+=(megaglest-data)
fi
if [ "${AURAL_DATA:-}" = full ]; then
    [ -f /usr/share/games/supertux2/sounds/rain.wav ] || need+=(supertux-data)
    [ -f /usr/share/games/lincity-ng/sounds/MarketFull1.wav ] || need+=(lincity-ng-data)
    [ -d /usr/share/games/wesnoth/1.16/data/core/sounds/ambient ] || need+=(wesnoth-1.16-data)
    for v in es_MX_f_Allison:es fr_CA_f_June:fr it_IT_m_Carlo:it ru_RU_f_IvrvoiceRU:ru; do
        [ -d "/usr/share/asterisk/sounds/${v%%:*}" ] || need+=("asterisk-core-sounds-${v##*:}-g722")
    done
fi
if ((${#need[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    if [ "$(id -u)" = 0 ]; then SUDO=(); else SUDO=(sudo -n); fi
    "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
    "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}"
fi
