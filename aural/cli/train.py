"""``aural train``, ``aural export``, ``aural calibrate``: train a neural enhancer, export it to
streaming ONNX, set its output level.

The first two need torch, calibrate needs onnx (``pip install 'aural[train]'``); imported only
when they run.

    aural train dsunet --out runs/ds --epochs 10 --steps-per-epoch 100 --batch 8
    aural train wavenet --out runs/wn --model-arg channels=24 --model-arg layers=9
    aural train dsunet --out runs/ds --epochs 20 --resume      # continue from runs/ds/last.pt
    aural export runs/ds/best.pt -o models/weights/dsunet-small.onnx
"""
from __future__ import annotations

import json
import math
import os

from .common import CliError


def _need_torch():
    try:
        import torch  # noqa: F401
    except ImportError as e:
        raise CliError(f"this command needs torch ({e}): pip install 'aural[train]'") from None


def _model_args(items) -> dict:
    out = {}
    for it in items or ():
        if "=" not in it:
            raise CliError(f"--model-arg wants KEY=VALUE, got {it!r}")
        k, v = it.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            if "," in v:
                out[k.strip()] = [json.loads(t) for t in v.split(",")]
            else:
                out[k.strip()] = v
    return out


#: the names of aural.models.data.MIXES, for the help text without importing the training
#: stack (SciPy) at start-up; tests/test_cli.py checks they agree
MIX_NAMES = ("default", "nonstationary", "bursty", "balanced")


def _mixes() -> list[str]:
    return list(MIX_NAMES)


def register(sub) -> None:
    p = sub.add_parser("train", help="train a neural enhancer (WaveNet or Dual-Step U-Net; needs torch)",
                       description="Train a causal enhancer on pairs made by the degradation "
                                   "simulator from the data recipe (see docs/models.md). Prints "
                                   "progress, validates on the fixed dev set after every epoch, "
                                   "writes OUT/last.pt (every epoch), OUT/best.pt (best dev "
                                   "SI-SDR) and OUT/history.json.")
    p.add_argument("kind", choices=("wavenet", "dsunet", "fullband"),
                   help="model family (fullband: 48 kHz ERB gains + low-bin deep filter)")
    p.add_argument("--out", required=True, help="run folder (checkpoints, history)")
    p.add_argument("--model-arg", action="append", metavar="KEY=VALUE",
                   help="model constructor argument, JSON value (e.g. channels=[16,16,32,32], "
                        "layers=9); repeatable")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--steps-per-epoch", type=int, default=100)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seconds", type=float, default=2.0, help="example length (s)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--w-sisdr", type=float, default=0.5, help="weight of the SI-SDR loss term")
    p.add_argument("--w-pesq", type=float, default=0.0, metavar="W",
                   help="weight of a differentiable PESQ-wb stand-in (P.862.2's disturbance "
                        "model, models/pesq_loss.py) added to the loss, at 16 kHz (a faster "
                        "model's output and target are taken down to it; default 0: none)")
    p.add_argument("--w-band", type=float, default=0.0, metavar="W",
                   help="weight of the loss again on the 0-8 kHz band (both signals taken to "
                        "16 kHz): a full-band model's loss otherwise counts the bins above 8 kHz "
                        "twice as much as the speech band (default 0: none)")
    p.add_argument("--loss", choices=("mrstft", "compressed", "both"), default="mrstft",
                   help="spectral loss term: multi-resolution STFT (spectral convergence + "
                        "log magnitude), power-law compressed magnitude and complex spectra "
                        "(c = 0.3), or their sum (default mrstft)")
    p.add_argument("--sample-rate", type=int, default=None,
                   help="model rate in Hz (default 48000 for fullband, 16000 otherwise)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--device", default="cpu",
                   help="torch device of the model and loss: cpu (default) or cuda (a GPU machine "
                        "with a CUDA torch wheel)")
    p.add_argument("--workers", type=int, default=0, metavar="N",
                   help="processes that make training batches ahead of the loop (default 0: "
                        "in the loop); the batches, and so the weights, are the same either way")
    p.add_argument("--max-files", type=int, default=400, help="files per kind and split")
    p.add_argument("--music-fraction", type=float, default=0.2)
    p.add_argument("--mix", default="nonstationary",
                   help="degradation mix of the training examples: " + ", ".join(_mixes())
                        + " (default nonstationary; the dev set always uses 'default')")
    p.add_argument("--keep-room", type=float, default=0.0, metavar="FRACTION",
                   help="share of the reverberant training examples whose target keeps the room "
                        "(noise out, room kept; default 0: the target is the dry speech)")
    p.add_argument("--dry-speech", type=float, default=0.0, metavar="FRACTION",
                   help="share of speech examples (train and dev) drawn from the dry studio "
                        "prompts of asterisk-core-sounds-*-g722 (default 0)")
    p.add_argument("--clean", type=float, default=0.0, metavar="FRACTION",
                   help="share of training examples left undegraded (input = target), so the "
                        "model learns to leave clean speech and music alone (default 0)")
    p.add_argument("--music-safe-noise", action="store_true",
                   help="never mix training music with the musical ambiences of the noise list "
                        "(sonic-pi ambi_*), so a music model does not learn that music is noise")
    p.add_argument("--adversarial", type=float, default=0.0, metavar="W",
                   help="adversarial fine-tuning (seed 001): a multi-resolution spectrogram "
                        "discriminator, LSGAN + feature matching, weighted W against the "
                        "reconstruction loss (default 0: none)")
    p.add_argument("--init", metavar="CHECKPOINT",
                   help="start a new run from this checkpoint's EMA weights (fine-tuning); an "
                        "exported .onnx or a shipped model name (e.g. dsunet-voice) works too: "
                        "its weights are read back from the graph (OUT/init.pt)")
    p.add_argument("--sources", choices=("recipe", "registry"), default="recipe",
                   help="training data: 'recipe' (the file lists of aural.models.data, split by "
                        "file) or 'registry' (the source registry's train split, developed on its "
                        "tune split: sources held out by speaker/language and noise package; "
                        "AURAL_DATA=full installs them)")
    p.add_argument("--min-band", type=float, default=0.0, metavar="HZ",
                   help="draw clean speech only from files whose spectrum reaches HZ (e.g. "
                        "14000 for a full-band model; default 0: every file)")
    p.add_argument("--dev-examples", type=int, default=32)
    p.add_argument("--save-every", type=int, default=0, help="also save last.pt every N steps")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--export", metavar="ONNX", help="export best.pt to this ONNX file at the end")
    p.set_defaults(func=run_train)

    e = sub.add_parser("export", help="export a trained checkpoint to streaming ONNX (needs torch)",
                       description="Write the model's streaming step as ONNX with every layer's "
                                   "state (conv caches, STFT buffers) as named inputs/outputs, "
                                   "check it against torch in onnxruntime, and print its facts.")
    e.add_argument("checkpoint", help="a .pt written by aural train")
    e.add_argument("-o", "--output", required=True, help="ONNX file to write")
    e.add_argument("--no-ema", action="store_true", help="export the raw weights, not the EMA copy")
    e.set_defaults(func=run_export)

    c = sub.add_parser("calibrate", help="set an exported model's output level so it passes "
                                         "clean speech at the level it came in",
                       description="Run the model on clean train-split speech of the source "
                                   "registry, measure the scale of its output against its input, "
                                   "and write the inverse as output_gain in a copy's metadata "
                                   "(NeuralEnhancer applies it before its attenuation limit).")
    c.add_argument("model", help="an exported .onnx (or a shipped model's name)")
    c.add_argument("-o", "--output", required=True, help="ONNX file to write")
    c.add_argument("--speech", nargs="+", metavar="FILE",
                   help="clean speech files to measure on (your own voice, say); default: the "
                        "source registry's train split (AURAL_DATA=full installs it)")
    c.add_argument("--clips", type=int, default=12, help="registry clips (without --speech)")
    c.add_argument("--seconds", type=float, default=4.0, help="... of this length")
    c.set_defaults(func=run_calibrate)


def run_train(args) -> int:
    _need_torch()
    from aural.models.train import TrainConfig, train

    rate = args.sample_rate or (48000 if args.kind == "fullband" else 16000)
    cfg = TrainConfig(kind=args.kind, model=_model_args(args.model_arg), out=args.out,
                      sample_rate=rate, seconds=args.seconds, batch=args.batch,
                      epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, lr=args.lr,
                      w_sisdr=args.w_sisdr, w_pesq=args.w_pesq, w_band=args.w_band, seed=args.seed, threads=args.threads,
                      max_files=args.max_files, music_fraction=args.music_fraction,
                      dev_examples=args.dev_examples, save_every=args.save_every,
                      mix=args.mix, dry_speech=args.dry_speech, init=args.init or "",
                      clean_fraction=args.clean, keep_room=args.keep_room,
                      adversarial=args.adversarial,
                      loss=args.loss, music_safe_noise=args.music_safe_noise,
                      sources=args.sources, min_band_hz=args.min_band,
                      device=args.device, workers=args.workers)
    try:
        hist = train(cfg, resume=args.resume)
    except (TypeError, ValueError, FileNotFoundError) as e:
        raise CliError(str(e)) from None
    if hist:
        h = hist[-1]
        print(f"epoch {h['epoch']}: dev SI-SDR {h['dev_sisdr']:.2f} dB "
              f"(improvement {h['dev_sisdri']:+.2f} dB)")
    if args.export:
        _export(os.path.join(args.out, "best.pt"), args.export, ema=True)
    return 0


def _export(ckpt: str, out: str, ema: bool) -> None:
    from aural.models.export import export_onnx, load_checkpoint_model

    if not os.path.isfile(ckpt):
        raise CliError(f"no checkpoint {ckpt}")
    model = load_checkpoint_model(ckpt, use_ema=ema)
    export_onnx(model, out)
    d = model.describe()
    print(f"{out}: {d['kind']}, {d['parameters']} parameters, {d['sample_rate']} Hz, hop {d['hop']}, "
          f"model latency {d['latency']} samples, {os.path.getsize(out) / 1024:.0f} KiB")


def run_calibrate(args) -> int:
    from aural.models.calibrate import calibration_speech, measure_output_gain, set_output_gain
    from aural.models.runtime import read_info

    try:
        info = read_info(args.model)
        if args.speech:
            from aural.models.data import load_audio
            speech = [load_audio(f, info.sample_rate) for f in args.speech]
        else:
            speech = calibration_speech(info.sample_rate, args.clips, args.seconds)
        gain = measure_output_gain(args.model, speech)
        set_output_gain(args.model, gain, args.output)
    except (ValueError, OSError, ImportError, RuntimeError) as e:
        raise CliError(str(e)) from None
    print(f"{args.output}: output_gain {gain:.4f} ({20 * math.log10(gain):+.2f} dB; the model "
          f"passed clean speech at {1 / gain:.3f} x, over {len(speech)} clips, "
          f"{sum(len(x) for x in speech) / info.sample_rate:.1f} s)")
    return 0


def run_export(args) -> int:
    _need_torch()
    _export(args.checkpoint, args.output, ema=not args.no_ema)
    return 0
