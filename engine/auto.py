"""The ``auto`` preset: analyse the input, then build the chain that fits it.

    chain, a = auto_chain_for("take.flac")     # analyse the file (streamed), build its chain
    chain = build_chain(analyse(audio, sr))    # the same from samples (live: the first seconds)
    describe_for_cli(a, chain)                 # the lines `aural enhance -p auto` prints

``auto`` is not a JSON preset: it needs the input, so the CLI, batch and web page resolve it at
processing time (``if preset == AUTO``).  The rules (:func:`build_chain`):

- DeClip only when a hard ceiling was found (automatic level; a Limiter after it when the
  ceiling is within 6 dB of full scale, and output headroom so rebuilt peaks do not clip);
- DeClick only when clicks were counted (>= 12 a minute); threshold 6 (7 for music); then the
  learned DeCrackle (crackle and clicks under the signal) where onnxruntime and its weights are
  there and neural nodes are allowed (``neural`` not False);
- DeThump only when two or more scratch thumps were found (pulses a DeThump node fits), last
  among the repair nodes (as in the ``vinyl`` preset);
- DeHum only with audible hum (2+ harmonics, or a fundamental within 30 dB of the RMS), tuned to its fundamental and harmonics, depth from its level;
- noise reduction only at a low SNR (< 15 dB speech or mixed, < 8 dB music): the neural voice model
  for speech (Wiener when onnxruntime is missing), a gentle linked Wiener (floor -8 dB, as the
  music_denoise preset) for music or mixed content;
- nothing else: clean input gets an empty chain, the identity (its output is its input).
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterable

from .analysis import MAX_SECONDS, Analysis, analyse, analyse_file
from .graph import Chain

__all__ = ["AUTO", "actions", "apply_auto_settings", "auto_chain_for", "auto_chain_for_audio",
           "build_chain", "decrackle_available", "describe_for_cli", "neural_available"]

#: the preset name that means "analyse, then build"
AUTO = "auto"


def neural_available() -> bool:
    """True when the NeuralEnhancer node can be built (onnxruntime imports, the model is there)."""
    try:
        import onnxruntime  # noqa: F401
        from aural.models.runtime import resolve_model
        resolve_model("dsunet-voice")
    except Exception:  # ImportError, a missing model file, a broken runtime
        return False
    return True


def decrackle_available() -> bool:
    """True when the learned DeCrackle node can run (onnxruntime imports, its weights are there)."""
    try:
        import onnxruntime  # noqa: F401
        from aural.models.decrackle import DEFAULT_DECRACKLE_MODEL
    except Exception:
        return False
    return DEFAULT_DECRACKLE_MODEL.is_file()


def _denoiser(a: Analysis, neural: bool | None):
    from .processors import Wiener
    if a.content == "speech":
        if neural is None:
            neural = neural_available()
        if neural:
            from aural.models.enhancer import NeuralEnhancer
            # the lower the SNR, the more the model may take away
            limit = float(min(30.0, max(12.0, 30.0 - a.snr_db)))
            return NeuralEnhancer(name="neural", model="dsunet-voice", provider="cpu",
                                  atten_limit=round(limit, 1))
        return Wiener(name="wiener", floor_db=-18.0, strength=0.75)
    return Wiener(name="wiener", floor_db=-8.0, strength=0.6, rule="lsa", link=True,
                  tonal=True, hiss_gate=True)  # sustained notes kept, only a hiss floor acted on


def build_chain(a: Analysis, neural: bool | None = None) -> Chain:
    """The chain for what ``a`` found (see the module text); an empty Chain for clean input.

    ``neural``: use the neural enhancer for noisy speech and the learned DeCrackle after DeClick
    (None: when they are available; False: DSP only)."""
    from .processors import DeClick, DeClip, DeHum, DeThump, Limiter
    nodes = []
    if a.clipped:
        ceiling_db = 20.0 * math.log10(a.clip_level)
        headroom = float(min(0.0, max(-24.0, -6.0 - ceiling_db)))
        nodes.append(DeClip(name="declip", clip_level=0.0, headroom_db=round(headroom, 1)))
    if a.clicky:
        nodes.append(DeClick(name="declick", threshold=7.0 if a.content == "music" else 6.0,
                             max_click_ms=1.5))
        if neural is not False and decrackle_available():
            from aural.models.decrackle import DeCrackle
            nodes.append(DeCrackle(name="decrackle", amount=1.0))
    if a.hum_audible:
        depth = float(min(60.0, max(20.0, a.hum_above_floor_db + 6.0)))
        # the canceller's own removal width (0.08 Hz: ~4 s averaging) and up to 160 harmonics
        # (8 kHz at 50 Hz): a harmonic without evidence costs nothing
        nodes.append(DeHum(name="dehum", freq_hz=a.hum_hz, harmonics=160,
                           depth_db=round(depth, 1), track=True))
    if a.noisy:
        nodes.append(_denoiser(a, neural))
    if a.thumpy:
        nodes.append(DeThump(name="dethump"))
    if a.clipped and a.clip_level > 10 ** (-6.0 / 20.0):
        nodes.append(Limiter(name="limiter", ceiling_db=-1.0, lookahead_ms=5.0,
                             release_ms=100.0))
    return Chain(nodes, name=AUTO)


def actions(chain: Chain) -> list[str]:
    """Plain-language lines, one per node of an auto chain: what it does, with its settings."""
    out = []
    for node in chain.children:
        kind, v = type(node).__name__, node.v
        if kind == "DeClip":
            out.append(f"{node.name}: rebuild the clipped peaks (DeClip, level found per channel"
                       f", output {v('headroom_db'):+.1f} dB)")
        elif kind == "DeClick":
            out.append(f"{node.name}: remove clicks (DeClick, threshold {v('threshold'):g} sigma,"
                       f" up to {v('max_click_ms'):g} ms)")
        elif kind == "DeCrackle":
            out.append(f"{node.name}: remove the crackle and clicks left under the signal "
                       f"(learned DeCrackle, {v('amount'):.0%} of its estimate)")
        elif kind == "DeHum":
            out.append(f"{node.name}: cancel the {v('freq_hz'):g} Hz hum and its harmonics "
                       f"(up to {int(v('harmonics'))}, each as far as it is present; at most "
                       f"{v('depth_db'):.0f} dB; DeHum, tracking drift)")
        elif kind == "NeuralEnhancer":
            out.append(f"{node.name}: reduce the noise with the neural voice model "
                       f"(at most {v('atten_limit'):.0f} dB off)")
        elif kind == "Wiener":
            out.append(f"{node.name}: reduce the steady noise (Wiener, floor {v('floor_db'):.0f} dB"
                       f", strength {v('strength'):g})")
        elif kind == "DeThump":
            out.append(f"{node.name}: subtract the scratch thumps (DeThump: decaying "
                       f"low-frequency pulses fitted below {v('cutoff_hz'):g} Hz)")
        elif kind == "Limiter":
            out.append(f"{node.name}: keep the rebuilt peaks under {v('ceiling_db'):g} dBFS "
                       "(Limiter)")
        else:
            out.append(f"{node.name}: {kind}")
    if not out:
        out.append("nothing to repair: the output is the input, unchanged")
    return out


def describe_for_cli(a: Analysis, chain: Chain | None = None) -> list[str]:
    """The lines ``aural info`` (analysis only) and ``aural enhance -p auto`` (with the chain)
    print: what was found, then the chain built and what each node does."""
    lines = [f"found: {f}" for f in a.findings()]
    if chain is not None:
        names = " > ".join(n.name for n in chain.children) or "(empty: identity)"
        lines.append(f"chain: {names}")
        lines += [f"does:  {s}" for s in actions(chain)]
    return lines


def apply_auto_settings(chain: Chain, settings: Iterable[str]) -> list[str]:
    """Apply ``node.param=value`` settings to an auto chain, skipping those for nodes the chain
    does not have (the chain differs per file); returns the skipped settings.  A bad parameter
    or value of a node it has raises :class:`aural.engine.presets.PresetError`."""
    from .presets import apply_settings, parse_setting
    have = {n.name for n in chain.children}
    skipped, keep = [], []
    for item in settings:
        addr, _ = parse_setting(item)
        (keep if addr.split(".", 1)[0] in have else skipped).append(item)
    apply_settings(chain, keep)
    return skipped


def auto_chain_for_audio(audio, sample_rate: int,
                         neural: bool | None = None) -> tuple[Chain, Analysis]:
    """(chain, analysis) for samples: a whole signal, or the first seconds of a live input."""
    a = analyse(audio, sample_rate)
    return build_chain(a, neural), a


def auto_chain_for(path: str | os.PathLike, settings: Iterable[str] = (),
                   max_seconds: float = MAX_SECONDS,
                   neural: bool | None = None) -> tuple[Chain, Analysis]:
    """(chain, analysis) for an audio file: :func:`aural.engine.analysis.analyse_file`, then
    :func:`build_chain`, then ``settings`` for the nodes it has (:func:`apply_auto_settings`)."""
    a = analyse_file(path, max_seconds)
    chain = build_chain(a, neural)
    apply_auto_settings(chain, settings)
    return chain, a
