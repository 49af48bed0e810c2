"""Dynamics: gain (smoothed), compressor, look-ahead limiter."""
from __future__ import annotations

import numpy as np

from ..kernels import smooth_coef, smoothed_gain
from ..params import Param
from ..processor import Processor, register

__all__ = ["Gain"]


def db_to_lin(db: float) -> float:
    return float(10.0 ** (db / 20.0))


@register
class Gain(Processor):
    """Static gain in dB, glided per sample over ``smoothing_ms`` (no zipper noise)."""

    params = (Param("gain_db", 0.0, unit="dB", range=(-96.0, 48.0), smoothing_ms=20.0,
                    doc="gain applied to every channel"),)

    def _prepare(self) -> None:
        self._g = np.array([db_to_lin(self.v("gain_db"))])
        self._coef = smooth_coef(self.spec("gain_db").smoothing_ms, float(self.sample_rate))

    def _reset(self) -> None:
        self._g[0] = db_to_lin(self.v("gain_db"))

    def _process(self, x: np.ndarray, out: np.ndarray) -> None:
        smoothed_gain(x, out, self._g, db_to_lin(self.v("gain_db")), self._coef)
