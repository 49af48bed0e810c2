"""The processor contract's safety edges: self-recovery after NaN/inf, the audio-thread rewind,
the caller-owned output of ``process(block, out=)``, integer PCM input, and the pedalboard idiom
(re-prepare on a new format, ``flush()``, ``stream()``, ``latency_for``)."""
from __future__ import annotations

import numpy as np

from aural.engine import Chain, Processor


class Poisonable(Processor):
    """A running sum that turns NaN forever once it sees a sample above 10 (a blown-up filter):
    only clearing its state brings it back."""

    def _prepare(self) -> None:
        self.acc = np.zeros(self.channels)

    def _process(self, x, out) -> None:
        for i in range(x.shape[1]):
            for c in range(x.shape[0]):
                if x[c, i] > 10.0:
                    self.acc[c] = np.nan
                self.acc[c] = 0.5 * self.acc[c] + x[c, i]
                out[c, i] = self.acc[c]

    def _reset(self) -> None:
        self.acc[:] = 0.0


def test_node_producing_nan_recovers_by_itself_and_counts_it():
    p = Poisonable()
    p.prepare(48000, 2, 64)
    x = np.full((2, 64), 0.25, np.float32)
    p.process(x)
    assert p.recoveries == 0
    bad = x.copy()
    bad[0, 10] = 20.0
    y = p.process(bad)
    assert np.isfinite(y).all() and p.nonfinite_out > 0
    assert p.recoveries == 1
    # the next block starts from clean state: same as a fresh node fed the same block
    ref = Poisonable()
    ref.prepare(48000, 2, 64)
    y2 = p.process(x).copy()
    np.testing.assert_array_equal(y2, ref.process(x))
    assert p.recoveries == 1
    # inside a chain the node recovers on its own too
    ch = Chain([Poisonable()])
    ch.prepare(48000, 2, 64)
    ch.process(bad)
    assert ch[0].recoveries == 1
    np.testing.assert_array_equal(ch.process(x), y2)
