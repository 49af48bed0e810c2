"""The data recipe: which files train and which develop, and the paired examples made from them.

Sources (Debian packages installed by scripts/setup.d/50-data.sh; see shared/data/SOURCES.md):

- speech: fillets-ng-data-cs, ``/usr/share/games/fillets-ng/sound/*/cs/*.ogg`` (22.05 kHz;
  reverberant game voice acting, several actors)
- dry speech: asterisk-core-sounds-{en,es,fr,it,ru}-g722, ``/usr/share/asterisk/sounds/*_*_[fm]_*/``
  ``**/*.g722`` (16 kHz G.722, decoded by PyPI ``g722``; studio prompts, five voices: en/es
  Allison, fr June, it Carlo, ru IvrvoiceRU), used when ``Recipe.dry_speech`` > 0; short prompts
  are joined with 50-300 ms pauses into one excerpt
- music:  sonic-pi-samples, ``/usr/share/sonic-pi/samples/*.flac`` except ambi_*/vinyl_*
- noise:  megaglest-data tileset sounds (rain, wind, insects, birds; if installed), sonic-pi
  ``ambi_*`` and ``vinyl_*``; train only (``NOISE_TRAIN_GLOBS``, if installed): supertux rain and
  waterfall, lincity-ng's market crowds, wesnoth's ambient loops (not its war drums); plus the synthesised
  white/pink/brown/babble, hum, clicks and crackle of :mod:`aural.models.degrade`.

Source registry (:func:`registry`, at the end of this module; models/weights/RECIPE.md "Source
registry"): every source (package + language / voice / folder) with an id and one split of
train / tune / score, split by source (speech by language, noise and music by package), disjoint
by content; ``Recipe(sources="registry")`` trains on its train split and develops on its tune
split; benchmarks/bench_unseen.py scores on its score split.

Rules:

- Every file named in the project's copy of the evaluation list, ``models/reserved.txt``
  (or the file ``$AURAL_RESERVED`` names), every file of the packages reserved whole (alsa-utils,
  linphone-common, codec2-examples, lmms-common), and every file whose bytes equal a reserved
  file's (packages ship one sound under several names: megaglest's rain.ogg is in six tilesets)
  is excluded before anything else.  Duplicates (same bytes) are kept once.
- Train/dev split by source file: a file is in dev when the first byte of sha1(its content) is
  < 256 * dev_fraction (stable across machines and runs; 10 % by default).  The sources of the
  test clips (tests/data/SOURCES.txt) are always dev, never train.
- Examples are deterministic: example ``i`` of split ``s`` comes from
  ``numpy.random.default_rng([seed, s, i])``; the dev set is a fixed list of examples.
"""
from __future__ import annotations

import fnmatch
import glob
import hashlib
import math
import os
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from .degrade import Degrader

__all__ = ["MIXES", "SPLITS", "MixDegrader", "Recipe", "load_audio", "reaches_band", "reserved_files"]

REPO = Path(__file__).resolve().parent.parent
SPLITS = {"train": 0, "dev": 1}
RESERVED_PREFIXES = ("/usr/share/sounds/alsa/", "/usr/share/sounds/linphone/", "/usr/share/codec2/",
                     "/usr/share/lmms/")
SPEECH_GLOBS = ("/usr/share/games/fillets-ng/sound/*/cs/*.ogg",)
# dry studio speech (one directory per voice; the en/en_US/... alternatives are symlinks to these)
DRY_SPEECH_GLOBS = ("/usr/share/asterisk/sounds/*_*_[fm]_*/**/*.g722",)
MUSIC_GLOBS = ("/usr/share/sonic-pi/samples/*.flac",)
NOISE_GLOBS = ("/usr/share/games/megaglest/tilesets/*/sounds/*.ogg",
               "/usr/share/games/megaglest/tilesets/*/sounds/*.wav",
               "/usr/share/sonic-pi/samples/ambi_*.flac", "/usr/share/sonic-pi/samples/vinyl_*.flac")
# Noise files that are music themselves (drones, pads, a piano): not noise to a music model
MUSICAL_NOISE = "ambi_*"
# More real noise, train split only (never dev), so the dev set that the shipped model's numbers
# were measured on stays exactly the same (AURAL_DATA=full in scripts/setup.d/50-data.sh).
# Reserved files and content duplicates of reserved or dev files are still excluded.
NOISE_TRAIN_GLOBS = ("/usr/share/games/supertux2/sounds/rain.wav",
                     "/usr/share/games/supertux2/sounds/waterfall.wav",
                     "/usr/share/games/lincity-ng/sounds/Market*.wav",
                     *(f"/usr/share/games/wesnoth/1.16/data/core/sounds/ambient/{n}.ogg" for n in
                       ("birds1", "birds2", "birds3", "campfire", "morning", "night", "ship")))


# Training mixes (the dev set always uses the ``default`` mix, so scores stay comparable).
# p: probability of each degradation category (Degrader.p); kinds: weights of the noise types.
_MOSTLY_NOISE = {"noise": 0.95, "hum": 0.15, "clicks": 0.2, "crackle": 0.1, "clip": 0.05,
                 "bandlimit": 0.1, "reverb": 0.2}
MIXES: dict[str, dict] = {
    # Degrader's own defaults: noise types white/pink/brown 1 each, real 6, babble 1
    "default": {"p": None, "kinds": {"white": 1, "pink": 1, "brown": 1, "real": 6, "babble": 1}},
    # what DSP does badly: non-stationary noise (babble, real ambience) and impulsive noise;
    # stationary noise, hum and clipping are the DSP chain's (Wiener, DeHum) or nobody's job
    "nonstationary": {"p": dict(_MOSTLY_NOISE),
                      "kinds": {"white": 0.5, "pink": 0.5, "brown": 0.5, "real": 4.5, "babble": 4}},
    # nonstationary plus bursts of one-shots (event_noise from the train split's events sources:
    # impacts, steps, doors), which no other kind has: noise that comes and goes (session 21)
    "bursty": {"p": dict(_MOSTLY_NOISE),
               "kinds": {"white": 0.5, "pink": 0.5, "brown": 0.5, "real": 3.5, "babble": 3,
                         "events": 2.5}},
    # the same with stationary noise as common as in the dev set (30 %), against the model's gap
    # on white, pink and brown noise; a fine-tune on it did not close that gap (RECIPE.md)
    "balanced": {"p": dict(_MOSTLY_NOISE),
                 "kinds": {"white": 1, "pink": 1, "brown": 1, "real": 4.5, "babble": 2.5}},
}


class MixDegrader(Degrader):
    """A :class:`Degrader` with weighted noise types (``kinds``: white/pink/brown/real/babble)."""

    def __init__(self, *a, kinds: dict | None = None, shots: list | None = None, **kw) -> None:
        super().__init__(*a, **kw)
        self.kinds = dict(kinds or MIXES["default"]["kinds"])
        self.shots = list(shots or [])  # one-shot recordings for the "events" kind

    def noise_signal(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        from .degrade import _fit, babble, colored_noise

        avail = {k: w for k, w in self.kinds.items() if w > 0 and not (k == "real" and not self.noises)
                 and not (k == "babble" and not self.babble_speech)
                 and not (k == "events" and not self.shots)}
        names = sorted(avail)
        w = np.array([avail[k] for k in names], np.float64)
        k = names[int(np.searchsorted(np.cumsum(w / w.sum()), rng.random(), side="right").clip(0, len(names) - 1))]
        if k == "real":
            return _fit(self.noises[int(rng.integers(0, len(self.noises)))], n, rng), k
        if k == "babble":
            return babble(n, self.babble_speech, rng), k
        if k == "events":
            return event_noise(n, self.sample_rate, self.shots, rng), k
        return colored_noise(n, {"white": 0.0, "pink": 1.0, "brown": 2.0}[k], rng, self.sample_rate), k


def _reserved_path() -> Path:
    env = os.environ.get("AURAL_RESERVED")
    for p in ([Path(env)] if env else []) + [Path(__file__).resolve().parent / "reserved.txt"]:
        if p.is_file():
            return p
    raise FileNotFoundError("RESERVED.txt not found (set AURAL_RESERVED)")


@lru_cache(maxsize=1)
def reserved_files() -> frozenset[str]:
    """Absolute paths kept for evaluation (from RESERVED.txt)."""
    out = set()
    for line in _reserved_path().read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            continue
        for tok in line.split():
            if tok.startswith("/"):
                out.add(os.path.normpath(tok))
    return frozenset(out)


@lru_cache(maxsize=1)
def reserved_stems() -> frozenset[str]:
    """Reserved paths without their extension: the same recording in another encoding
    (asterisk ships every prompt as .wav, .g722, .gsm, ...) is reserved too."""
    return frozenset(os.path.splitext(p)[0] for p in reserved_files())


ASTERISK = "/usr/share/asterisk/sounds/"


@lru_cache(maxsize=1)
def reserved_prompts() -> frozenset[str]:
    """Names (no extension) of reserved asterisk prompts: the same prompt in every voice and
    language is kept out too (demo-congrats in es/fr/it/ru is the same script)."""
    return frozenset(os.path.splitext(os.path.basename(p))[0] for p in reserved_files()
                     if p.startswith(ASTERISK))


def is_reserved(path: str) -> bool:
    p = os.path.normpath(os.path.realpath(path)) if os.path.exists(path) else os.path.normpath(path)
    q = os.path.normpath(path)
    return (p in reserved_files() or q in reserved_files()
            or os.path.splitext(p)[0] in reserved_stems() or os.path.splitext(q)[0] in reserved_stems()
            or (q.startswith(ASTERISK) and os.path.splitext(os.path.basename(q))[0] in reserved_prompts())
            or any(p.startswith(r) or path.startswith(r) for r in RESERVED_PREFIXES))


def _test_sources() -> set[str]:
    f = REPO / "tests" / "data" / "SOURCES.txt"
    out = set()
    if f.is_file():
        for line in f.read_text(encoding="utf-8").splitlines():
            for tok in line.split():
                if tok.startswith("/"):
                    out.add(os.path.normpath(tok))
    return out


@cache
def content_hash(path: str) -> str:
    """sha1 of a file's bytes (packages ship the same sound under several names and symlinks)."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@lru_cache(maxsize=1)
def reserved_hashes() -> frozenset[str]:
    """Content hashes of the reserved files present on this machine."""
    return frozenset(content_hash(p) for p in reserved_files() if os.path.isfile(p))


def _in_dev(key: str, dev_fraction: float) -> bool:
    return hashlib.sha1(key.encode()).digest()[0] < 256 * dev_fraction


def _read_g722(path: str) -> tuple[np.ndarray, int]:
    """Raw G.722 (64 kbit/s, 16 kHz) as float32 mono, via PyPI ``g722`` (module ``G722``)."""
    try:
        import G722
    except ImportError as e:
        raise RuntimeError(f"{path}: decoding G.722 needs 'pip install g722'") from e
    with open(path, "rb") as f:
        data = f.read()
    x = np.asarray(G722.G722(16000, 64000).decode(data), dtype=np.float32) / 32768.0
    return x, 16000


def reaches_band(x: np.ndarray, sample_rate: int, edge_hz: float, width_hz: float = 3000.0) -> bool:
    """True when the long-term spectrum of ``x`` over the ``width_hz`` below ``edge_hz`` lies
    within 55 dB of its 1-4 kHz level (speech and music: 25-45 dB; a recording band-limited below
    the edge, or lossy-coded: 70 dB and more).  False when ``edge_hz`` is above Nyquist."""
    from scipy.signal import welch

    if edge_hz > sample_rate / 2 or len(x) < 4096:
        return False
    f, p = welch(np.asarray(x, np.float64), sample_rate, nperseg=4096)
    hi = float(np.mean(p[(f >= edge_hz - width_hz) & (f < edge_hz)]))
    lo = float(np.mean(p[(f >= 1000) & (f < 4000)]))
    return 10.0 * np.log10((hi + 1e-30) / (lo + 1e-30)) > -55.0


def load_audio(path: str, sample_rate: int) -> np.ndarray:
    """Decode, mix to mono, resample (polyphase) to sample_rate, float32."""
    import soundfile as sf
    from scipy.signal import resample_poly

    if path.endswith(".g722"):
        x, sr = _read_g722(path)
    else:
        x, sr = sf.read(path, dtype="float32", always_2d=True)
        x = x.mean(axis=1)
    if sr != sample_rate:
        g = math.gcd(int(sr), int(sample_rate))
        x = resample_poly(x, sample_rate // g, sr // g).astype(np.float32)
    return np.ascontiguousarray(x, np.float32)


@dataclass
class Recipe:
    """Train/dev file lists and the paired-example generator.

    sample_rate: model rate.  seconds: example length.  seed: everything random derives from it.
    music_fraction: share of clean examples drawn from music rather than speech.
    train_mix: a key of :data:`MIXES`, the degradation mix of the train split (dev: always the
    Degrader defaults, as given by ``degrader_kw``).
    max_files: cap per kind and split (a random but seeded subset) to bound decode time/memory.
    dry_speech: share of speech excerpts (train and dev) drawn from the dry studio prompts rather
    than the reverberant game speech; 0 keeps every example exactly as before it existed.
    clean_fraction: share of *train* examples left undegraded (input = target, after the level
    change): they teach the model to pass clean speech and music through untouched.  The dev
    split never has them (they would inflate its means); 0 leaves every example unchanged.
    music_safe_noise: in the *train* split, music is never mixed with the musical ambiences of
    the noise list (:data:`MUSICAL_NOISE`: sonic-pi's ambi_* drones, pads and piano), which
    would teach the model that music is noise; speech still gets them.  Off: as before.
    sources: "recipe" (the file lists above: train/dev split by file) or "registry": the source
    registry (:func:`registry`), its ``train`` split as "train" and its ``tune`` split as "dev",
    so that what is chosen on the dev set is chosen on sources training never heard (the
    ``score`` split is never read); a speech file shorter than an example is joined with other
    clips of the same source (one voice), as ``dry_speech`` is.  Default "recipe": every list and
    example exactly as before it existed.
    min_band_hz: speech files whose band ends below this (Hz; :func:`reaches_band`) are never
    drawn as clean targets, so a full-band model does not learn that speech stops at 7 kHz (the
    telephone and 22.05 kHz recordings stay in babble); 0 (default): every file, as before.
    keep_room: share of the TRAINING examples with reverb whose target keeps the room (the dev
    set is unchanged by it); 0 (default): the dry speech, as before.
    """

    sample_rate: int = 16000
    seconds: float = 2.0
    seed: int = 0
    dev_fraction: float = 0.1
    music_fraction: float = 0.2
    max_files: int = 400
    dev_examples: int = 64
    degrader_kw: dict = field(default_factory=dict)
    train_mix: str = "default"
    dry_speech: float = 0.0
    clean_fraction: float = 0.0
    music_safe_noise: bool = False
    sources: str = "recipe"
    min_band_hz: float = 0.0
    keep_room: float = 0.0

    def __post_init__(self) -> None:
        if self.train_mix not in MIXES:
            raise ValueError(f"unknown train_mix {self.train_mix!r} (one of {', '.join(MIXES)})")
        if self.sources not in ("recipe", "registry"):
            raise ValueError(f"unknown sources {self.sources!r} (recipe or registry)")
        self._cache: dict[str, np.ndarray] = {}
        self._siblings: dict[str, list[str]] = {}
        self._band_ok: dict[str, bool] = {}
        self._degraders: dict[str, Degrader] = {}
        if self.sources == "registry":
            self._lists = self._registry_lists()
            return
        self._lists = {kind: self._split(globs, train_globs) for kind, globs, train_globs in
                       (("speech", SPEECH_GLOBS, ()), ("music", MUSIC_GLOBS, ()),
                        ("noise", NOISE_GLOBS, NOISE_TRAIN_GLOBS))}
        # one-shots for the bursty mix (the registry's train-split events packages; own key)
        self._lists["events"] = {"train": [
            f for g in EVENT_TRAIN_GLOBS for f in sorted(glob.glob(g)) if not is_reserved(f)
            and not any(fnmatch.fnmatch(os.path.basename(f), e) for e in WESNOTH_VOICES)], "dev": []}
        # its own key, so the lists (and examples) above never change with it; max 4000 prompts
        self._lists["dry_speech"] = (self._split(DRY_SPEECH_GLOBS, cap=4000)
                                     if self.dry_speech > 0 else {s: [] for s in SPLITS})
        # music excludes the noise-like samples
        for split in SPLITS:
            self._lists["music"][split] = [f for f in self._lists["music"][split]
                                           if not os.path.basename(f).startswith(("ambi_", "vinyl_"))]

    def _registry_lists(self) -> dict[str, dict[str, list[str]]]:
        """{kind: {"train": files, "dev": files}} from the registry's train and tune splits
        (``max_files`` per kind and split, a seeded subset; typing noise is not a file list)."""
        reg = registry()
        rng = np.random.default_rng(self.seed)
        out: dict[str, dict[str, list[str]]] = {"dry_speech": {s: [] for s in SPLITS}}
        # one-shots of the "events" sources, for the bursty mix's event_noise (own key: the
        # clip lists above are the same with or without them)
        out["events"] = {"train": [f for src in split_sources("train", "noise", reg)
                                   if src.form == "events" for f in src.files], "dev": []}
        for kind in ("speech", "music", "noise"):
            out[kind] = {}
            for split, rsplit in (("train", "train"), ("dev", "tune")):
                files = []
                for src in split_sources(rsplit, kind, reg):
                    if src.form != "clip":
                        continue
                    files += src.files
                    for f in src.files:
                        self._siblings[f] = src.files
                if len(files) > self.max_files:
                    idx = np.sort(rng.choice(len(files), self.max_files, replace=False))
                    files = [files[i] for i in idx]
                out[kind][split] = files
        return out

    def _split(self, globs, train_globs=(), cap: int | None = None) -> dict[str, list[str]]:
        files = sorted({os.path.normpath(f) for g in globs for f in glob.glob(g, recursive=True)
                        if os.path.isfile(f)})
        # train-only files come after the split ones, so they can never displace a dev file
        extra = sorted({os.path.normpath(f) for g in train_globs for f in glob.glob(g)
                        if os.path.isfile(f)} - set(files))
        bad = reserved_hashes()
        tests = {content_hash(f) for f in _test_sources() if os.path.isfile(f)}
        out: dict[str, list[str]] = {"train": [], "dev": []}
        seen: set[str] = set()
        for f, train_only in [(f, False) for f in files] + [(f, True) for f in extra]:
            if is_reserved(f):
                continue
            h = content_hash(f)
            if h in bad or h in seen:  # same sound as a reserved file, or a duplicate
                continue
            seen.add(h)
            # split by content, so copies of one sound can never sit on both sides
            if train_only:  # never dev; a test source stays out of training
                if h not in tests:
                    out["train"].append(f)
                continue
            out["dev" if (h in tests or _in_dev(h, self.dev_fraction)) else "train"].append(f)
        rng = np.random.default_rng(self.seed)
        cap = self.max_files if cap is None else cap
        for k in out:
            if len(out[k]) > cap:
                idx = np.sort(rng.choice(len(out[k]), cap, replace=False))
                out[k] = [out[k][i] for i in idx]
        return out

    def files(self, kind: str, split: str) -> list[str]:
        return list(self._lists[kind][split])

    def summary(self) -> dict:
        return {k: {s: len(v) for s, v in d.items()} for k, d in self._lists.items()}

    def audio(self, path: str) -> np.ndarray:
        if path not in self._cache:
            self._cache[path] = load_audio(path, self.sample_rate)
        return self._cache[path]

    def degrader(self, split: str, music_safe: bool = False) -> Degrader:
        """The split's degrader; ``music_safe``: one whose real noise has no musical ambiences."""
        key = f"{split}/music" if music_safe else split
        if key not in self._degraders:
            files = self.files("noise", split)
            if music_safe:
                files = [f for f in files if not fnmatch.fnmatch(os.path.basename(f), MUSICAL_NOISE)]
            noises = [self.audio(f) for f in files]
            noises = [x for x in noises if len(x) > self.sample_rate // 10 and np.any(x)]
            sp = self.files("speech", split)
            rng = np.random.default_rng([self.seed, SPLITS[split], 999])
            pick = rng.choice(len(sp), min(len(sp), 24), replace=False) if sp else []
            babble_speech = [self.audio(sp[i]) for i in pick]
            if split == "train" and self.train_mix != "default":
                mix = MIXES[self.train_mix]
                kw = dict(self.degrader_kw)
                if self.keep_room > 0:
                    kw["keep_room"] = self.keep_room
                if mix["p"] is not None:
                    kw["p"] = dict(mix["p"])
                shots = []
                if mix["kinds"].get("events"):
                    shots = [self.audio(f) for f in self._lists.get("events", {}).get(split, [])]
                    shots = [x for x in shots if len(x) > self.sample_rate // 100 and np.any(x)]
                self._degraders[key] = MixDegrader(self.sample_rate, noises, babble_speech,
                                                   kinds=mix["kinds"], shots=shots, **kw)
            else:
                kw = dict(self.degrader_kw)
                if split == "train" and self.keep_room > 0:
                    kw["keep_room"] = self.keep_room
                self._degraders[key] = Degrader(self.sample_rate, noises, babble_speech, **kw)
        return self._degraders[key]

    def _excerpt(self, rng: np.random.Generator, split: str) -> tuple[np.ndarray, str]:
        n = int(round(self.seconds * self.sample_rate))
        music = self.files("music", split)
        kind = "music" if (music and rng.random() < self.music_fraction) else "speech"
        if kind == "speech" and self.dry_speech > 0 and rng.random() < self.dry_speech:
            dry = self.files("dry_speech", split)
            if not dry:
                raise RuntimeError(f"no dry speech files for {split}: install "
                                   "asterisk-core-sounds-en-g722 (scripts/setup.d/50-data.sh)")
            return self._joined(dry, n, rng), "speech"
        files = self.files(kind, split)
        if not files:
            raise RuntimeError(f"no {kind} files for {split}: run scripts/setup.d/50-data.sh")
        for _ in range(10 if not (self.min_band_hz > 0 and kind == "speech") else 40):
            f = files[int(rng.integers(0, len(files)))]
            x = self.audio(f)
            if kind == "speech" and self.min_band_hz > 0 and not self._wide(f, x):
                continue
            if len(x) < n and kind == "speech" and f in self._siblings:
                return self._joined(self._siblings[f], n, rng), kind  # one voice's short clips
            if len(x) < n:
                x = np.pad(x, (0, n - len(x)))
            s = int(rng.integers(0, len(x) - n + 1))
            seg = x[s:s + n]
            if np.sqrt(np.mean(seg ** 2)) > 1e-3 * (np.max(np.abs(seg)) + 1e-9) and np.max(np.abs(seg)) > 1e-3:
                return seg, kind
        return seg, kind

    def _wide(self, path: str, x: np.ndarray) -> bool:
        """Whether speech file ``path`` (decoded: x) reaches ``min_band_hz`` (cached per file)."""
        if path not in self._band_ok:
            self._band_ok[path] = reaches_band(x, self.sample_rate, self.min_band_hz)
        return self._band_ok[path]

    def _joined(self, files: list[str], n: int, rng: np.random.Generator) -> np.ndarray:
        """n samples of prompts joined with 50-300 ms pauses, from a random point of the first."""
        parts, total = [], 0
        while total < n:
            x = self.audio(files[int(rng.integers(0, len(files)))])
            if not parts and len(x) > 1:
                x = x[int(rng.integers(0, max(1, len(x) // 2))):]
            gap = np.zeros(int(rng.uniform(0.05, 0.3) * self.sample_rate), np.float32)
            parts += [x, gap]
            total += len(x) + len(gap)
        seg = np.concatenate(parts)[:n]
        # prompts differ in level by up to ~10 dB: keep the excerpt's peak (the degrader sets level)
        return np.ascontiguousarray(seg, np.float32)

    def example(self, split: str, i: int) -> tuple[np.ndarray, np.ndarray, dict]:
        """(degraded, clean target, meta) for example i of split (deterministic)."""
        rng = np.random.default_rng([self.seed, SPLITS[split], int(i)])
        clean, kind = self._excerpt(rng, split)
        safe = self.music_safe_noise and split == "train" and kind == "music"
        y, t, meta = self.degrader(split, music_safe=safe)(clean, rng)
        meta["source"] = kind
        if split == "train" and self.clean_fraction > 0:
            # own random stream, so the degraded examples are the same as without clean ones
            if np.random.default_rng([self.seed, SPLITS[split], int(i), 5150]).random() < self.clean_fraction:
                y = t.copy()
                meta = {"level_db": meta.get("level_db", 0.0), "source": kind, "clean": True}
        return y, t, meta

    def batch(self, split: str, start: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        ex = [self.example(split, start + k) for k in range(size)]
        return np.stack([e[0] for e in ex]), np.stack([e[1] for e in ex])

    def dev_set(self) -> tuple[np.ndarray, np.ndarray]:
        """The fixed development set (same examples every epoch and run)."""
        return self.batch("dev", 0, self.dev_examples)

    def category_set(self, category: str, n: int, seconds: float | None = None,
                     noise_kind: str | None = None) -> tuple[np.ndarray, np.ndarray, list[dict]]:
        """n dev examples with exactly one degradation ``category`` (a key of Degrader.p, e.g.
        "noise", "hum", "clicks", "crackle", "clip", "bandlimit", "reverb"); for "noise",
        ``noise_kind`` (white/pink/brown/real/babble) fixes the noise type.  Deterministic (its own
        seed stream per category and kind; clean excerpts from the dev files)."""
        n_samp = int(round((seconds or self.seconds) * self.sample_rate))
        base = self.degrader("dev")
        deg = MixDegrader(base.sample_rate, base.noises, base.babble_speech,
                          kinds={noise_kind: 1} if noise_kind else None, **self.degrader_kw)
        tag = int.from_bytes(hashlib.sha1(f"{category}/{noise_kind}".encode()).digest()[:4], "little")
        xs, ts, metas = [], [], []
        old = self.seconds
        try:
            self.seconds = n_samp / self.sample_rate
            for i in range(n):
                rng = np.random.default_rng([self.seed, SPLITS["dev"], 7777, tag, i])
                clean, kind = self._excerpt(rng, "dev")
                y, t, meta = deg(clean, rng, force=[category])
                meta["source"] = kind
                xs.append(y)
                ts.append(t)
                metas.append(meta)
        finally:
            self.seconds = old
        return np.stack(xs), np.stack(ts), metas

    def category_examples(self, category: str, n: int,
                          noise_kind: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(degraded, clean) like :meth:`category_set`; ``noise_kind="stationary"`` is an equal
        share of white, pink and brown noise (the per-category tables of RECIPE.md)."""
        if noise_kind != "stationary":
            x, t, _ = self.category_set(category, n, noise_kind=noise_kind)
            return x, t
        parts = [self.category_set(category, n // 3 + (i < n % 3), noise_kind=k)
                 for i, k in enumerate(("white", "pink", "brown")) if n // 3 + (i < n % 3) > 0]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


# ============================================================================ source registry
# Every source of audio (a package, and within it a language / voice / folder) has an id and one
# split: "train" (training only), "tune" (choosing and tuning: limits, weights, legs) and "score"
# (publishing only).  The split is by SOURCE, never by file: a held-out language or noise package
# is held out whole, so a benchmark on "score" predicts audio from speakers, languages and noise
# recordings that training and tuning never heard.  Deterministic and documented (RECIPE.md,
# "Source registry"):
#
# - speech: by language, across packages (every voice of a language sits on one side):
#   score = SCORE_LANGS, tune = TUNE_LANGS, every other language train.  The languages the
#   shipped models were trained on (cs: fillets-ng; en/es/fr/it/ru: asterisk) are all train.
# - noise and music: by package (PACKAGE_SPLIT); every package the shipped models were trained
#   on (megaglest, sonic-pi, supertux, lincity, wesnoth) is train.
# - a file is in at most one split: reserved files (by path, stem and content) and the sources
#   of the test clips are dropped, and files with equal bytes are kept once, in the first split
#   of score -> tune -> train that has them (a copy can never leak from score into training).

SCORE_LANGS = ("be", "da", "he", "hu", "ro")
TUNE_LANGS = ("bg", "de", "nb", "nn", "pt")
PACKAGE_SPLIT = {"0ad-data": "score", "bucklespring-data": "score",
                 "ufoai-sound": "tune", "ufoai-music": "tune"}
SPLIT_ORDER = ("score", "tune", "train")
TUXPAINT = "/usr/share/tuxpaint/stamps"
KLETTRES = "/usr/share/klettres"
FILLETS = "/usr/share/games/fillets-ng/sound"
UFOAI_PK3 = "/usr/share/games/ufoai/base/0snd.pk3"
# train-split one-shots for bursty noise (event_noise): wesnoth's weapon and impact sounds (its
# creature voices excluded in packages()), supertux's non-musical ones
WESNOTH_SOUNDS = "/usr/share/games/wesnoth/1.16/data/core/sounds"
SUPERTUX_SOUNDS = "/usr/share/games/supertux2/sounds"
SUPERTUX_EVENTS = ("brick.wav", "cracking.wav", "door.wav", "fall.wav", "fizz.wav", "flip.wav",
                   "flop.ogg", "hop.ogg", "iceblock_bump.wav", "icecrash.ogg", "kick.wav",
                   "locked.ogg", "pop.ogg", "skid.wav", "splash.ogg", "splash.wav", "splat.wav",
                   "squish.wav", "stomp.wav", "switch.ogg", "thud.ogg", "ticking.wav",
                   "trampoline.wav", "turnkey.ogg", "wood.wav")
EVENT_TRAIN_GLOBS = (f"{WESNOTH_SOUNDS}/*.ogg", *(f"{SUPERTUX_SOUNDS}/{n}" for n in SUPERTUX_EVENTS))
WESNOTH_VOICES = ("*-hit*", "*-die*", "*growl*", "*shriek*", "*roar*")
# one-shot household and handling sounds of 0snd.pk3 (no voices, no weapons): the tune split's
# bursty noise, scattered in time by :func:`event_noise` (the score split's is typing)
UFOAI_EVENTS = ("sound/footsteps/", "sound/doors/", "sound/ui/", "sound/misc/break")


def data_cache() -> Path:
    """Folder of audio extracted from archives (ufoai's .pk3, 0ad's public.zip):
    ``$AURAL_DATA_CACHE`` or ``~/.cache/aural/data``."""
    return Path(os.environ.get("AURAL_DATA_CACHE") or Path.home() / ".cache" / "aural" / "data")


UFOAI_MUSIC_PK3 = "/usr/share/games/ufoai/base/0music.pk3"


def extract_ufoai(cache: Path | None = None) -> Path:
    """ufoai-sound's ambience loops (``sound/ambience/*.ogg`` of the zip ``base/0snd.pk3``) in
    ``<cache>/ufoai-sound/ambience`` and ufoai-music's tracks (``music/*.ogg`` of
    ``base/0music.pk3``) in ``<cache>/ufoai-music`` (extracted once; nothing for a package
    that is not installed).  Returns the cache folder."""
    import zipfile

    cache = cache or data_cache()
    for pk3, prefixes, out in ((UFOAI_PK3, ("sound/ambience/",), cache / "ufoai-sound" / "ambience"),
                               (UFOAI_PK3, UFOAI_EVENTS, cache / "ufoai-sound" / "events"),
                               (UFOAI_MUSIC_PK3, ("music/",), cache / "ufoai-music")):
        if not os.path.isfile(pk3) or any(out.glob("*.ogg")):
            continue
        out.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(pk3) as z:
            for name in z.namelist():
                prefix = next((p for p in prefixes if name.startswith(p)), None)
                if prefix and name.endswith(".ogg") and "/" not in name[len(prefix):]:
                    # sound/doors/door1-open.ogg -> doors_door1-open.ogg (folders may share names)
                    flat = name[len("sound/"):].replace("/", "_") if len(prefixes) > 1 else os.path.basename(name)
                    tmp = out / (flat + ".part")
                    tmp.write_bytes(z.read(name))
                    tmp.rename(out / flat)
    return cache


def _lang(code: str) -> str:
    return code.split("_")[0].lower()


def _tux_key(path: str) -> str | None:
    import re
    m = re.search(r"_(?:desc_)?([a-z]{2,3}(?:_[A-Z]{2})?)\.ogg$", os.path.basename(path))
    return _lang(m.group(1)) if m else None


def _dir_key(level: int, lang: bool = False):
    """Source key = the path component ``level`` (negative: from the file name backwards)."""
    def key(path: str) -> str | None:
        parts = Path(path).parts
        k = parts[level] if len(parts) >= -level else None
        return _lang(k) if (k and lang) else k
    return key


def _asterisk_key(path: str) -> str | None:
    # /usr/share/asterisk/sounds/en_US_f_Allison/...: the voice; its language decides the split
    rest = path[len(ASTERISK):] if path.startswith(ASTERISK) else ""
    return rest.split("/")[0] or None


@dataclass(frozen=True)
class Package:
    """A package of the registry: its files (``globs``), what they are (``kind``: speech, music,
    noise; ``form`` "typing": key samples sequenced into typing) and how a file's source key
    (language, voice or folder) is read from its path."""

    name: str
    kind: str
    globs: tuple[str, ...]
    key: object = None            # path -> key (None: the package is one source, key "all")
    by_language: bool = False     # split by the key's language (speech) rather than package
    exclude: tuple[str, ...] = ()  # basename patterns left out
    form: str = "clip"
    note: str = ""

    def source_key(self, path: str) -> str | None:
        return self.key(path) if callable(self.key) else "all"

    def language(self, key: str) -> str:
        return key.split("_")[0].lower() if self.name.startswith("asterisk") else key

    def split_of(self, key: str) -> str:
        if self.by_language:
            lang = self.language(key)
            return "score" if lang in SCORE_LANGS else "tune" if lang in TUNE_LANGS else "train"
        return PACKAGE_SPLIT.get(self.name, "train")


def packages() -> tuple[Package, ...]:
    """The registry's packages (paths of archives extracted into :func:`data_cache`)."""
    c = str(data_cache())
    return (
        Package("fillets-ng-data-cs", "speech", (f"{FILLETS}/*/cs/*.ogg",), lambda p: "cs", True,
                note="reverberant Czech voice acting, 22.05 kHz (shipped models' training)"),
        Package("asterisk-core-sounds-g722", "speech", DRY_SPEECH_GLOBS, _asterisk_key, True,
                note="dry studio prompts, 16 kHz G.722, one voice per language"),
        Package("tuxpaint-stamps-default", "speech",
                (f"{TUXPAINT}/**/*_desc_*.ogg", f"{TUXPAINT}/symbols/math/*_*.ogg",
                 f"{TUXPAINT}/symbols/alphabets/*_*.ogg"), _tux_key, True,
                note="spoken stamp descriptions, letters, numbers; 44.1 kHz, ~1 voice per language"),
        Package("klettres-data", "speech", (f"{KLETTRES}/*/alpha/*.ogg", f"{KLETTRES}/*/syllab/*.ogg"),
                _dir_key(-3, lang=True), True, note="letters and syllables, 44.1 kHz"),
        Package("fillets-ng-data-nl", "speech", (f"{FILLETS}/*/nl/*.ogg",), lambda p: "nl", True,
                note="Dutch voice acting, 22.05 kHz"),
        Package("sonic-pi-samples", "music", MUSIC_GLOBS, exclude=("ambi_*", "vinyl_*"),
                note="CC0 loops and one-shots"),
        Package("ufoai-music", "music", (f"{c}/ufoai-music/*.ogg",),
                note="orchestral/electronic game score (from 0music.pk3)"),
        Package("0ad-data", "music", (f"{c}/0ad-data/audio/music/**/*.ogg",),
                note="game score (from public.zip, 50-data.sh)"),
        Package("megaglest-data", "noise", NOISE_GLOBS[:2], _dir_key(-3)),
        Package("sonic-pi-samples", "noise", NOISE_GLOBS[2:], note="ambi_* and vinyl_*"),
        Package("supertux-data", "noise", NOISE_TRAIN_GLOBS[:2]),
        Package("lincity-ng-data", "noise", NOISE_TRAIN_GLOBS[2:3]),
        Package("wesnoth-1.16-data", "noise", NOISE_TRAIN_GLOBS[3:]),
        Package("ufoai-sound", "noise", (f"{c}/ufoai-sound/ambience/*.ogg",),
                note="machinery, hum, ventilation, fire, water, static, city (from 0snd.pk3)"),
        Package("wesnoth-1.16-data", "noise", EVENT_TRAIN_GLOBS[:1], lambda p: "events",
                exclude=WESNOTH_VOICES, form="events",
                note="weapon, impact and handling one-shots (no voices): bursty training noise"),
        Package("supertux-data", "noise", EVENT_TRAIN_GLOBS[1:],
                lambda p: "events", form="events", note="impacts, doors, steps, splashes"),
        Package("ufoai-sound", "noise", (f"{c}/ufoai-sound/events/*.ogg",), lambda p: "events",
                form="events", note="footsteps, doors, clicks, breaking glass and wood: one-shots "
                "scattered into bursts (from 0snd.pk3)"),
        Package("0ad-data", "noise", (f"{c}/0ad-data/audio/ambient/**/*.ogg",), _dir_key(-2),
                note="rain, thunder, wind, rivers, waves, crowds, birds (from public.zip)"),
        Package("bucklespring-data", "noise", ("/usr/share/buckle/wav/*.wav",), form="typing",
                note="keyboard press/release samples, sequenced into typing"),
    )


@dataclass
class Source:
    id: str  # speech "<package>/<language|voice>", else "<package>/<kind>[/<folder>]"
    package: str
    kind: str
    split: str
    form: str = "clip"
    files: list[str] = field(default_factory=list)


def build_registry(pkgs: tuple[Package, ...] | None = None) -> dict[str, Source]:
    """{source id: Source} with each source's files, deterministic (sorted) and disjoint: by
    source (one split per source) and by content (equal bytes kept once, score first).
    Reserved files (by path, stem, prompt name and content) and the test clips' sources are out."""
    if pkgs is None:
        try:
            extract_ufoai()
        except OSError:
            pass
        pkgs = packages()
    bad = reserved_hashes()
    tests = {content_hash(f) for f in _test_sources() if os.path.isfile(f)}
    found: dict[str, Source] = {}
    for p in pkgs:
        files = sorted({os.path.normpath(f) for g in p.globs for f in glob.glob(g, recursive=True)
                        if os.path.isfile(f)})
        for f in files:
            if any(fnmatch.fnmatch(os.path.basename(f), e) for e in p.exclude):
                continue
            key = p.source_key(f)
            if not key:
                continue
            sid = (f"{p.name}/{key}" if p.kind == "speech" else f"{p.name}/{p.kind}"
                   + ("" if key == "all" else f"/{key}"))
            src = found.setdefault(sid, Source(sid, p.name, p.kind, p.split_of(key), p.form))
            src.files.append(f)
    out: dict[str, Source] = {}
    seen: set[str] = set()
    for split in SPLIT_ORDER:
        for k in sorted(found):
            s = found[k]
            if s.split != split:
                continue
            keep = []
            for f in s.files:
                if is_reserved(f):
                    continue
                h = content_hash(f)
                if h in bad or h in tests or h in seen:
                    continue
                seen.add(h)
                keep.append(f)
            if keep:
                out[k] = Source(s.id, s.package, s.kind, s.split, s.form, keep)
    return dict(sorted(out.items()))


@lru_cache(maxsize=1)
def registry() -> dict[str, Source]:
    """The registry of this machine (cached; see :func:`build_registry`)."""
    return build_registry()


def split_sources(split: str, kind: str | None = None,
                  reg: dict[str, Source] | None = None) -> list[Source]:
    """The sources of ``split`` (train / tune / score), of one ``kind`` if given."""
    if split not in SPLIT_ORDER:
        raise ValueError(f"unknown split {split!r} (one of {', '.join(SPLIT_ORDER)})")
    reg = registry() if reg is None else reg
    return [s for s in reg.values() if s.split == split and (kind is None or s.kind == kind)]


def registry_table(reg: dict[str, Source] | None = None) -> list[dict]:
    """One row per source: id, kind, split, files, minutes (from the files' headers)."""
    import soundfile as sf

    rows = []
    for s in (registry() if reg is None else reg).values():
        sec = 0.0
        for f in s.files:
            try:
                sec += sf.info(f).duration
            except Exception:  # G.722 is headerless: 64 kbit/s
                sec += os.path.getsize(f) / 8000.0 if f.endswith(".g722") else 0.0
        rows.append({"id": s.id, "kind": s.kind, "split": s.split, "files": len(s.files),
                     "minutes": sec / 60.0})
    return rows


def event_noise(n: int, sample_rate: int, shots: list[np.ndarray],
                rng: np.random.Generator) -> np.ndarray:
    """n samples of bursty noise from one-shot recordings (footsteps, doors, clicks): runs of
    2-8 shots of one recording at 1.5-4 per second (a walk, a knock, a clicking), +-4 dB each,
    0.3-1.5 s of silence between runs; sometimes one shot alone.  Like :func:`typing_noise`,
    noise that comes and goes, which a steady-noise estimate cannot follow."""
    y = np.zeros(n, np.float32)
    t = int(rng.uniform(0, 0.5) * sample_rate)
    while t < n:
        x = shots[int(rng.integers(0, len(shots)))]
        runs = 1 if rng.random() < 0.3 else int(rng.integers(2, 9))
        rate = rng.uniform(1.5, 4.0)
        for _ in range(runs):
            g = np.float32(10 ** (rng.uniform(-4, 4) / 20))
            m = min(len(x), n - t)
            y[t:t + m] += g * x[:m]
            t += int(rng.gamma(6.0, 1.0 / (6.0 * rate)) * sample_rate) + 1
            if t >= n:
                break
        t += int(rng.uniform(0.3, 1.5) * sample_rate)
    return y


def typing_noise(n: int, sample_rate: int, keys: list[tuple[np.ndarray, np.ndarray]],
                 rng: np.random.Generator) -> np.ndarray:
    """n samples of typing from (press, release) samples of keys: bursts of 3-12 keystrokes
    at 5-10 per second (gamma-distributed gaps), 0.2-0.9 s pauses, release 50-130 ms after the
    press, +-3 dB per stroke."""
    y = np.zeros(n, np.float32)
    t = int(rng.uniform(0, 0.3) * sample_rate)
    while t < n:
        rate = rng.uniform(5, 10)
        for _ in range(int(rng.integers(3, 13))):
            press, release = keys[int(rng.integers(0, len(keys)))]
            g = np.float32(10 ** (rng.uniform(-3, 3) / 20))
            for s, x in ((t, press), (t + int(rng.uniform(0.05, 0.13) * sample_rate), release)):
                if s < n:
                    m = min(len(x), n - s)
                    y[s:s + m] += g * x[:m]
            t += int(rng.gamma(4.0, 1.0 / (4.0 * rate)) * sample_rate) + 1
            if t >= n:
                break
        t += int(rng.uniform(0.2, 0.9) * sample_rate)
    return y
