"""aural.realtime: live audio (sounddevice duplex stream) and OSC control.

``LiveStream`` runs a graph on a duplex PortAudio stream with a real-time-safe callback;
``OscServer`` exposes the graph's parameters as an OSC namespace (``/aural/<node>/<param>``);
``StatusThread`` prints the one-line status and sends meters to OSC subscribers.
sounddevice and python-osc are imported only when used (the ``live`` extra); every name here
is imported on first use.
"""
__all__ = ["LiveStream", "Latency", "Snapshot", "list_devices", "warm_chain", "OscServer",
           "Namespace", "StatusThread"]


def __getattr__(name):  # lazy: `import aural.realtime.osc` need not import Numba
    if name in ("LiveStream", "Latency", "Snapshot", "list_devices", "warm_chain"):
        from . import stream
        return getattr(stream, name)
    if name in ("OscServer", "Namespace"):
        from . import osc
        return getattr(osc, name)
    if name == "StatusThread":
        from .status import StatusThread
        return StatusThread
    raise AttributeError(name)
