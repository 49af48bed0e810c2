"""De-hum: removes mains hum (50/60 Hz and its harmonics) with a tracking notch cascade.

Filter.  One notch per harmonic k*f0 (k = 1..``harmonics``, only those below 0.45 fs), each the
tunable all-pass-based notch of Regalia & Mitra: ``H(z) = (1 + A(z)) / 2`` with A a second-order
lattice all-pass, centre ``k1 = -cos(w_k)`` and -3 dB width ``bandwidth_hz`` set by ``k2``.  The
lattice keeps its state meaningful when the centre moves, so tracking retunes it without
transients.  The output is ``x - g (x - notched)``: g glides (50 ms) to ``1 - 10^(-depth_db/20)``,
so ``depth_db`` is the attenuation at the hum frequencies (a softer setting leaves some hum for a
more natural sound); outside the narrow notches the signal passes unchanged.  Zero latency.

Detection (``freq_hz = 0``).  The channel mean is analysed in consecutive 200 ms Hann windows by
Goertzel filters at the first harmonics of 50 Hz and of 60 Hz (those the two families share, the
multiples of 300 Hz, are left out of the comparison).  Hum is stationary, so from one window to
the next each of its components advances in phase by a fixed amount; speech and music do not.
For every harmonic the product ``X_m conj(X_{m-1})`` (phase advance removed) is averaged over
about a second: its magnitude is the *coherent* power.  A family is detected when its coherent
power exceeds the other family's by 6 dB, is more than half of its total power (coherence), is
above -90 dBFS, its phase advance puts the fundamental within +-1 % of 50 or 60 Hz (a steady
bass note of 49 Hz or a drone is as coherent as hum, but not there), and this holds for 3 windows
in a row; the cascade then fades in.  A detection switches to the other family by the same test;
after 3 s in which the detected hum fails it (the hum stopped, or it was a tone that moved) the
cascade fades out again, so music that only resembled hum for a moment is not notched for good.
Everything is counted in samples, so the result does not depend on the host
block size.

Tracking (``track``).  The averaged phase advance of harmonic k is ``2 pi k df W / fs`` for a hum
at ``f0 + df``: df is read from the fundamental and refined by the higher harmonics (phase
unwrapped against the running estimate), limited to +-1 % (mains stays within +-0.5 %), and the
notches are retuned at each window boundary.  ``detected_hz`` is the tracked fundamental
(0.0 while no hum has been detected).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..kernels import smooth_coef
from ..params import Param
from ..processor import Processor, register

__all__ = ["DeHum"]

HMAX = 40            # most notches
KMAX = 12            # most analysed harmonics per family
WINDOW_S = 0.2       # analysis window
AVG_WINDOWS = 10.0   # averaging time constant, in windows
CONFIRM = 3          # consecutive confident windows before a (re)detection
FAST = math.exp(-1.0 / 4.0)  # recent-evidence average (time constant 4 windows)
# zacc[family, harmonic, :]: 0-2 slow averages of the rotated product (re, im) and of its
# magnitude; 3-5 the same with FAST; 6 this window's magnitude; 7 the coherent power when the
# detected hum was last confirmed
DROP = 0.25         # a harmonic's power now / its coherent power when confirmed (-6 dB): gone
RELEASE = 15         # windows without evidence (3 s) before an automatic detection is dropped
RATIO = 4.0          # coherent-power ratio of the winning family (6 dB)
COHERENCE = 0.5      # coherent / total power of the winning family
FLOOR_AMP = 3e-5     # -90 dBFS: quieter hum is ignored
TRACK_RANGE = 0.01   # +-1 % around the nominal fundamental
GAIN_MS = 50.0       # fade of the notch cascade


@njit(cache=True, nogil=True)
def _tune(kc, f0, nh_max, bw, fs) -> int:
    """Set the lattice coefficients of the notches at k*f0; returns how many are active."""
    nh = 0
    t = math.tan(math.pi * bw / fs)
    k2 = (1.0 - t) / (1.0 + t)
    for k in range(1, nh_max + 1):
        f = k * f0
        if f * (1.0 + TRACK_RANGE) >= 0.45 * fs or f + 2.0 * bw >= 0.5 * fs:
            break
        kc[k - 1, 0] = -math.cos(2.0 * math.pi * f / fs)
        kc[k - 1, 1] = k2
        nh = k
    return nh


@njit(cache=True, nogil=True)
def _setup_analysis(fams, nfam, ka, gcos, gcs, theta, fs, w) -> None:
    """Goertzel coefficients for the harmonics of the analysed families."""
    for f in range(nfam):
        for k in range(ka):
            om = 2.0 * math.pi * (k + 1) * fams[f] / fs
            gcos[f, k] = 2.0 * math.cos(om)
            gcs[f, k, 0] = math.cos(om)
            gcs[f, k, 1] = math.sin(om)
            th = om * w
            theta[f, k] = th - 2.0 * math.pi * math.floor(th / (2.0 * math.pi))


@njit(cache=True, nogil=True)
def _estimate_df(zacc, f, ka, est, w, fs, floor) -> float:
    """Offset (Hz) of family f's fundamental from nominal, from the averaged phase advances of
    its coherent harmonics, fundamental first (each unwrapped against the running estimate
    ``est``), weighted by inverse variance; nan when no harmonic is coherent."""
    num = 0.0
    den = 0.0
    for k in range(ka):
        zr = zacc[f, k, 0]
        zi = zacc[f, k, 1]
        zm = math.sqrt(zr * zr + zi * zi)
        if zm < COHERENCE * zacc[f, k, 2] or zm <= floor * 1e-3:
            continue
        kk = k + 1.0
        scale = 2.0 * math.pi * kk * w / fs
        pred = scale * est
        psi = math.atan2(zi, zr) - pred
        psi -= 2.0 * math.pi * math.floor((psi + math.pi) / (2.0 * math.pi))
        d = (psi + pred) / scale
        # inverse variance of this harmonic's estimate: its coherent-to-incoherent power, k^2
        noise = zacc[f, k, 2] - zm
        noise = max(noise, 1e-3 * zacc[f, k, 2])
        wgt = kk * kk * zm / noise
        num += wgt * d
        den += wgt
        est = num / den
    if den > 0.0:
        return est
    return math.nan


@njit(cache=True, nogil=True)
def _end_window(fams, nfam, ka, gz, gcs, theta, prev, zacc, ist, fst, kc, nh_max, bw, fs, w,
                alpha, track, auto) -> None:
    """Window boundary: update the coherent averages, decide the family, track the frequency."""
    nw = ist[4]
    for f in range(nfam):
        for k in range(ka):
            s1 = gz[f, k, 0]
            s2 = gz[f, k, 1]
            yre = s1 - gcs[f, k, 0] * s2
            yim = gcs[f, k, 1] * s2
            gz[f, k, 0] = 0.0
            gz[f, k, 1] = 0.0
            if nw > 0:
                pre = prev[f, k, 0]
                pim = prev[f, k, 1]
                # y_m conj(y_{m-1}), with the nominal advance removed
                qre = yre * pre + yim * pim
                qim = yim * pre - yre * pim
                c = math.cos(theta[f, k])
                s = math.sin(theta[f, k])
                rre = qre * c + qim * s
                rim = qim * c - qre * s
                mag = math.sqrt(yre * yre + yim * yim) * math.sqrt(pre * pre + pim * pim)
                zacc[f, k, 0] = alpha * zacc[f, k, 0] + (1.0 - alpha) * rre
                zacc[f, k, 1] = alpha * zacc[f, k, 1] + (1.0 - alpha) * rim
                zacc[f, k, 2] = alpha * zacc[f, k, 2] + (1.0 - alpha) * mag
                zacc[f, k, 3] = FAST * zacc[f, k, 3] + (1.0 - FAST) * rre
                zacc[f, k, 4] = FAST * zacc[f, k, 4] + (1.0 - FAST) * rim
                zacc[f, k, 5] = FAST * zacc[f, k, 5] + (1.0 - FAST) * mag
                zacc[f, k, 6] = mag
            prev[f, k, 0] = yre
            prev[f, k, 1] = yim
    ist[4] = nw + 1
    if nw < 2:
        return
    floor = (FLOOR_AMP * w / 4.0) ** 2
    cur = ist[1]
    if auto:
        coh0 = 0.0
        tot0 = 0.0
        coh1 = 0.0
        tot1 = 0.0
        for k in range(ka):
            if ((k + 1) * 50) % 300 != 0:
                coh0 += math.sqrt(zacc[0, k, 0] ** 2 + zacc[0, k, 1] ** 2)
                tot0 += zacc[0, k, 2]
            if ((k + 1) * 60) % 300 != 0:
                coh1 += math.sqrt(zacc[1, k, 0] ** 2 + zacc[1, k, 1] ** 2)
                tot1 += zacc[1, k, 2]
        cand = 0 if coh0 >= coh1 else 1
        ch = coh0 if cand == 0 else coh1
        co = coh1 if cand == 0 else coh0
        ta = tot0 if cand == 0 else tot1
        confident = ch > RATIO * co and ch > COHERENCE * ta and ch > floor
        if confident:
            # mains hum sits within +-1 % of 50 or 60 Hz; a steady tone near it (a bass note of
            # 49 Hz, a synth drone) is as coherent, but its phase advance says where it really is
            start = fst[0] - fams[cand] if cand == cur else 0.0
            df = _estimate_df(zacc, cand, ka, start, w, fs, floor)
            confident = df == df and abs(df) <= TRACK_RANGE * fams[cand]
        if confident:
            # and it is there now (the slow average remembers a hum for seconds after it
            # stopped): the last ~4 windows alone are coherent, and the harmonics that carry
            # most of the hum still carry at least DROP of the coherent power they had when it
            # was last confirmed (for a new detection: of the average itself)
            chf = 0.0
            taf = 0.0
            held = 0.0
            ref = 0.0
            fam = fams[cand]
            for k in range(ka):
                if ((k + 1) * fam) % 300 != 0:
                    chf += math.sqrt(zacc[cand, k, 3] ** 2 + zacc[cand, k, 4] ** 2)
                    taf += zacc[cand, k, 5]
                    if cand == cur:
                        r = zacc[cand, k, 7]
                    else:  # a new detection: against the averaged coherent power itself
                        r = math.sqrt(zacc[cand, k, 0] ** 2 + zacc[cand, k, 1] ** 2)
                    ref += r
                    if zacc[cand, k, 6] > DROP * r:
                        held += r
            confident = chf > COHERENCE * taf and chf > floor and held >= 0.5 * ref
        if confident:
            if ist[2] == cand:
                ist[3] += 1
            else:
                ist[2] = cand
                ist[3] = 1
            if ist[3] >= CONFIRM and cand != cur:
                cur = cand
                ist[1] = cur
                fst[0] = fams[cur]
                ist[5] = _tune(kc, fst[0], nh_max, bw, fs)
            if cand == cur:
                ist[6] = 0
                for k in range(ka):
                    zacc[cur, k, 7] = math.sqrt(zacc[cur, k, 0] ** 2 + zacc[cur, k, 1] ** 2)
        else:
            ist[3] = 0
        if not (confident and cand == cur) and cur >= 0:
            ist[6] += 1
            if ist[6] >= RELEASE:  # no evidence of this hum for RELEASE windows: fade out
                cur = -1
                ist[1] = -1
                ist[6] = 0
    if cur < 0 or track == 0:
        return
    # frequency tracking from the averaged phase advances, fundamental first
    fnom = fams[cur]
    est = _estimate_df(zacc, cur, ka, fst[0] - fnom, w, fs, floor)
    if est == est:  # not nan: at least one coherent harmonic
        lim = TRACK_RANGE * fnom
        est = min(est, lim)
        est = max(est, -lim)
        f0 = fnom + est
        if abs(f0 - fst[0]) > 1e-6 * fnom:
            fst[0] = f0
            ist[5] = _tune(kc, f0, nh_max, bw, fs)


@njit(cache=True, nogil=True)
def dehum_block(x, out, nst, kc, fams, gz, gcos, gcs, theta, prev, zacc, win, ist, fst, nfam, ka,
                nh_max, bw, fs, alpha, track, auto, g_coef) -> None:
    """Process one block: analysis (window boundaries counted in samples) and notch cascade."""
    c, n = x.shape
    w = win.shape[0]
    inv_c = 1.0 / c
    for i in range(n):
        # analysis on the channel mean
        m = 0.0
        for ch in range(c):
            m += x[ch, i]
        xv = m * inv_c * win[ist[0]]
        for f in range(nfam):
            for k in range(ka):
                s = xv + gcos[f, k] * gz[f, k, 0] - gz[f, k, 1]
                gz[f, k, 1] = gz[f, k, 0]
                gz[f, k, 0] = s
        ist[0] += 1
        if ist[0] == w:
            ist[0] = 0
            _end_window(fams, nfam, ka, gz, gcs, theta, prev, zacc, ist, fst, kc, nh_max, bw, fs,
                        w, alpha, track, auto)
        # gain glide
        g = fst[1]
        gt = fst[2] if ist[1] >= 0 else 0.0
        if g != gt:
            g = gt + g_coef * (g - gt)
            if abs(g - gt) < 1e-9:
                g = gt
            fst[1] = g
        nh = ist[5]
        for ch in range(c):
            v = x[ch, i]
            y = v
            for k in range(nh):
                k1 = kc[k, 0]
                k2 = kc[k, 1]
                d1 = nst[ch, k, 0]
                d2 = nst[ch, k, 1]
                e2 = y - k2 * d2
                ap = k2 * e2 + d2
                e1 = e2 - k1 * d1
                nst[ch, k, 1] = k1 * e1 + d1
                nst[ch, k, 0] = e1
                y = 0.5 * (y + ap)
            if g == 0.0:
                out[ch, i] = v
            else:
                out[ch, i] = v - g * (v - y)
        # keep the filter state clean of denormals
        if i == n - 1:
            for ch in range(c):
                for k in range(nh):
                    for j in range(2):
                        if abs(nst[ch, k, j]) < 1e-30:
                            nst[ch, k, j] = 0.0


@register
class DeHum(Processor):
    """Mains-hum remover: notch cascade at the harmonics of 50/60 Hz (detected) or a given
    fundamental, tracking mains drift.  Zero latency.  ``detected_hz``: the fundamental being
    removed (0.0 while auto-detection has found none)."""

    params = (
        Param("freq_hz", 0.0, unit="Hz", range=(0.0, 500.0),
              doc="hum fundamental; 0 detects 50 or 60 Hz automatically (values 0..20 mean 20)"),
        Param("harmonics", 8, unit="", range=(1, HMAX), kind="int",
              doc="number of harmonics notched (those above 0.45 fs are dropped)"),
        Param("bandwidth_hz", 3.0, unit="Hz", range=(0.5, 20.0),
              doc="-3 dB width of each notch (narrower keeps more signal, settles slower)"),
        Param("depth_db", 60.0, unit="dB", range=(0.0, 100.0), smoothing_ms=GAIN_MS,
              doc="attenuation at the hum frequencies (0 dB: off)"),
        Param("track", True, kind="bool",
              doc="follow the exact hum frequency (mains drift, +-1 %)"),
    )

    def _prepare(self) -> None:
        c = self.channels
        fs = float(self.sample_rate)
        self._w = round(WINDOW_S * fs)
        self._win = np.hanning(self._w + 2)[1:-1].astype(np.float64)
        self._nst = np.zeros((c, HMAX, 2), np.float64)
        self._kc = np.zeros((HMAX, 2), np.float64)
        self._fams = np.zeros(2, np.float64)
        self._gz = np.zeros((2, KMAX, 2), np.float64)
        self._gcos = np.zeros((2, KMAX), np.float64)
        self._gcs = np.zeros((2, KMAX, 2), np.float64)
        self._theta = np.zeros((2, KMAX), np.float64)
        self._prev = np.zeros((2, KMAX, 2), np.float64)
        self._zacc = np.zeros((2, KMAX, 8), np.float64)
        self._ist = np.zeros(7, np.int64)
        self._fst = np.zeros(3, np.float64)
        self._alpha = math.exp(-1.0 / AVG_WINDOWS)
        self._gcoef = smooth_coef(GAIN_MS, fs)
        self._configure()

    def _configure(self) -> None:
        """(Re)start detection for the current freq_hz/harmonics/bandwidth (no allocation)."""
        fs = float(self.sample_rate)
        f = self.v("freq_hz")
        self._auto = f <= 0.0
        if self._auto:
            self._fams[0] = 50.0
            self._fams[1] = 60.0
            self._nfam = 2
        else:
            self._fams[0] = max(20.0, f)
            self._fams[1] = 0.0
            self._nfam = 1
        top = 60.0 if self._auto else self._fams[0]
        self._ka = int(max(1, min(KMAX, int(self.v("harmonics")),
                                  int(0.45 * fs / (top * (1.0 + TRACK_RANGE))))))
        _setup_analysis(self._fams, self._nfam, self._ka, self._gcos, self._gcs, self._theta, fs,
                        self._w)
        self._gz[:] = 0.0
        self._prev[:] = 0.0
        self._zacc[:] = 0.0
        self._ist[:] = 0
        self._ist[1] = -1 if self._auto else 0
        self._ist[2] = -1
        self._fst[0] = self._fams[0]
        self._fst[1] = 0.0
        self._fst[2] = 1.0 - 10.0 ** (-self.v("depth_db") / 20.0)
        self._ist[5] = _tune(self._kc, self._fst[0], int(self.v("harmonics")),
                             self.v("bandwidth_hz"), fs)

    def _reset(self) -> None:
        self._nst[:] = 0.0
        self._configure()

    def _on_param(self, name: str, value: float) -> None:
        if not self.prepared:
            return
        if name == "freq_hz":
            self._configure()
        elif name in ("harmonics", "bandwidth_hz"):
            if name == "harmonics":
                top = 60.0 if self._auto else self._fams[0]
                self._ka = int(max(1, min(KMAX, int(value),
                                          int(0.45 * self.sample_rate / (top * 1.01)))))
            self._ist[5] = _tune(self._kc, self._fst[0], int(self.v("harmonics")),
                                 self.v("bandwidth_hz"), float(self.sample_rate))
        elif name == "depth_db":
            self._fst[2] = 1.0 - 10.0 ** (-value / 20.0)

    def _process(self, x: np.ndarray, out: np.ndarray) -> None:
        dehum_block(x, out, self._nst, self._kc, self._fams, self._gz, self._gcos, self._gcs,
                    self._theta, self._prev, self._zacc, self._win, self._ist, self._fst,
                    self._nfam, self._ka, int(self.v("harmonics")), self.v("bandwidth_hz"),
                    float(self.sample_rate), self._alpha, int(self.v("track")), self._auto,
                    self._gcoef)

    @property
    def detected_hz(self) -> float:
        """The hum fundamental being removed (tracked), or 0.0 while none is detected."""
        if not self.prepared or self._ist[1] < 0:
            return 0.0
        return float(self._fst[0])

    @property
    def notches(self) -> int:
        """Number of active notches."""
        return int(self._ist[5]) if self.prepared else 0
