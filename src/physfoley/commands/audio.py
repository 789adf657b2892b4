"""`physfoley analyze | resynth | edit`: impact sounds as physics, from the command line.

Thin wrappers over `physfoley.audio.modal`: read audio, cut the 0.25 s analysis window at the
strongest onset, analyse into modes (+ residual), write parameters / JSON / a plot, or change the
physics and write the resynthesised sound. Every output is checked before any work and written
atomically; bad input is an `InputError` (exit 2, one line).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from physfoley.atomic import check_output_path
from physfoley.errors import InputError

PRESET_HELP = (
    "analysis preset: 'paper' (44.1 kHz, 2048-point STFT, 1025 modes; default) or 'small' "
    "(22.05 kHz, 512-point STFT, 257 modes)"
)
METHOD_HELP = (
    "'default' (sub-bin frequencies, least-squares decays: best reconstruction) or 'reference' "
    "(the conventions of Su et al.'s public code, frequency-axis bug fixed)"
)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"{text} must be a positive number")
    return value


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text} must be a finite number")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = subparsers.add_parser(
        "analyze",
        help="measure the modes (frequency, power, decay) of an impact sound",
        formatter_class=fmt,
        description=(
            "Analyse an impact sound into physics: one damped sine per frequency bin, each with a\n"
            "frequency (Hz), a power (dB, 0 dB = loudest) and a decay rate (dB per second; 60 dB/s\n"
            "rings for about a second). With --residual also fit the noisy part (clicks, rattle,\n"
            "room) as 100 decaying noise bands. The first 0.25 s are analysed; longer audio is\n"
            "analysed from its strongest hit (the start time is reported on stderr)."
        ),
        epilog=(
            "examples:\n"
            "  physfoley analyze knock.wav                       # print the strongest modes\n"
            "  physfoley analyze knock.wav --out knock.npz --residual --plot knock.png\n"
            "  physfoley analyze knock.wav --json > modes.json   # every mode, strongest first\n"
            "  physfoley resynth knock.npz -o knock_resynth.wav  # hear the parameters"
        ),
    )
    p.add_argument(
        "audio", metavar="AUDIO", help="audio file (wav, flac, ogg; any rate, mono or stereo)"
    )
    p.add_argument("--out", metavar="PARAMS.npz", help="write the parameters here (for resynth)")
    p.add_argument(
        "--json", action="store_true", help="print the modes as one JSON document on stdout"
    )
    p.add_argument(
        "--plot", metavar="PNG", help="draw the spectrogram with the strongest modes marked"
    )
    p.add_argument(
        "--residual", action="store_true", help="also fit the residual noise bands (a few seconds)"
    )
    p.add_argument(
        "--method", choices=("default", "reference"), default="default", help=METHOD_HELP
    )
    p.add_argument("--preset", choices=("paper", "small"), default="paper", help=PRESET_HELP)
    p.add_argument(
        "--top",
        type=int,
        default=None,
        metavar="N",
        help="list only the N strongest spectral peaks (skips the bins beside a mode); default: JSON lists all modes, the summary 10",
    )
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.set_defaults(func=run_analyze)

    p = subparsers.add_parser(
        "resynth",
        help="turn a parameters file back into sound",
        formatter_class=fmt,
        description=(
            "Synthesise the sound described by a parameters file (from `physfoley analyze --out`):\n"
            "the sum of its damped sines, plus its residual noise bands when it has them. The\n"
            "result is written at the level of the analysed sound (limited to 0 dBFS)."
        ),
        epilog="example:\n  physfoley resynth knock.npz -o knock_resynth.wav --no-residual",
    )
    p.add_argument("params", metavar="PARAMS.npz", help="parameters file written by analyze")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT.wav",
        help="audio file to write (.wav, .flac, .ogg)",
    )
    p.add_argument(
        "--no-residual", action="store_true", help="modes only: leave out the noise bands"
    )
    p.add_argument(
        "--normalize",
        action="store_true",
        help="write at full scale (peak 0 dBFS) instead of the original level",
    )
    p.add_argument("--force", action="store_true", help="overwrite OUT.wav if it exists")
    p.set_defaults(func=run_resynth)

    p = subparsers.add_parser(
        "edit",
        help="change the physics of an impact sound (pitch, ring time, level, band)",
        formatter_class=fmt,
        description=(
            "Analyse an impact sound, change its physics exactly, and write the resynthesised\n"
            "result. --freq-scale multiplies every mode frequency (2 = one octave up, like a\n"
            "smaller object; 0.5 = an octave down, a bigger one). --decay-scale multiplies every\n"
            "decay rate (0.5 = rings twice as long, softer/more resonant material; 2 = damped,\n"
            "dull). --gain-db changes the level. --highpass-hz / --lowpass-hz remove the modes\n"
            "(and residual noise) below / above a frequency."
        ),
        epilog=(
            "examples:\n"
            "  physfoley edit knock.wav -o bigger.wav --freq-scale 0.7 --decay-scale 0.6\n"
            "  physfoley edit knock.wav -o ringing.wav --decay-scale 0.5 --residual\n"
            "  physfoley edit knock.wav -o thin.wav --highpass-hz 800 --gain-db -6"
        ),
    )
    p.add_argument(
        "audio", metavar="AUDIO", help="audio file (wav, flac, ogg; any rate, mono or stereo)"
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT.wav",
        help="audio file to write (.wav, .flac, .ogg)",
    )
    p.add_argument(
        "--freq-scale",
        type=_positive_float,
        default=1.0,
        metavar="X",
        help="multiply every frequency by X (2 = octave up)",
    )
    p.add_argument(
        "--decay-scale",
        type=_positive_float,
        default=1.0,
        metavar="X",
        help="multiply every decay rate by X (0.5 = rings twice as long)",
    )
    p.add_argument(
        "--gain-db",
        type=_finite_float,
        default=0.0,
        metavar="DB",
        help="level change in dB (-6 = half the amplitude)",
    )
    p.add_argument(
        "--highpass-hz",
        type=_positive_float,
        default=None,
        metavar="F",
        help="remove everything below F Hz",
    )
    p.add_argument(
        "--lowpass-hz",
        type=_positive_float,
        default=None,
        metavar="F",
        help="remove everything above F Hz",
    )
    p.add_argument(
        "--residual",
        action="store_true",
        help="also fit and keep the residual noise (more natural, a few seconds)",
    )
    p.add_argument(
        "--method", choices=("default", "reference"), default="default", help=METHOD_HELP
    )
    p.add_argument("--preset", choices=("paper", "small"), default="paper", help=PRESET_HELP)
    p.add_argument("--force", action="store_true", help="overwrite OUT.wav if it exists")
    p.set_defaults(func=run_edit)


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def load_clip(path: str, preset: str):
    """Read `path` at the preset's rate and cut its analysis window; tells stderr where."""
    from physfoley.audio.io import load_audio
    from physfoley.audio.modal import cut_clip
    from physfoley.config import get_preset

    cfg = get_preset(preset)
    wave, sr = load_audio(path, cfg.sample_rate)
    clip, start = cut_clip(wave, sr, cfg.num_samples, which="strongest")
    if start is not None:
        _say(
            f"{path}: {wave.size / sr:.2f} s of audio; analysing {cfg.duration_s:.2f} s from the "
            f"strongest onset at {start / sr:.3f} s"
        )
    if not np.any(clip):
        raise InputError(f"{path} is silent in its analysis window; nothing to analyse")
    return clip, cfg, (None if start is None else start / sr)


def _analyse(clip, cfg, method: str, residual: bool):
    from physfoley.audio.modal import analyze

    if residual:
        _say("fitting the residual noise bands ...")
    return analyze(clip, cfg.sample_rate, preset=cfg, method=method, residual=residual)


def _summary(params, top: int) -> str:
    lines = [f"{'freq (Hz)':>10} {'power (dB)':>11} {'decay (dB/s)':>13}"]
    for mode in params.modes_table(top, peaks_only=True):
        lines.append(
            f"{mode['freq_hz']:10.1f} {mode['power_db']:11.1f} {mode['decay_db_per_s']:13.1f}"
        )
    return "\n".join(lines)


def analysis_json(params, cfg, source, onset_s: float | None, top: int | None = None) -> dict:
    """The JSON document of `analyze --json` (also the web app's /analyze result)."""
    from physfoley.audio.modal import params_to_dict

    doc = params_to_dict(params, top, peaks_only=top is not None)
    doc.update(source=str(source), preset=cfg.name, onset_s=onset_s)
    return doc


def run_analyze(args: argparse.Namespace) -> int:
    outputs = [Path(p) for p in (args.out, args.plot) if p]
    if args.out and Path(args.out).suffix.lower() != ".npz":
        raise InputError(f"--out must end in .npz, got {args.out}")
    if args.plot and Path(args.plot).suffix.lower() not in (".png", ".pdf", ".svg"):
        raise InputError(f"--plot must end in .png, .pdf or .svg, got {args.plot}")
    if len(set(outputs)) != len(outputs):
        raise InputError("--out and --plot must be different files")
    for path in outputs:
        check_output_path(path, force=args.force)
    if args.top is not None and args.top < 1:
        raise InputError("--top must be at least 1")
    clip, cfg, onset_s = load_clip(args.audio, args.preset)
    params = _analyse(clip, cfg, args.method, args.residual)
    written: list[Path] = []
    try:
        if args.out:
            written.append(params.save(args.out, force=args.force))
        if args.plot:
            from physfoley.audio.plots import plot_modal_analysis

            written.append(
                plot_modal_analysis(
                    clip, params, cfg, args.plot, title=Path(args.audio).name, force=args.force
                )
            )
    except BaseException:
        for path in written:  # all or nothing
            path.unlink(missing_ok=True)
        raise
    if args.json:
        print(json.dumps(analysis_json(params, cfg, args.audio, onset_s, args.top)))
    else:
        _say(_summary(params, args.top or 10))
        for path in written:
            _say(f"wrote {path}")
    return 0


def _write(path: str, wave: np.ndarray, sample_rate: int, force: bool) -> None:
    from physfoley.audio.io import write_audio

    peak = float(np.abs(wave).max())
    if peak > 1.0:
        _say(f"output would peak at {20 * math.log10(peak):+.1f} dBFS; limited to 0 dBFS")
        wave = wave / peak
    write_audio(path, wave, sample_rate, force=force)
    _say(f"wrote {path}")


def run_resynth(args: argparse.Namespace) -> int:
    from physfoley.audio.modal import ModalParams, resynthesize

    check_output_path(args.output, force=args.force)
    _check_audio_suffix(args.output)
    params = ModalParams.load(args.params)
    if params.batched:
        raise InputError(f"{args.params} holds {params.batch_size} clips; resynth takes one")
    wave = resynthesize(params, residual=not args.no_residual)
    if not args.normalize:
        wave = wave * float(np.asarray(params.input_peak).reshape(-1)[0])
    _write(args.output, wave, params.sample_rate, args.force)
    return 0


def _check_audio_suffix(path: str) -> None:
    if Path(path).suffix.lower() not in (".wav", ".flac", ".ogg"):
        raise InputError(f"unsupported audio extension for {path}; use .wav, .flac or .ogg")


def run_edit(args: argparse.Namespace) -> int:
    from physfoley.audio.modal import resynthesize

    check_output_path(args.output, force=args.force)
    _check_audio_suffix(args.output)
    if (
        args.highpass_hz is not None
        and args.lowpass_hz is not None
        and args.highpass_hz >= args.lowpass_hz
    ):
        raise InputError(
            f"--highpass-hz {args.highpass_hz} must be below --lowpass-hz {args.lowpass_hz}"
        )
    clip, cfg, _ = load_clip(args.audio, args.preset)
    params = _analyse(clip, cfg, args.method, args.residual)
    edited = params.scaled(
        freq_scale=args.freq_scale, decay_scale=args.decay_scale, gain_db=args.gain_db
    )
    if args.highpass_hz is not None or args.lowpass_hz is not None:
        edited = edited.band_limited(args.highpass_hz, args.lowpass_hz)
    wave = resynthesize(edited, level_from=params) * float(
        np.asarray(params.input_peak).reshape(-1)[0]
    )
    _write(args.output, wave, params.sample_rate, args.force)
    return 0
