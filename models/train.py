"""Training loop for the enhancers: multi-resolution STFT + SI-SDR loss, progress, checkpoints,
resume, a validation score per epoch.  Needs torch (the ``train`` extra).

    from aural.models.train import TrainConfig, train
    cfg = TrainConfig(kind="dsunet", model={"channels": [16, 16, 32, 32]}, out="runs/ds",
                      epochs=10, steps_per_epoch=100, batch=8)
    history = train(cfg)                       # or: aural train dsunet --out runs/ds ...
    history = train(cfg, resume=True)          # continues from runs/ds/last.pt

Loss per output (aligned: the model output is delayed by ``model.latency`` samples)::

    L = MR-STFT(y, s) + w_sisdr * (-SI-SDR(y, s) / 10)
    MR-STFT = mean over (n_fft 256/512/1024, hop n_fft/4) of spectral convergence + L1 of log mag

For the Dual-Step U-Net the stage-1 output is also supervised (``w_stage1``; stage one learns to
denoise, stage two to restore).  Data come from :class:`aural.models.data.Recipe` (any object
with ``batch(split, start, size)`` and ``dev_set()`` works): example indices follow the step, so
a resumed run sees the same data as an uninterrupted one.  Checkpoints: ``last.pt`` after every
epoch (and every ``save_every`` steps), ``best.pt`` at the best dev SI-SDR; each holds the model
config, weights, an EMA copy of the weights, optimiser state, step, and the history.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from .pesq_loss import SAMPLE_RATE as PESQ_RATE, pesq_loss
from .streaming import StreamingModel, build_model

__all__ = ["LOSSES", "TrainConfig", "compressed_loss", "enhancement_loss", "evaluate", "mrstft_loss", "si_sdr", "train"]

RESOLUTIONS = ((256, 64), (512, 128), (1024, 256))


def si_sdr(est: torch.Tensor, ref: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale-invariant SDR in dB per batch row (zero-mean)."""
    est = est - est.mean(dim=-1, keepdim=True)
    ref = ref - ref.mean(dim=-1, keepdim=True)
    a = (est * ref).sum(-1, keepdim=True) / (ref.pow(2).sum(-1, keepdim=True) + eps)
    t = a * ref
    return 10 * torch.log10((t.pow(2).sum(-1) + eps) / ((est - t).pow(2).sum(-1) + eps))


_windows: dict[int, torch.Tensor] = {}


def _mag(x: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    s = _spec(x, n_fft, hop)
    return torch.sqrt(s.real.pow(2) + s.imag.pow(2) + 1e-9)


def mrstft_loss(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Multi-resolution STFT loss: spectral convergence + log-magnitude L1, averaged."""
    total = est.new_zeros(())
    for n_fft, hop in RESOLUTIONS:
        if est.shape[-1] < n_fft:
            continue
        me, mr = _mag(est, n_fft, hop), _mag(ref, n_fft, hop)
        sc = torch.linalg.norm(mr - me, dim=(-2, -1)) / (torch.linalg.norm(mr, dim=(-2, -1)) + 1e-7)
        total = total + sc.mean() + (torch.log(me) - torch.log(mr)).abs().mean()
    return total / len(RESOLUTIONS)


def _spec(x: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    w = _windows.get(n_fft)
    if w is None:
        w = _windows[n_fft] = torch.hann_window(n_fft)
    return torch.stft(x, n_fft, hop, window=w.to(x.device), return_complex=True, center=True)


def compressed_loss(est: torch.Tensor, ref: torch.Tensor, power: float = 0.3,
                    alpha: float = 0.3) -> torch.Tensor:
    """Power-law compressed spectral loss (Braun & Tashev 2021), multi-resolution.

    Per resolution: ``(1 - alpha) * |(|S|^c - |S^|^c)|^2 + alpha * |S_c - S^_c|^2`` where
    ``S_c = |S|^c e^{j phase}``, each divided by the reference's compressed energy so the figure
    does not depend on the level (~1 for silence in place of the reference, 0 when equal).
    Compression weighs quiet bins more than a plain magnitude loss and less than a log one:
    residual noise in pauses and speech detail both count, which is what PESQ hears.
    """
    total = est.new_zeros(())
    for n_fft, hop in RESOLUTIONS:
        if est.shape[-1] < n_fft:
            continue
        se, sr = _spec(est, n_fft, hop), _spec(ref, n_fft, hop)
        pe = se.real.pow(2) + se.imag.pow(2) + 1e-12
        pr = sr.real.pow(2) + sr.imag.pow(2) + 1e-12
        me, mr = pe.pow(power / 2), pr.pow(power / 2)                   # |S|^c
        ce, cr = se * pe.pow((power - 1) / 2), sr * pr.pow((power - 1) / 2)  # |S|^c e^{j phase}
        energy = mr.pow(2).sum(dim=(-2, -1)) + 1e-7
        mag = (me - mr).pow(2).sum(dim=(-2, -1)) / energy
        d = ce - cr  # |d|^2 as re^2 + im^2: abs() has a NaN gradient where d is exactly 0
        cplx = (d.real.pow(2) + d.imag.pow(2)).sum(dim=(-2, -1)) / energy
        total = total + ((1 - alpha) * mag + alpha * cplx).mean()
    return total / len(RESOLUTIONS)


LOSSES = ("mrstft", "compressed", "both")


def enhancement_loss(est: torch.Tensor, ref: torch.Tensor, w_sisdr: float,
                     kind: str = "mrstft") -> torch.Tensor:
    """Reconstruction loss: a spectral term (``kind``, one of LOSSES) minus SI-SDR/10 x w_sisdr."""
    if kind == "mrstft":
        spec = mrstft_loss(est, ref)
    elif kind == "compressed":
        spec = compressed_loss(est, ref)
    elif kind == "both":
        spec = mrstft_loss(est, ref) + compressed_loss(est, ref)
    else:
        raise ValueError(f"unknown loss {kind!r}; expected one of {', '.join(LOSSES)}")
    return spec - w_sisdr * si_sdr(est, ref).mean() / 10.0


def to_16k(x: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """(batch, samples) at ``sample_rate`` -> 16 kHz by an FFT (the band above 8 kHz cut, the
    length scaled): the speech band for the 16 kHz loss terms of a full-band model."""
    if sample_rate == PESQ_RATE:
        return x
    n = x.shape[-1]
    m = int(round(n * PESQ_RATE / sample_rate))
    spec = torch.fft.rfft(x)[..., : m // 2 + 1]
    return torch.fft.irfft(spec, n=m) * (m / n)


def _align(y: torch.Tensor, ref: torch.Tensor, latency: int) -> tuple[torch.Tensor, torch.Tensor]:
    if latency:
        return y[:, latency:], ref[:, :-latency]
    return y, ref


@dataclass
class TrainConfig:
    """Everything a run depends on (stored in the checkpoint)."""

    kind: str = "dsunet"
    model: dict = field(default_factory=dict)
    out: str = "runs/aural"
    sample_rate: int = 16000
    seconds: float = 2.0
    batch: int = 8
    epochs: int = 10
    steps_per_epoch: int = 100
    lr: float = 1e-3
    lr_min: float = 1e-4
    weight_decay: float = 0.0
    grad_clip: float = 5.0
    w_sisdr: float = 0.5
    w_pesq: float = 0.0       # weight of the PESQ-wb proxy term (models/pesq_loss.py), on 16 kHz
    w_band: float = 0.0       # weight of the loss again on 0-8 kHz (both signals at 16 kHz)
    loss: str = "mrstft"      # spectral term: mrstft | compressed | both (enhancement_loss)
    w_stage1: float = 0.5
    ema: float = 0.995
    seed: int = 0
    threads: int = 1
    dev_examples: int = 32
    max_files: int = 400
    music_fraction: float = 0.2
    mix: str = "nonstationary"
    dry_speech: float = 0.0
    clean_fraction: float = 0.0
    keep_room: float = 0.0    # share of reverberant training examples with the room kept in the target
    music_safe_noise: bool = False  # Recipe.music_safe_noise: no musical ambiences under music
    adversarial: float = 0.0  # weight of the GAN terms (models/adversarial.py); 0 = none
    w_fm: float = 2.0         # feature matching, relative to the adversarial term
    d_lr: float = 2e-4        # the discriminator's learning rate
    init: str = ""
    sources: str = "recipe"   # Recipe.sources: recipe | registry
    min_band_hz: float = 0.0  # Recipe.min_band_hz: speech targets must reach this band edge
    device: str = "cpu"       # torch device of the model and the loss ("cuda" on a GPU machine)
    workers: int = 0          # processes making training batches ahead (0: in the loop)
    save_every: int = 0
    log_every: int = 10

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


_GROWABLE = ("gru", "df", "noise_floor")


def _grows(have: dict, want: dict) -> bool:
    """True when ``want`` is ``have`` plus bottleneck GRUs, more deep-filter taps and/or the
    noise-floor feature (all start as the identity: zero output layers, zero input weights)."""
    if not have or have == want:
        return False
    same = ({k: v for k, v in have.items() if k not in _GROWABLE}
            == {k: v for k, v in want.items() if k not in _GROWABLE})
    gru_ok = int(have.get("gru", 0)) in (0, int(want.get("gru", 0)))
    df_ok = int(have.get("df", 1)) <= int(want.get("df", 1))
    nf_ok = int(have.get("noise_floor", 0)) in (0, int(want.get("noise_floor", 0)))
    return same and gru_ok and df_ok and nf_ok


def _grown_state(model: StreamingModel, old: dict) -> dict:
    """``old`` (a state dict) laid into ``model``'s: new GRU branches keep their zero-start
    init; a stage-2 output layer with more deep-filter taps gets the old taps first and zeros
    for the new ones; first encoder convs with the noise-floor feature get a zero input channel
    after the 3 spectral ones.  Raises ValueError on any other difference."""
    new = model.state_dict()
    bad = [k for k in old if k not in new]
    out = {}
    for k, v in new.items():
        if k not in old:
            if ".gru." not in k:
                bad.append(k)
            out[k] = v
            continue
        o = old[k]
        axis = 0 if o.dim() == 1 else 1  # output channels: bias (out,), ConvTranspose (in, out, kt, kf)
        if o.shape == v.shape:
            out[k] = o
        elif (k.startswith("unet2.up.") and o.dim() == v.dim() and o.shape[axis] < v.shape[axis]
              and all(o.shape[i] == v.shape[i] for i in range(o.dim()) if i != axis)):
            extra = list(v.shape)
            extra[axis] -= o.shape[axis]
            out[k] = torch.cat([o, o.new_zeros(extra)], dim=axis)  # new taps start at zero
        elif (k.endswith(".enc.0.conv.weight") and o.dim() == 4 and v.shape[1] == o.shape[1] + 1
              and o.shape[0] == v.shape[0] and o.shape[2:] == v.shape[2:]):
            z = o.new_zeros(o.shape[0], 1, *o.shape[2:])  # the noise-floor feature: channel 3
            out[k] = torch.cat([o[:, :3], z, o[:, 3:]], dim=1)
        else:
            bad.append(k)
    if bad:
        raise ValueError(f"cannot grow: parameters {bad} differ")
    return out


def _model_forward(model: StreamingModel, x: torch.Tensor):
    if getattr(model, "stages", 1) == 2:
        return model(x, return_stages=True)
    return model(x), None


def _forward_loss(model: StreamingModel, x: torch.Tensor, s: torch.Tensor, cfg: TrainConfig):
    """(reconstruction loss, aligned output, aligned target)."""
    y, y1 = _model_forward(model, x)
    ya, sa = _align(y, s, model.latency)
    loss = enhancement_loss(ya, sa, cfg.w_sisdr, cfg.loss)
    if cfg.w_pesq > 0 or cfg.w_band > 0:  # on the final output only (stage 1: its plain loss)
        y16, s16 = to_16k(ya, cfg.sample_rate), to_16k(sa, cfg.sample_rate)
        if cfg.w_band > 0:
            loss = loss + cfg.w_band * enhancement_loss(y16, s16, cfg.w_sisdr, cfg.loss)
        if cfg.w_pesq > 0:
            loss = loss + cfg.w_pesq * pesq_loss(y16, s16)
    if y1 is not None and cfg.w_stage1 > 0:
        y1a, _ = _align(y1, s, model.latency)
        loss = loss + cfg.w_stage1 * enhancement_loss(y1a, sa, cfg.w_sisdr, cfg.loss)
    return loss, ya, sa


@torch.no_grad()
def evaluate(model: StreamingModel, noisy: np.ndarray, clean: np.ndarray, cfg: TrainConfig,
             chunk: int = 8) -> dict[str, float]:
    """Dev loss, SI-SDR of the output, and its improvement over the noisy input (dB)."""
    model.eval()
    losses, sdr, sdr_in = [], [], []
    dev = next(model.parameters()).device
    for i in range(0, len(noisy), chunk):
        x = torch.from_numpy(noisy[i:i + chunk]).to(dev)
        s = torch.from_numpy(clean[i:i + chunk]).to(dev)
        loss, ya, sa = _forward_loss(model, x, s, cfg)  # one forward pass for both figures
        losses.append(float(loss) * len(x))
        sdr += si_sdr(ya, sa).cpu().tolist()
        sdr_in += si_sdr(x, s).cpu().tolist()
    model.train()
    n = len(noisy)
    return {"dev_loss": sum(losses) / n, "dev_sisdr": float(np.mean(sdr)),
            "dev_sisdri": float(np.mean(sdr) - np.mean(sdr_in))}


_WORKER_DATA = None


def _worker_init(data) -> None:
    global _WORKER_DATA
    _WORKER_DATA = data  # inherited through fork, never pickled


def _worker_batch(start: int, size: int):
    return _WORKER_DATA.batch("train", start, size)


class _Batches:
    """Training batches by step: in the loop (workers 0) or made ahead by forked processes.
    Examples depend on their index only, so both give the same batches (and resuming stays
    exact)."""

    def __init__(self, data, batch: int, workers: int) -> None:
        self.data, self.batch, self.pool, self.ahead = data, batch, None, {}
        if workers > 0:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"),
                                            initializer=_worker_init, initargs=(data,))
            self.depth = 2 * workers

    def get(self, step: int):
        if self.pool is None:
            return self.data.batch("train", step * self.batch, self.batch)
        for s in range(step, step + self.depth):
            if s not in self.ahead:
                self.ahead[s] = self.pool.submit(_worker_batch, s * self.batch, self.batch)
        for s in [s for s in self.ahead if s < step]:
            self.ahead.pop(s).cancel()
        return self.ahead.pop(step).result()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)


def _make_data(cfg: TrainConfig):
    from .data import Recipe

    return Recipe(sample_rate=cfg.sample_rate, seconds=cfg.seconds, seed=cfg.seed,
                  dev_examples=cfg.dev_examples, max_files=cfg.max_files,
                  music_fraction=cfg.music_fraction, train_mix=cfg.mix, dry_speech=cfg.dry_speech,
                  clean_fraction=cfg.clean_fraction, music_safe_noise=cfg.music_safe_noise,
                  sources=cfg.sources, min_band_hz=cfg.min_band_hz,
                  keep_room=cfg.keep_room)


def _init_checkpoint(init: str, out: str) -> str:
    """``--init``'s checkpoint: a .pt as given; an exported .onnx (or a shipped model's name)
    read back into OUT/init.pt (:func:`aural.models.export.checkpoint_from_onnx`)."""
    if os.path.isfile(init) and not init.endswith(".onnx"):
        return init
    from .export import checkpoint_from_onnx
    from .runtime import ModelNotFound, resolve_model

    try:
        path = resolve_model(init)
    except ModelNotFound:
        raise FileNotFoundError(f"--init {init}: no such checkpoint, .onnx or shipped model") from None
    return checkpoint_from_onnx(path, os.path.join(out, "init.pt"))


def train(cfg: TrainConfig, resume: bool = False, data: Any = None,
          log: Callable[[str], None] | None = None) -> list[dict]:
    """Train (or resume) a model as ``cfg`` says; returns the per-epoch history.

    data: an object with ``batch(split, start, size) -> (noisy, clean)`` and ``dev_set()``;
    default: the :class:`~aural.models.data.Recipe` made from cfg."""
    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    if (cfg.w_pesq > 0 or cfg.w_band > 0) and cfg.sample_rate < PESQ_RATE:
        raise ValueError(f"the PESQ and band terms need a model at {PESQ_RATE} Hz or more, "
                         f"not {cfg.sample_rate} Hz")
    torch.set_num_threads(max(1, int(cfg.threads)))
    dev = torch.device(cfg.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda: torch sees no CUDA device (a CPU-only torch wheel?)")
    os.makedirs(cfg.out, exist_ok=True)
    last = os.path.join(cfg.out, "last.pt")
    torch.manual_seed(cfg.seed)
    mcfg = {"sample_rate": cfg.sample_rate, **cfg.model}
    model = build_model(cfg.kind, **mcfg)
    ema = build_model(cfg.kind, **mcfg)
    ema.load_state_dict(model.state_dict())
    for p in ema.parameters():
        p.requires_grad_(False)
    model.to(dev)
    ema.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    disc = d_opt = None
    if cfg.adversarial > 0:
        from .adversarial import SpectrogramDiscriminator, discriminator_loss, generator_loss
        disc = SpectrogramDiscriminator().to(dev)
        d_opt = torch.optim.AdamW(disc.parameters(), lr=cfg.d_lr, betas=(0.8, 0.99))
    total_steps = cfg.epochs * cfg.steps_per_epoch
    step, history, best = 0, [], -math.inf
    if resume:
        if not os.path.isfile(last):
            raise FileNotFoundError(f"nothing to resume: {last} does not exist")
        ck = torch.load(last, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        if disc is not None and "disc" in ck:
            disc.load_state_dict(ck["disc"])
            d_opt.load_state_dict(ck["d_opt"])
        step, history = int(ck["step"]), list(ck["history"])
        best = max([h["dev_sisdr"] for h in history if h["epoch"] > 0], default=-math.inf)
        torch.set_rng_state(ck["torch_rng"])
        log(f"resumed {last} at step {step} (epoch {step // cfg.steps_per_epoch})")
    elif cfg.init:  # fine-tune: a new run (schedule, history, optimiser) from another's weights
        init = _init_checkpoint(cfg.init, cfg.out)
        ck = torch.load(init, map_location="cpu", weights_only=False)
        want = {"kind": model.kind, **model.config}
        have = ck.get("model_config") or {}
        grow = _grows(have, want)  # implies have != want
        if have != want and not grow:
            raise ValueError(f"--init {cfg.init}: its model {have} differs from {want}")
        state = ck["ema"]
        if grow:
            try:
                state = _grown_state(model, state)
            except ValueError as e:
                raise ValueError(f"--init {cfg.init}: cannot grow it into {want}: {e}") from None
        for m in (model, ema):
            m.load_state_dict(state)
        grown = []
        if want.get("gru") and not have.get("gru"):
            grown.append(f"{want['gru']}-unit GRU branches")
        if int(want.get("df", 1)) > int(have.get("df", 1)):
            grown.append(f"deep-filter taps {have.get('df', 1)} -> {want['df']}")
        if want.get("noise_floor") and not have.get("noise_floor"):
            grown.append(f"noise-floor feature ({want['noise_floor']} frames)")
        log(f"initialised from the EMA weights of {cfg.init} (step {ck.get('step')})"
            + (f"; grown, starting as the identity: {', '.join(grown)}" if grow else ""))
    data = data if data is not None else _make_data(cfg)
    dev_x, dev_s = data.dev_set()
    nparams = sum(p.numel() for p in model.parameters())
    log(f"{cfg.kind}: {nparams} parameters, latency {model.latency} samples, "
        f"{total_steps} steps of {cfg.batch} x {cfg.seconds} s -> {cfg.out}")

    def save(path: str) -> None:
        ck = {"model_config": {"kind": model.kind, **model.config}, "model": model.state_dict(),
              "ema": ema.state_dict(), "opt": opt.state_dict(), "step": step, "history": history,
              "train_config": asdict(cfg), "torch_rng": torch.get_rng_state()}
        if disc is not None:
            ck["disc"], ck["d_opt"] = disc.state_dict(), d_opt.state_dict()
        tmp = path + ".tmp"
        torch.save(ck, tmp)
        os.replace(tmp, path)

    if step == 0 and not history:  # the untrained baseline, epoch 0
        ev = evaluate(ema, dev_x, dev_s, cfg)
        history.append({"epoch": 0, "step": 0, "train_loss": None, **ev, "seconds": 0.0})
        log(f"epoch 0: dev {ev['dev_loss']:.4f} dev SI-SDR {ev['dev_sisdr']:.2f} dB "
            f"(improvement {ev['dev_sisdri']:+.2f} dB)")
    model.train()
    t0, run_loss, n_loss = time.time(), 0.0, 0
    run_d, run_adv = 0.0, 0.0
    skipped = 0
    start_step = step
    batches = _Batches(data, cfg.batch, int(cfg.workers))
    try:
        while step < total_steps:
            lr = cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * step / max(1, total_steps)))
            for g in opt.param_groups:
                g["lr"] = lr
            xb, sb = batches.get(step)
            loss, ya, sa = _forward_loss(model, torch.from_numpy(xb).to(dev), torch.from_numpy(sb).to(dev), cfg)
            if disc is not None:
                d_loss = discriminator_loss(disc, sa, ya)
                d_opt.zero_grad(set_to_none=True)
                d_loss.backward()
                if torch.isfinite(torch.nn.utils.clip_grad_norm_(disc.parameters(), cfg.grad_clip)):
                    d_opt.step()
                adv, fm = generator_loss(disc, sa, ya, cfg.w_fm)
                loss = loss + cfg.adversarial * (adv + fm)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            if torch.isfinite(loss) and torch.isfinite(gnorm):
                opt.step()
                with torch.no_grad():
                    d = min(cfg.ema, (1 + step) / (10 + step))
                    for pe, pm in zip(ema.parameters(), model.parameters()):
                        pe.mul_(d).add_(pm.detach(), alpha=1 - d)
                run_loss += loss.item()
                n_loss += 1
                if disc is not None:  # the running figures count the applied steps only
                    run_d += d_loss.item()
                    run_adv += adv.item()
            else:  # one bad batch must not poison the weights (and every later step): skip it
                opt.zero_grad(set_to_none=True)
                skipped += 1
                log(f"step {step + 1}: non-finite loss or gradient, update skipped ({skipped} so far)")
            step += 1
            if cfg.log_every and step % cfg.log_every == 0:
                el = time.time() - t0
                rate = (step - start_step) / max(el, 1e-9)
                eta = (total_steps - step) / max(rate, 1e-9)
                k = max(n_loss, 1)
                gan = (f" D {run_d / k:.3f} G-adv {run_adv / k:.3f}" if disc is not None else "")
                log(f"step {step}/{total_steps} loss {run_loss / k:.4f}{gan} lr {lr:.2e} "
                    f"{rate:.2f} steps/s eta {eta:.0f} s")
            if cfg.save_every and step % cfg.save_every == 0:
                save(last)
            if step % cfg.steps_per_epoch == 0 or step == total_steps:
                ev = evaluate(ema, dev_x, dev_s, cfg)
                rec = {"epoch": math.ceil(step / cfg.steps_per_epoch), "step": step,
                       "train_loss": run_loss / max(n_loss, 1), **ev, "seconds": time.time() - t0}
                history.append(rec)
                run_loss, n_loss, run_d, run_adv = 0.0, 0, 0.0, 0.0
                log(f"epoch {rec['epoch']}: train {rec['train_loss']:.4f} dev {ev['dev_loss']:.4f} "
                    f"dev SI-SDR {ev['dev_sisdr']:.2f} dB (improvement {ev['dev_sisdri']:+.2f} dB)")
                save(last)
                if ev["dev_sisdr"] > best:
                    best = ev["dev_sisdr"]
                    save(os.path.join(cfg.out, "best.pt"))
    finally:  # the batch workers end however the loop does
        batches.close()
    with open(os.path.join(cfg.out, "history.json"), "w", encoding="utf-8") as f:
        json.dump(history, f, indent=1)
    return history
