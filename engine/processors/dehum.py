"""De-hum: removes mains hum (50/60 Hz and its harmonics) by subtracting the estimated hum.

Canceller.  The hum is modelled as ``sum_k 2 Re(c_k exp(j k phi(t)))``: one oscillator
``phi`` at the tracked fundamental, and per channel and harmonic k = 1..``harmonics`` (up to
0.45 fs: 160 harmonics of 50 Hz reach 8 kHz) a complex amplitude c_k, amplitude and phase of
that harmonic, estimated on its own (odd/even weighting and every other harmonic profile come
out of the data, nothing is assumed).  Each c_k is a closed-loop LMS estimate with a step that
starts as a running mean (1 / n) and settles at ``1 / (tau fs)``, ``tau = 1 / (pi *
bandwidth_hz)`` (4 s at the default 0.08 Hz): the subtraction is a notch only ~0.08 Hz wide,
and a note or a syllable that passes a harmonic for a few hundred ms hardly enters the
estimate.  Every 200 ms window:

- each harmonic gets a weight ``1 - BETA * var / |c_k|^2`` (0..1), var the variance of the
  estimate (what else near k f0 leaks into it, predicted from the residual there in a 50 ms and
  in a 1 s average, the lesser: a steady line some Hz off leaks less than its 50 ms power says;
  averaged over the estimate's own horizon): a harmonic that is really hum is subtracted whole,
  one whose estimate is mostly leaked music or speech is left alone;
- frequency-locked loop: the phase advance over the last second of each harmonic's fast
  estimate (c_k plus the 50 ms residual estimate) measures the hum's frequency against the
  oscillator's mean frequency over that second; the oscillator moves 30 % of the way
  (harmonics weighted by k^2 |c_k|^2 and their weight); with auto-detection it stays within
  0.01 Hz of the detector's estimate (a drone partial near one harmonic cannot drag it), and a
  canceller weighting no harmonic 0.05 Hz or more away from it for 1 s jumps there;
- phase lock: the slow estimates are turned towards the phase of the fast ones, all harmonics
  by one fundamental phase step (20 %), so a drift of the mains frequency does not leave them
  behind;
- change: when the 50 ms residual at the weighted harmonics is coherent with the estimates
  (each harmonic's residual-along-estimate ratio, clipped to +-1, power-weighted: |mean| > 0.8
  for 3 windows), the hum stopped or changed level: the averages restart as running means (and
  a stopped hum is released sooner); music loud near one harmonic cannot outvote the rest.

With a given fundamental (``freq_hz``) the canceller starts at it from the first sample; for
its first 3 s the detector's phase-advance estimate of the frequency (2 s averages) resets the
oscillator when they differ by more than 0.01 Hz (the FLL alone acquires a far-off start
slowly under loud music).

The output is ``x - g sum_k w_k 2 Re(c_k exp(j k phi))``; g glides (50 ms) to ``1 -
10^(-depth_db/20)`` once the estimates have run 250 ms.  Outside the hum's lines the signal
passes unchanged; zero latency.

Detection (``freq_hz = 0``).  The channel mean is analysed in consecutive 200 ms Hann windows by
Goertzel filters at the first 12 harmonics of 50 Hz and of 60 Hz (the multiples of 300 Hz,
shared by both, are left out of the family comparison).  Hum is stationary, so from one window
to the next each of its components advances in phase by a fixed amount; speech and music do
not.  For every harmonic the product ``X_m conj(X_{m-1})`` (nominal advance removed) is averaged
over about 2 s: its magnitude is the *coherent* power, its angle the frequency offset.  The
fundamental is estimated from the low harmonics whose advance is unambiguous (k <= 4), then
refined by every coherent harmonic that agrees with it (within 0.03 Hz or 0.35 rad, never
more than 0.1 Hz; one that disagrees is another steady partial, or a kick drum on the
fundamental).  A family whose series locks outside +-1 % of nominal counts no coherent power.  A family is confident when the coherent power of its
agreeing harmonics beats the other family's by 2x, its agreeing harmonics' mean coherence is
>= 0.3 (or a pure fundamental carries 80 % of it), at least two harmonics agree and one of them
is k <= 3 (a steady note whose overtones happen to sit on high mains harmonics is not hum), the
fundamental lies within +-1 % of 50 or 60 Hz, the last ~4 windows are coherent and the
harmonics still carry what they carried when last confirmed; 3 confident windows in a row
detect it and start the canceller (at the detector's frequency).  After 3 s without confidence
(and without the canceller's own evidence: two harmonics weighted >= 0.5, one of them k <= 3)
the detection is released and the output fades back to the input.  Everything is counted in
samples, so the result does not depend on the host block size.  ``detected_hz`` is the tracked
fundamental (0.0 while no hum has been detected); ``harmonic_weights`` the per-harmonic weights.

File mode (``learn``).  A causal canceller spends the first seconds of a file detecting the hum
and converging (the averages run ~4 s), so a file's opening keeps most of its hum.  Given the
head of the stream before it plays (``aural enhance``, ``aural batch`` and the web page do this
through ``engine.learn``), ``learn`` runs a twin DeHum backwards over the first ``LEARN_S``
(8 s): hum reversed in time is still hum, and by the time the backward pass reaches the start it
has converged (with auto-detection, only when a forward pass over the head detects the same
fundamental: a decaying note played backwards can look like a steady line).  While the stream
is inside that head its output glides (raised cosine, 3-5 s) from the backward pass to the
node's own: the opening is de-hummed as well as the rest.  Every input sample is compared with
the learned head, so a stream that is not that file (or a rewind) drops the head and is
processed exactly as without ``learn``; any parameter change drops it too.  Block-size
invariant: the head is indexed by the stream position.

Known limit: a loop that repeats sample-exactly with a period of a whole number of mains
cycles (a drum machine at 120 bpm: lines every 2 Hz, on 50 and 60 Hz too) holds steady lines
on the mains harmonics; a kick tuned near 50 Hz on such a loop can be taken for hum.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..kernels import matches_at, smooth_coef
from ..params import Param
from ..processor import Processor, register

__all__ = ["DeHum"]

HMAX = 200           # most harmonics removed
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
RATIO = 2.0          # coherent-power ratio of the winning family (3 dB)
COHERENCE = 0.5      # coherent / total power of the winning family
FLOOR_AMP = 3e-5     # -90 dBFS: quieter hum is ignored
TRACK_RANGE = 0.01   # +-1 % around the nominal fundamental
GAIN_MS = 50.0       # fade of the canceller's output
AGREE = 0.03         # Hz: harmonics of one hum agree on its fundamental within this
AGREE_RAD = 0.35     # ... or their averaged phase advance within this (rad)
AGREE_MAX = 0.1      # Hz: but never further apart than this (0.35 rad of a fundamental is 0.28 Hz)
SERIES = 0.3         # mean coherence of the agreeing harmonics over the family, at least
FAST_SERIES = 0.25   # the same over the last ~4 windows (coherent power, all harmonics)
TAU_FAST = 0.05      # s: the fast estimate of what else sits near each harmonic
TAU_MED = 1.0        # s: a slower one (a steady line a few Hz off leaks less than its power says)
BETA = 5.0           # weight of a harmonic: 1 - BETA * (estimate variance) / (estimate power)
WARM_S = 0.25        # s of estimation before the canceller's output fades in
FLL_START = 0.6      # s after a start before the frequency-locked loop moves the frequency
FLL_LAG = 5          # windows between the two phases compared by the frequency-locked loop
FLL_GAIN = 0.3       # share of the measured frequency error corrected per window
FLL_BOUND = 0.01     # Hz: (auto) the loop stays this close to the detector's estimate
DROP_RELEASE = 5     # windows the release count advances when the canceller sees the hum drop
HOLD_WEIGHT = 0.5    # harmonic weights that hold the detection (two, one of k <= 3)
HOLD_AFTER = 1.0     # s of averaging before the weights can hold it
LEARN_S = 8.0        # s of a file's head that ``learn`` runs backwards over
LEARN_BLEND = (3.0, 5.0)  # s: the output glides from the backward pass to the forward one here
LEARN_MIN_S = 1.0    # s: a shorter head is not learned (too short for either pass)
LEARN_AGREE_HZ = 0.1  # Hz: (auto) the backward and a forward pass over the head agree this well
LEARN_FIT_S = 0.4    # s: window of the least-squares scale of the backward pass's hum
HEAD_MATCH = 1e-6    # the stream matches the learned head within this (full scale 1)
ACQUIRE_S = 3.0      # s after a start during which the detector's frequency can reset it
ACQUIRE_WINDOWS = 5  # detector windows before its estimate is used
ACQUIRE_HZ = 0.01    # Hz: a difference that makes the canceller jump to it
LOST_HZ = 0.05       # Hz: a detector-canceller difference beyond which a canceller with no
LOST_WINDOWS = 5     # ... weighted harmonic, for this many windows, jumps to the detector's
PLL_GAIN = 0.2       # share of the fast-vs-slow phase difference corrected per window
CHANGE = 0.8         # |residual . estimate| / estimate power beyond which the hum changed
RAMP_POW = 1.0       # power of the young-estimate ramp (teff / TAU_MED)
COH_S = 2.0          # s: averaging time of the per-harmonic phase coherence
COH_LO = 0.3         # coherence below which a harmonic is not subtracted ...
COH_HI = 0.6         # ... and above which its weight is not reduced
SCOH_S = 4.0         # s: the same for the 1 s average ...
SCOH_LO = 0.5        # ... with its own bounds (its samples are
SCOH_HI = 0.8        # ... correlated over 1 s)
CHANGE_START = 1.0   # s after a start before a change can be declared


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
    its coherent harmonics, weighted by inverse variance; nan when no harmonic is coherent.

    First the low harmonics whose phase advance is unambiguous over the tracking range (k <= 4:
    the advance over a window wraps every 1 / (k W) Hz) and that put the fundamental inside it
    give a start (else the running estimate ``est`` is kept); then every coherent harmonic is
    unwrapped against the running estimate and refines it (one that disagrees by more than
    ``AGREE`` Hz is some other steady partial and left out)."""
    lim = TRACK_RANGE * (50.0 if f == 0 else 60.0)
    num = 0.0
    den = 0.0
    for k in range(min(ka, 4)):
        zr = zacc[f, k, 0]
        zi = zacc[f, k, 1]
        zm = math.sqrt(zr * zr + zi * zi)
        if zm < COHERENCE * zacc[f, k, 2] or zm <= floor * 1e-3:
            continue
        kk = k + 1.0
        d = math.atan2(zi, zr) / (2.0 * math.pi * kk * w / fs)
        if abs(d) > lim:
            continue
        noise = max(zacc[f, k, 2] - zm, 1e-3 * zacc[f, k, 2])
        wgt = kk * kk * zm / noise
        num += wgt * d
        den += wgt
    start = den > 0.0
    if start:
        est = num / den
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
        if (start or den > 0.0) and abs(psi / scale) > AGREE and (
                abs(psi) > AGREE_RAD or abs(psi / scale) > AGREE_MAX):
            continue
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
def _end_window(fams, nfam, ka, gz, gcs, theta, prev, zacc, ist, fst, fs, w, alpha, track,
                auto) -> None:
    """Window boundary: update the coherent averages, decide the family, track the frequency
    (the detector's estimate ``fst[0]``; a new detection asks the canceller to start)."""
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
        coh1 = 0.0
        # coherent power of each family's harmonic series (harmonics that agree on one
        # fundamental)
        d0 = _estimate_df(zacc, 0, ka, fst[0] - fams[0] if cur == 0 else 0.0, w, fs, floor)
        d1 = _estimate_df(zacc, 1, ka, fst[0] - fams[1] if cur == 1 else 0.0, w, fs, floor)
        # a series locked to a fundamental outside +-1 % of nominal (the steady lines of a
        # loop, a bass note of 52 Hz) is not this family's hum: it counts nothing (else it
        # outweighs, and hides, the other family's real hum)
        if d0 == d0 and abs(d0) > TRACK_RANGE * fams[0]:
            d0 = math.nan
        if nfam > 1 and d1 == d1 and abs(d1) > TRACK_RANGE * fams[1]:
            d1 = math.nan
        coh0 = _agreeing_power(zacc, 0, fams[0], ka, d0, w, fs, floor)
        coh1 = _agreeing_power(zacc, 1, fams[1], ka, d1, w, fs, floor)
        cand = 0 if coh0 >= coh1 else 1
        ch = coh0 if cand == 0 else coh1
        co = coh1 if cand == 0 else coh0
        share = _agreeing_share(zacc, cand, fams[cand], ka, d0 if cand == 0 else d1, w, fs,
                                floor)
        if share <= SERIES:
            # or a pure fundamental: coherent, carrying most of the family's coherent power
            z1 = math.sqrt(zacc[cand, 0, 0] ** 2 + zacc[cand, 0, 1] ** 2)
            zs = 0.0
            for k in range(ka):
                zs += math.sqrt(zacc[cand, k, 0] ** 2 + zacc[cand, k, 1] ** 2)
            if z1 >= COHERENCE * zacc[cand, 0, 2] and z1 >= 0.8 * zs:
                share = 1.0
        confident = ch > RATIO * co and share > SERIES and ch > floor
        if confident:
            # mains hum sits within +-1 % of 50 or 60 Hz; a steady tone near it (a bass note of
            # 49 Hz, a synth drone) is as coherent, but its phase advance says where it really is
            start = fst[0] - fams[cand] if cand == cur else 0.0
            df = _estimate_df(zacc, cand, ka, start, w, fs, floor)
            confident = df == df and abs(df) <= TRACK_RANGE * fams[cand]
            if confident:
                # hum is a harmonic series locked to one fundamental: at least two coherent
                # harmonics that agree on it, or a coherent fundamental carrying most of the
                # coherent power (a single steady partial of a note that happens to sit near
                # one mains harmonic is not hum)
                confident = _consistent(zacc, cand, ka, df, w, fs, floor)
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
            confident = chf > FAST_SERIES * taf and chf > floor and held >= 0.5 * ref
        if confident:
            if ist[2] == cand:
                ist[3] += 1
            else:
                ist[2] = cand
                ist[3] = 1
            if ist[3] >= CONFIRM and cand != cur:
                cur = cand
                ist[1] = cur
                fst[0] = fams[cur] + _estimate_df(zacc, cur, ka, 0.0, w, fs, floor)
                ist[8] = 1  # (re)start the canceller on this family
            if cand == cur:
                ist[6] = 0
                for k in range(ka):
                    zacc[cur, k, 7] = math.sqrt(zacc[cur, k, 0] ** 2 + zacc[cur, k, 1] ** 2)
        else:
            ist[3] = 0
        if not (confident and cand == cur) and cur >= 0 and ist[12] == 0:
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
        fst[0] = f0


@njit(cache=True, nogil=True)
def _agreeing_power(zacc, f, fam, ka, df, w, fs, floor) -> float:
    """Coherent power of family f's harmonics (multiples of 300 Hz left out) whose phase
    advance agrees with the fundamental ``fam + df`` within ``AGREE`` Hz: the power of a
    harmonic series locked to that fundamental (0 when df is nan)."""
    if df != df:
        return 0.0
    tot = 0.0
    for k in range(ka):
        if ((k + 1) * fam) % 300 == 0:
            continue
        zr = zacc[f, k, 0]
        zi = zacc[f, k, 1]
        zm = math.sqrt(zr * zr + zi * zi)
        if zm < COHERENCE * zacc[f, k, 2] or zm <= floor * 1e-3:
            continue
        scale = 2.0 * math.pi * (k + 1.0) * w / fs
        psi = math.atan2(zi, zr) - scale * df
        psi -= 2.0 * math.pi * math.floor((psi + math.pi) / (2.0 * math.pi))
        if abs(psi / scale) <= AGREE or abs(psi) <= AGREE_RAD:
            tot += zm
    return tot


@njit(cache=True, nogil=True)
def _agreeing_share(zacc, f, fam, ka, df, w, fs, floor) -> float:
    """Mean over family f's harmonics (multiples of 300 Hz left out) of each one's coherence
    (coherent / total power) when it agrees with the fundamental ``fam + df``, else 0: the
    share of the harmonic series that is there, whatever else is loud at some of them."""
    if df != df:
        return 0.0
    acc = 0.0
    cnt = 0
    for k in range(ka):
        if ((k + 1) * fam) % 300 == 0:
            continue
        cnt += 1
        zr = zacc[f, k, 0]
        zi = zacc[f, k, 1]
        zm = math.sqrt(zr * zr + zi * zi)
        if zm <= floor * 1e-3 or zacc[f, k, 2] <= 0.0:
            continue
        scale = 2.0 * math.pi * (k + 1.0) * w / fs
        psi = math.atan2(zi, zr) - scale * df
        psi -= 2.0 * math.pi * math.floor((psi + math.pi) / (2.0 * math.pi))
        if abs(psi / scale) <= AGREE or abs(psi) <= AGREE_RAD:
            acc += zm / zacc[f, k, 2]
    return acc / cnt if cnt > 0 else 0.0


@njit(cache=True, nogil=True)
def _consistent(zacc, f, ka, df, w, fs, floor) -> bool:
    """True when family f's coherent power is a harmonic series at ``nominal + df``: at least
    two coherent harmonics (1 % or more of the strongest one's coherent power) whose own phase
    advances put the fundamental within ``AGREE`` Hz (or ``AGREE_RAD``) of df, one of them a low
    harmonic (k <= 3, 5 % or more of the strongest); a single steady partial, or a note whose
    own overtones sit on high mains harmonics only, is not hum; a coherent fundamental carrying
    80 % of the coherent power alone is."""
    top = 0.0
    tot = 0.0
    for k in range(ka):
        zm = math.sqrt(zacc[f, k, 0] ** 2 + zacc[f, k, 1] ** 2)
        tot += zm
        if zm > top:
            top = zm
    if top <= floor:
        return False
    n = 0
    low = False
    for k in range(ka):
        zr = zacc[f, k, 0]
        zi = zacc[f, k, 1]
        zm = math.sqrt(zr * zr + zi * zi)
        if zm < 0.01 * top or zm < 0.5 * COHERENCE * zacc[f, k, 2]:
            continue
        kk = k + 1.0
        scale = 2.0 * math.pi * kk * w / fs
        pred = scale * df
        psi = math.atan2(zi, zr) - pred
        psi -= 2.0 * math.pi * math.floor((psi + math.pi) / (2.0 * math.pi))
        if abs(psi / scale) <= AGREE or abs(psi) <= AGREE_RAD:
            n += 1
            if k < 3 and zm >= 0.05 * top:
                low = True
            if k == 0 and zm >= 0.8 * tot:
                return True  # a pure fundamental (hum through a transformer, a ground loop)
    return n >= 2 and low


@njit(cache=True, nogil=True)
def _canceller_window(cs, us, ss, cp, wk, ist, fst, nh, fs, w, tau, fnom, track, auto,
                      gs) -> None:
    slot = ist[4] % FLL_LAG
    # the frequency the oscillator ran at in each of the last FLL_LAG windows
    fst[5 + slot] = fst[3]
    """Canceller bookkeeping at a window boundary: per-harmonic weights, change detection,
    frequency-locked loop."""
    c = cs.shape[0]
    n = ist[7]
    m = ist[9]
    # averaging length reached so far (the step size is 1/m until it reaches 1/(tau fs))
    teff = min(tau, max(m, 1) / fs)
    rf = TAU_FAST / teff
    rm = TAU_MED / teff
    # the variance of an estimate averaged over teff follows the other content's power over
    # the same time: average the fast residual power over teff too
    # ... but over at least TAU_MED once the canceller has run that long: right after a restart
    # the running mean follows the input, so the residual near k f0 is small and would read as
    # no leak at all (a clean voice's harmonics near the mains harmonics were then subtracted)
    ra = min(1.0, w / (min(max(teff, TAU_MED), max(n, 1) / fs) * fs))
    rc = w / (COH_S * fs)
    rs = w / (SCOH_S * fs)
    num = 0.0
    den = 0.0
    corr = 0.0
    pw = 0.0
    pnum = 0.0
    pden = 0.0
    for k in range(nh):
        m2 = 0.0
        var = 0.0
        rr = 0.0
        ri = 0.0
        cu = 0.0
        qr = 0.0
        qi = 0.0
        cnum = 0.0
        cden = 0.0
        snum = 0.0
        sden = 0.0
        for ch in range(c):
            a = cs[ch, k, 0]
            b = cs[ch, k, 1]
            m2 += a * a + b * b
            p = us[ch, k, 0] ** 2 + us[ch, k, 1] ** 2
            ss[ch, k] += ra * (p - ss[ch, k])
            pm = gs[ch, k, 0] ** 2 + gs[ch, k, 1] ** 2
            gs[ch, k, 2] += ra * (pm - gs[ch, k, 2])
            # the leak into an average over teff, predicted from the power near k f0 seen by a
            # 50 ms and by a 1 s average: each is exact for a flat spectrum near k f0 and
            # overstates what a steady line some Hz off leaks (by teff / its own time
            # constant, the slower one less); the smaller of the two
            var += min(ss[ch, k] * rf, gs[ch, k, 2] * rm)
            # rotation, over FLL_LAG windows, of the fast estimate of the harmonic (the slow
            # estimate plus what the fast average of the residual still finds there)
            fa = a + us[ch, k, 0]
            fb = b + us[ch, k, 1]
            pa = cp[ch, slot, k, 0]
            pb = cp[ch, slot, k, 1]
            rr += fa * pa + fb * pb
            ri += fb * pa - fa * pb
            cp[ch, slot, k, 0] = fa
            cp[ch, slot, k, 1] = fb
            # window-to-window coherence of the input at k f0 (fa: its 50 ms average, in the
            # oscillator's frame): hum keeps its phase, a voice or a note passing near k f0
            # does not (kept through restarts)
            gs[ch, k, 3] += rc * (fa - gs[ch, k, 3])
            gs[ch, k, 4] += rc * (fb - gs[ch, k, 4])
            gs[ch, k, 5] += rc * (math.sqrt(fa * fa + fb * fb) - gs[ch, k, 5])
            cnum += math.sqrt(gs[ch, k, 3] ** 2 + gs[ch, k, 4] ** 2)
            cden += gs[ch, k, 5]
            # the same for its 1 s average (a line a few Hz off, which moves the 50 ms average,
            # is left out of it)
            sa = a + gs[ch, k, 0]
            sb = b + gs[ch, k, 1]
            gs[ch, k, 6] += rs * (sa - gs[ch, k, 6])
            gs[ch, k, 7] += rs * (sb - gs[ch, k, 7])
            gs[ch, k, 8] += rs * (math.sqrt(sa * sa + sb * sb) - gs[ch, k, 8])
            snum += math.sqrt(gs[ch, k, 6] ** 2 + gs[ch, k, 7] ** 2)
            sden += gs[ch, k, 8]
            cu += us[ch, k, 0] * a + us[ch, k, 1] * b
            # phase of the fast estimate against the slow one
            qr += fa * a + fb * b
            qi += fb * a - fa * b
        # Wiener weight of the harmonic: its estimated power against the estimate's variance
        # (what the other content near k f0 leaks into an average over teff)
        g = 1.0 - BETA * var / (m2 + 1e-30) if m2 > 0.0 else 0.0
        # a running mean shorter than TAU_MED follows what a voice or a note puts near k f0 in
        # that time, beyond what the leak estimate (the residual's past) predicts: a young
        # estimate (after a start or a change) is trusted only as it grows
        g = max(g, 0.0) * min(1.0, teff / TAU_MED) ** RAMP_POW
        coh = cnum / cden if cden > 0.0 else 0.0
        sco = snum / sden if sden > 0.0 else 0.0
        g *= max(min(1.0, max(0.0, (coh - COH_LO) / (COH_HI - COH_LO))),
                 min(1.0, max(0.0, (sco - SCOH_LO) / (SCOH_HI - SCOH_LO))))
        wk[k] = g
        if g > 0.0:
            # this harmonic's vote on a change: its fast residual along its estimate, relative
            # to the estimate (-1: the hum stopped; a level change moves every harmonic alike),
            # clipped to +-1 so that music loud near one harmonic (a bass line 2 Hz off the
            # fundamental) weighs no more than that harmonic's share of the hum
            corr += g * m2 * min(max(cu / m2, -1.0), 1.0)
            pw += g * m2
        if n > FLL_START * fs and g > 0.0 and qr * qr + qi * qi > 0.0:
            kk = k + 1.0
            pg = kk * kk * m2 * g
            pnum += pg * math.atan2(qi, qr) / kk
            pden += pg
        if n > FLL_START * fs and g > 0.0 and rr * rr + ri * ri > 0.0:
            kk = k + 1.0
            wg = kk * kk * m2 * g
            num += wg * math.atan2(ri, rr) / (2.0 * math.pi * kk * FLL_LAG * w / fs)
            den += wg
    # the canceller's own evidence that hum is there (one harmonic estimated well above what
    # leaks into it): it holds a detection through passages where the detector wavers
    cnt = 0
    low = 0
    for k in range(nh):
        if wk[k] >= HOLD_WEIGHT:
            cnt += 1
            if k < 3:
                low += 1
    ist[12] = 1 if (m > HOLD_AFTER * fs and low > 0 and (cnt >= 2 or wk[0] >= HOLD_WEIGHT)) else 0
    # the hum changed (stopped, or moved in level) when the fast residual at the harmonics is
    # coherent with the estimate: re-learn with the short running average
    chg = corr / pw if pw > 0.0 else 0.0
    if n > CHANGE_START * fs and pw > 0.0 and abs(chg) > CHANGE:
        ist[11] += 1
        if ist[11] >= 3:
            ist[9] = 0
            ist[11] = 0
            if chg < 0.0:
                # the hum dropped: the detection is released sooner (its averages remember
                # the hum for seconds)
                ist[6] += DROP_RELEASE
    else:
        ist[11] = 0
    # phase-locking: the slow estimates lag the hum's phase when the frequency was off; turn
    # them towards the phase of the fast ones, all harmonics by one fundamental phase
    if track != 0 and pden > 0.0:
        dphi = PLL_GAIN * pnum / pden
        for k in range(nh):
            cr = math.cos((k + 1.0) * dphi)
            sn = math.sin((k + 1.0) * dphi)
            for ch in range(c):
                a = cs[ch, k, 0]
                b = cs[ch, k, 1]
                cs[ch, k, 0] = a * cr - b * sn
                cs[ch, k, 1] = a * sn + b * cr
    # frequency-locked loop on the rotation of the estimates (manual frequency: track too)
    if track != 0 and den > 0.0:
        # the rotation over the last FLL_LAG windows measures the true frequency against the
        # oscillator's mean frequency over them (it moved in between)
        fmean = 0.0
        for j in range(FLL_LAG):
            fmean += fst[5 + j]
        fmean /= FLL_LAG
        f = fst[3] + FLL_GAIN * (fmean + num / den - fst[3])
        lim = TRACK_RANGE * fnom
        f = min(max(f, fnom - lim), fnom + lim)
        if auto:
            # the detector's estimate (phase advances of up to 12 harmonics over 2 s, the ones
            # that disagree left out) bounds it: a music partial near one of the weighted
            # harmonics (a drone's) cannot drag the loop off the hum
            f = min(max(f, fst[0] - FLL_BOUND), fst[0] + FLL_BOUND)
        fst[3] = f


@njit(cache=True, nogil=True)
def dehum_block(x, out, fams, gz, gcos, gcs, theta, prev, zacc, win, ist, fst, nfam, ka, nh_max,
                fs, alpha, track, auto, g_coef, cs, us, ss, cp, wk, zz, tau, gs) -> None:
    """Process one block: detection (window boundaries counted in samples) and the canceller."""
    c, n = x.shape
    w = win.shape[0]
    inv_c = 1.0 / c
    af = 1.0 / (TAU_FAST * fs)
    am = 1.0 / (TAU_MED * fs)
    mu_min = 1.0 / (tau * fs)
    warm = int(WARM_S * fs)
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
            _end_window(fams, nfam, ka, gz, gcs, theta, prev, zacc, ist, fst, fs, w, alpha,
                        track, auto)
            if ist[5] != 0:
                fnom = fams[ist[1]] if ist[1] >= 0 else fams[0]
                # lost: the canceller weights no harmonic (its frequency is too far off for any
                # estimate to settle, and its frequency-locked loop has nothing to go on) while
                # the detector's frequency lies well away from it, for LOST_WINDOWS in a row
                if (track != 0 and ist[12] == 0 and ist[9] > HOLD_AFTER * fs
                        and abs(fst[0] - fst[3]) > LOST_HZ):
                    ist[13] += 1
                else:
                    ist[13] = 0
                if ((not auto and track != 0 and ist[7] < ACQUIRE_S * fs
                        and ist[4] > ACQUIRE_WINDOWS and abs(fst[0] - fst[3]) > ACQUIRE_HZ)
                        or ist[13] >= LOST_WINDOWS):
                    # acquisition (a given fundamental starts at its nominal value): while the
                    # estimates are young, the detector's 2 s phase-advance estimate is the
                    # better guess of a frequency far off; jump there and average afresh
                    fst[3] = fst[0]
                    for j in range(FLL_LAG):
                        fst[5 + j] = fst[3]
                    ist[9] = 0
                    ist[13] = 0
                _canceller_window(cs, us, ss, cp, wk, ist, fst, ist[10], fs, w, tau, fnom,
                                  track, auto, gs)
            if ist[8] != 0 and ist[1] >= 0:
                # start (or restart on another family): estimates from zero, short averages first
                ist[8] = 0
                ist[5] = 1
                ist[12] = 0
                ist[13] = 0
                ist[7] = 0
                ist[9] = 0
                fst[3] = fst[0]
                fst[4] = 0.0
                for j in range(FLL_LAG):
                    fst[5 + j] = fst[3]
                nh = 0
                fr = fst[3]
                for k in range(1, nh_max + 1):
                    if k * fr * (1.0 + TRACK_RANGE) >= 0.45 * fs:
                        break
                    nh = k
                ist[10] = nh
                for ch in range(c):
                    for k in range(cs.shape[1]):
                        cs[ch, k, 0] = 0.0
                        cs[ch, k, 1] = 0.0
                        us[ch, k, 0] = 0.0
                        us[ch, k, 1] = 0.0
                        ss[ch, k] = 0.0
                        for j in range(3):
                            gs[ch, k, j] = 0.0
                        for j in range(FLL_LAG):
                            cp[ch, j, k, 0] = 0.0
                            cp[ch, j, k, 1] = 0.0
                for k in range(wk.shape[0]):
                    wk[k] = 0.0
        # gain glide: the canceller's output fades in once its estimates have settled
        g = fst[1]
        gt = fst[2] if (ist[1] >= 0 and ist[5] != 0 and ist[7] >= warm) else 0.0
        if g != gt:
            g = gt + g_coef * (g - gt)
            if abs(g - gt) < 1e-9:
                g = gt
            fst[1] = g
        if ist[5] == 0:
            for ch in range(c):
                out[ch, i] = x[ch, i]
            continue
        if g == 0.0 and ist[1] < 0:
            # released and faded out: the canceller stops
            ist[5] = 0
            ist[12] = 0
            for ch in range(c):
                out[ch, i] = x[ch, i]
            continue
        nh = ist[10]
        a = 2.0 * math.pi * fst[4]
        c1 = math.cos(a)
        s1 = math.sin(a)
        zz[0, 0] = c1
        zz[0, 1] = s1
        for k in range(1, nh):
            zr = zz[k - 1, 0]
            zi = zz[k - 1, 1]
            zz[k, 0] = zr * c1 - zi * s1
            zz[k, 1] = zr * s1 + zi * c1
        mu = 1.0 / (ist[9] + 4.0 * nh + 1.0)
        if mu < mu_min:
            mu = mu_min
        for ch in range(c):
            v = x[ch, i]
            h = 0.0
            hw = 0.0
            for k in range(nh):
                re = cs[ch, k, 0] * zz[k, 0] - cs[ch, k, 1] * zz[k, 1]
                h += re
                hw += wk[k] * re
            e = v - 2.0 * h
            if g == 0.0:
                out[ch, i] = v
            else:
                out[ch, i] = v - g * 2.0 * hw
            me = mu * e
            fe = af * e
            for k in range(nh):
                er = zz[k, 0]
                ei = -zz[k, 1]
                cs[ch, k, 0] += me * er
                cs[ch, k, 1] += me * ei
                us[ch, k, 0] += fe * er - af * us[ch, k, 0]
                us[ch, k, 1] += fe * ei - af * us[ch, k, 1]
                gs[ch, k, 0] += am * (e * er - gs[ch, k, 0])
                gs[ch, k, 1] += am * (e * ei - gs[ch, k, 1])
        ph = fst[4] + fst[3] / fs
        fst[4] = ph - math.floor(ph)
        ist[7] += 1
        ist[9] += 1
    # keep the state free of denormals
    for ch in range(c):
        for k in range(cs.shape[1]):
            for j in range(2):
                if abs(cs[ch, k, j]) < 1e-30:
                    cs[ch, k, j] = 0.0
                if abs(us[ch, k, j]) < 1e-30:
                    us[ch, k, j] = 0.0
                if abs(gs[ch, k, j]) < 1e-30:
                    gs[ch, k, j] = 0.0


@njit(cache=True, nogil=True)
def _head_blend(x, out, hx, hy, hw, pos: int, n: int) -> int:
    """Inside the learned head (stream position ``pos`` of ``n``): out = (1 - w) out + w hy, if
    the block x matches the learned input hx.  Returns the new position, or -1 (nothing
    written) when x is not the learned head."""
    c, m = x.shape
    k = min(m, n - pos)
    if not matches_at(x[:, :k], hx, pos, HEAD_MATCH):
        return -1
    for ch in range(c):
        for i in range(k):
            w = hw[pos + i]
            out[ch, i] = (1.0 - w) * out[ch, i] + w * hy[ch, pos + i]
    return pos + m


@register
class DeHum(Processor):
    """Mains-hum remover: subtracts the hum's harmonics (k * f0, each with its own amplitude and
    phase, estimated over seconds and phase-locked to a tracked fundamental), after detecting
    50 or 60 Hz hum (or at a given fundamental).  Zero latency.  ``detected_hz``: the
    fundamental being removed (0.0 while auto-detection has found none)."""

    params = (
        Param("freq_hz", 0.0, unit="Hz", range=(0.0, 500.0),
              doc="hum fundamental; 0 detects 50 or 60 Hz automatically (values 0..20 mean 20)"),
        Param("harmonics", 160, unit="", range=(1, HMAX), kind="int",
              doc="number of harmonics removed (those above 0.45 fs are dropped); each is "
                  "weighted by its own estimated strength, so absent ones cost nothing"),
        Param("bandwidth_hz", 0.08, unit="Hz", range=(0.02, 20.0),
              doc="-3 dB width of the removal around each harmonic: the averaging time of the "
                  "estimates is 1 / (pi * bandwidth) (narrower keeps more music, adapts slower)"),
        Param("depth_db", 60.0, unit="dB", range=(0.0, 100.0), smoothing_ms=GAIN_MS,
              doc="attenuation of the estimated hum (0 dB: off)"),
        Param("track", True, kind="bool",
              doc="follow the exact hum frequency (mains drift, +-1 %)"),
    )

    LEARN_S = LEARN_S  # s of a file's head that learn() uses (engine.learn reads this)

    def _prepare(self) -> None:
        c = self.channels
        fs = float(self.sample_rate)
        self._w = round(WINDOW_S * fs)
        self._win = np.hanning(self._w + 2)[1:-1].astype(np.float64)
        self._fams = np.zeros(2, np.float64)
        self._gz = np.zeros((2, KMAX, 2), np.float64)
        self._gcos = np.zeros((2, KMAX), np.float64)
        self._gcs = np.zeros((2, KMAX, 2), np.float64)
        self._theta = np.zeros((2, KMAX), np.float64)
        self._prev = np.zeros((2, KMAX, 2), np.float64)
        self._zacc = np.zeros((2, KMAX, 8), np.float64)
        self._ist = np.zeros(14, np.int64)
        self._fst = np.zeros(5 + FLL_LAG, np.float64)
        self._cs = np.zeros((c, HMAX, 2), np.float64)
        self._us = np.zeros((c, HMAX, 2), np.float64)
        self._ss = np.zeros((c, HMAX), np.float64)
        self._cp = np.zeros((c, FLL_LAG, HMAX, 2), np.float64)
        self._wk = np.zeros(HMAX, np.float64)
        self._gs = np.zeros((c, HMAX, 9), np.float64)
        self._zz = np.zeros((HMAX, 2), np.float64)
        self._alpha = math.exp(-1.0 / AVG_WINDOWS)
        self._gcoef = smooth_coef(GAIN_MS, fs)
        self.forget()
        self._configure()

    def _tau(self) -> float:
        return 1.0 / (math.pi * self.v("bandwidth_hz"))

    def _configure(self) -> None:
        """(Re)start detection for the current freq_hz/harmonics (no allocation)."""
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
        self._fst[:] = 0.0
        self._fst[0] = self._fams[0]
        self._fst[2] = 1.0 - 10.0 ** (-self.v("depth_db") / 20.0)
        self._cs[:] = 0.0
        self._us[:] = 0.0
        self._ss[:] = 0.0
        self._cp[:] = 0.0
        self._wk[:] = 0.0
        self._gs[:] = 0.0
        if not self._auto:
            # a given fundamental: the canceller runs from the first sample
            self._ist[8] = 0
            self._ist[5] = 1
            self._fst[3] = self._fams[0]
            self._fst[5:] = self._fams[0]
            self._ist[10] = self._count(self._fams[0])

    def _count(self, f0: float) -> int:
        nh = 0
        for k in range(1, int(self.v("harmonics")) + 1):
            if k * f0 * (1.0 + TRACK_RANGE) >= 0.45 * self.sample_rate:
                break
            nh = k
        return nh

    def _reset(self) -> None:
        self._configure()
        self._head_pos = 0  # a learned head stays: it is the start of the stream again

    # ------------------------------------------------------------------ file mode
    def learn(self, head: np.ndarray) -> bool:
        """File mode: learn the hum of the stream's opening from ``head``, (channels, frames)
        at the prepared rate: the first seconds of exactly what this node will be fed from
        position 0 (``LEARN_S`` are used).  Control thread (allocates).  Returns whether a
        head is held (False: too short, or the backward pass found no hum)."""
        from ..learn import checked_head
        hx = checked_head(self, head, LEARN_S)
        self.forget()
        fs = float(self.sample_rate)
        n = hx.shape[1]
        if n < LEARN_MIN_S * fs:
            return False
        settings = {p.name: self.get(p.name) for p in self.params}
        twin = DeHum(**settings)
        yb = twin(np.ascontiguousarray(hx[:, ::-1]), fs, buffer_size=8192)[:, ::-1]
        if self._auto:
            # hum is hum both ways: the head is used only when a forward pass over it detects
            # the same fundamental (a decaying note played backwards can look steady)
            ahead = DeHum(**settings)
            ahead(hx, fs, buffer_size=8192)
            fb, ff = twin.detected_hz, ahead.detected_hz
            if fb == 0.0 or ff == 0.0 or abs(fb - ff) > LEARN_AGREE_HZ:
                return False
        # the backward pass's hum, scaled to what the input holds of it (least squares over
        # LEARN_FIT_S, 0..1): where the hum starts only inside the head, the backward canceller
        # goes on subtracting for a while after it (in its time), and that part must not be
        # subtracted from the clean opening
        hb = hx.astype(np.float64) - yb
        win = np.hanning(max(3, int(round(LEARN_FIT_S * fs))))
        num = np.convolve(np.sum(hx * hb, axis=0), win, "same")
        den = np.convolve(np.sum(hb * hb, axis=0), win, "same")
        r = np.clip((num / np.maximum(den, 1e-30) - 0.2) / 0.6, 0.0, 1.0)
        yb = hx - r * hb
        a, b = LEARN_BLEND
        if n < LEARN_S * fs:  # a short file: the glide at the same share of it
            a, b = a * n / (LEARN_S * fs), b * n / (LEARN_S * fs)
        m = min(n, int(round(b * fs)))
        t = np.arange(m) / fs
        u = np.clip((b - t) / (b - a), 0.0, 1.0)
        self._hw = (0.5 - 0.5 * np.cos(np.pi * u)).astype(np.float64)
        self._hx = np.ascontiguousarray(hx[:, :m])
        self._hy = np.ascontiguousarray(yb[:, :m], dtype=np.float32)
        self._head_n = m
        self._head_pos = 0
        return True

    def forget(self) -> None:
        """Drop a learned head (the stream is processed as without :meth:`learn`)."""
        self._head_n = 0
        self._head_pos = 0
        self._hx = np.zeros((1, 1), np.float32)
        self._hy = self._hx
        self._hw = np.zeros(1, np.float64)

    @property
    def learned(self) -> bool:
        """Whether a learned head is held and the stream is still inside it."""
        return self.prepared and self._head_pos < self._head_n

    def _on_param(self, name: str, value: float) -> None:
        if not self.prepared:
            return
        self._head_n = 0  # learned under the old setting (no allocation here)
        if name == "freq_hz":
            self._configure()
        elif name == "harmonics":
            top = 60.0 if self._auto else self._fams[0]
            self._ka = int(max(1, min(KMAX, int(value),
                                      int(0.45 * self.sample_rate / (top * 1.01)))))
            nh = self._count(self._fst[3] if self._ist[5] else self._fst[0])
            old = int(self._ist[10])
            if nh > old:  # new harmonics start from zero
                self._cs[:, old:nh] = 0.0
                self._us[:, old:nh] = 0.0
                self._ss[:, old:nh] = 0.0
                self._cp[:, :, old:nh] = 0.0
                self._wk[old:nh] = 0.0
                self._gs[:, old:nh] = 0.0
            self._ist[10] = nh
        elif name == "depth_db":
            self._fst[2] = 1.0 - 10.0 ** (-value / 20.0)

    def _process(self, x: np.ndarray, out: np.ndarray) -> None:
        dehum_block(x, out, self._fams, self._gz, self._gcos, self._gcs, self._theta, self._prev,
                    self._zacc, self._win, self._ist, self._fst, self._nfam, self._ka,
                    int(self.v("harmonics")), float(self.sample_rate), self._alpha,
                    int(self.v("track")), self._auto, self._gcoef, self._cs, self._us, self._ss,
                    self._cp, self._wk, self._zz, self._tau(), self._gs)
        if self._head_pos < self._head_n:
            p = _head_blend(x, out, self._hx, self._hy, self._hw, self._head_pos, self._head_n)
            if p < 0:
                self._head_n = 0  # not the learned file: process it as without learn()
            else:
                self._head_pos = p

    @property
    def detected_hz(self) -> float:
        """The hum fundamental being removed (tracked), or 0.0 while none is detected."""
        if not self.prepared or self._ist[1] < 0:
            return 0.0
        return float(self._fst[3] if self._ist[5] else self._fst[0])

    @property
    def notches(self) -> int:
        """Number of harmonics the canceller works on (0 while it is idle)."""
        return int(self._ist[10]) if self.prepared and self._ist[5] else 0

    @property
    def harmonic_weights(self) -> np.ndarray:
        """Per-harmonic weight (0..1) of the subtraction: each harmonic's estimated strength
        against the uncertainty of its estimate (a copy; zeros while idle)."""
        if not self.prepared:
            return np.zeros(0)
        return self._wk[: self.notches].copy()
