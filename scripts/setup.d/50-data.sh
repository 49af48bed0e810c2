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
#   speechmos (PyPI)   : DNSMOS P.835 ONNX model for bench_unseen.py (setup.py dev/bench extras)
#   the source registry (models/data.py; train/tune/score by source), only with AURAL_DATA=full:
#   tuxpaint-stamps-default : spoken descriptions, ~20 languages, 44.1 kHz          ~230 MB
#   klettres-data      : letters and syllables, 19 languages                         ~48 MB
#   fillets-ng-data-nl : Dutch voice acting                                          ~90 MB
#   ufoai-sound, ufoai-music : ambience loops, game score (zips; extracted by
#                        models/data.py into ~/.cache/aural/data)                    ~300 MB
#   bucklespring-data  : keyboard samples (sequenced into typing)                   ~2 MB
#   0ad-data           : audio/ambient and audio/music only, from its 1.4 GB .deb: downloaded,
#                        unpacked into $AURAL_DATA_CACHE (~/.cache/aural/data)/0ad-data and deleted
#                        (needs ~5 GB of temporary space); kept: ~150 MB
#   pyroomacoustics (PyPI): simulated rooms for bench_unseen.py (setup.py dev/bench extras)
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
    [ -d /usr/share/tuxpaint/stamps ] || need+=(tuxpaint-stamps-default)
    [ -d /usr/share/klettres ] || need+=(klettres-data)
    ls /usr/share/games/fillets-ng/sound/*/nl >/dev/null 2>&1 || need+=(fillets-ng-data-nl)
    [ -f /usr/share/games/ufoai/base/0snd.pk3 ] || need+=(ufoai-sound)
    [ -f /usr/share/games/ufoai/base/0music.pk3 ] || need+=(ufoai-music)
    [ -d /usr/share/buckle/wav ] || need+=(bucklespring-data)
    command -v unzip >/dev/null 2>&1 || need+=(unzip)
fi
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
# speechmos (DNSMOS P.835) and pyroomacoustics come with the dev/bench extras of setup.py
if [ "${AURAL_DATA:-}" = full ]; then
    # 0ad-data: only its ambient and music folders, into the data cache; the .deb and the
    # 2.6 GB public.zip are temporaries, deleted when done
    cache=${AURAL_DATA_CACHE:-$HOME/.cache/aural/data}
    if [ ! -d "$cache/0ad-data/audio/ambient" ] || [ ! -d "$cache/0ad-data/audio/music" ]; then
        tmp="$cache/tmp-0ad"
        mkdir -p "$tmp" && rm -rf "${tmp:?}"/*
        (cd "$tmp" && apt-get download 0ad-data \
            && dpkg-deb --fsys-tarfile 0ad-data_*.deb | tar -xO ./usr/share/games/0ad/mods/public/public.zip > p.zip \
            && rm -f 0ad-data_*.deb && mkdir -p ../0ad-data \
            && unzip -q -o p.zip 'audio/ambient/*' 'audio/music/*' -d ../0ad-data) \
            || echo "50-data.sh: 0ad-data not extracted (the benchmark's score split lacks it)" >&2
        rm -rf "$tmp"
    fi
    # ufoai's .pk3 zips: extracted by the registry itself (models/data.py extract_ufoai)
    "$PY" -c 'from aural.models.data import extract_ufoai; extract_ufoai()' 2>/dev/null || true
fi
