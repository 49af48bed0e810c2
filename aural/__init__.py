"""aural: real-time audio enhancement and restoration.

    import aural
    chain = aural.load_preset("voice")
    clean = chain(noisy, 48000)          # float32, channels-first, latency-compensated
    chain.set("wiener.floor_db", -20)

Every processor class (``aural.Wiener``, ``aural.Limiter``, ...) and the graphs
``aural.Chain`` / ``aural.Mix`` are importable from here; ``aural.read_audio`` /
``aural.write_audio`` read and write files.
"""
from aural.engine import Chain, Mix, Param, ParamError, Processor, register
from aural.engine import processors as _processors
from aural.engine.io import AudioFileError, read_audio, write_audio
from aural.engine.presets import PresetError, from_dict, list_presets, load_preset

__version__ = "0.1.0"

# every processor class: aural.Gain, aural.Wiener, aural.Butterworth, ...
PROCESSORS = sorted(n for n in _processors.__all__
                    if isinstance(getattr(_processors, n), type)
                    and issubclass(getattr(_processors, n), Processor))
globals().update({n: getattr(_processors, n) for n in PROCESSORS})

__all__ = ["Chain", "Mix", "Param", "ParamError", "Processor", "register", "AudioFileError",
           "read_audio", "write_audio", "PresetError", "from_dict", "list_presets",
           "load_preset", "PROCESSORS", "__version__"] + PROCESSORS
