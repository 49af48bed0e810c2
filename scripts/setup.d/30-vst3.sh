#!/usr/bin/env bash
# Installs a real VST3 plugin for the pedalboard-bridge tests: Dragonfly Reverb (GPL-3), from
# Debian's archive.  Debian bookworm has no VST3 packages, so the .deb of a newer release is
# downloaded with apt using a private, temporary apt state (no change to the system's sources
# or libraries) and unpacked with `dpkg -x` into the project folder build/vst3 (git-ignored).
# Its runtime libraries (libgl1, libx11-6, libxext6, libxrandr2) come from the system's own
# release.  Idempotent: does nothing when the plugins are already there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEST="$ROOT/build/vst3"
PKG=dragonfly-reverb-vst3
CHECK="$DEST/usr/lib/vst3/DragonflyPlateReverb.vst3/Contents/x86_64-linux/DragonflyPlateReverb.so"
export DEBIAN_FRONTEND=noninteractive

if [ "$(dpkg --print-architecture 2>/dev/null || echo unknown)" != "amd64" ]; then
    echo "30-vst3: the test VST3 is packaged here for amd64 only; this machine is $(dpkg --print-architecture)" >&2
    exit 1
fi

# 1. runtime libraries of the plugin, from the system's release
missing=()
for lib in libgl1 libx11-6 libxext6 libxrandr2; do
    dpkg-query -W -f='${Status}' "$lib" 2>/dev/null | grep -q "install ok installed" || missing+=("$lib")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "30-vst3: installing ${missing[*]}"
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ -f "$CHECK" ]; then
    echo "30-vst3: Dragonfly Reverb VST3 already in $DEST"
    exit 0
fi

# 2. the plugin package itself, from a newer Debian release, with a private apt state
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/lists/partial" "$WORK/cache/archives/partial" "$WORK/deb"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
APT_OPTS=(-o "Dir::Etc::SourceList=$WORK/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
          -o "Dir::State::Lists=$WORK/lists" -o "Dir::Cache=$WORK/cache"
          -o "Dir::State::status=/var/lib/dpkg/status" -o "APT::Sandbox::User=root"
          -o "Debug::NoLocking=1" -o "Acquire::Languages=none")
ok=""
for suite in trixie forky testing sid; do
    echo "deb [signed-by=$KEYRING] http://deb.debian.org/debian $suite main" > "$WORK/sources.list"
    if apt-get "${APT_OPTS[@]}" update -qq >/dev/null 2>"$WORK/err" \
        && (cd "$WORK/deb" && apt-get "${APT_OPTS[@]}" download "$PKG" >/dev/null 2>>"$WORK/err"); then
        ok="$suite"
        break
    fi
    rm -f "$WORK"/deb/*.deb
done
if [ -z "$ok" ]; then
    echo "30-vst3: could not download $PKG from Debian (trixie/forky/testing/sid):" >&2
    cat "$WORK/err" >&2
    exit 1
fi
deb="$(ls "$WORK"/deb/*.deb)"
rm -rf "$DEST.tmp"
mkdir -p "$DEST.tmp"
dpkg -x "$deb" "$DEST.tmp"
rm -rf "$DEST"
mv "$DEST.tmp" "$DEST"
test -f "$CHECK"
echo "30-vst3: installed $(basename "$deb") ($ok) into $DEST"
