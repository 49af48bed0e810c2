"""aural.engine: the block-streaming core (processors, graphs, STFT, Numba kernels, DSP)."""
from .graph import Chain, Mix, as_node
from .hop import HopProcessor
from .params import Param, ParamError, ParamQueue
from .processor import REGISTRY, Processor, register
from .stft import Stft

__all__ = ["Chain", "Mix", "as_node", "HopProcessor", "Param", "ParamError", "ParamQueue",
           "REGISTRY", "Processor", "register", "Stft"]
