"""aural: real-time audio enhancement and restoration.

    import aural
    chain = aural.load_preset("voice")
    clean = chain(noisy, 48000)          # float32, channels-first, latency-compensated
"""
from aural.engine import Chain, Mix, Param, Processor  # noqa: F401

__version__ = "0.1.0"
