"""`physfoley analyze | resynth | edit`: impact sounds as physics, from the command line.

Parses, calls `physfoley.audio` (`onsets.read_analysis_window` cuts the 0.25 s window at the
strongest onset, `analysis.analyze` measures modes and residual, `params` holds and edits them,
`synthesis.resynthesize` makes the sound) and prints. Every output is checked before any work and
written atomically; bad input is an `InputError` (exit 2, one line). The torch-backed modules are
imported inside the commands that use them, so that `physfoley --help` starts fast.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from physfoley import jsondoc
from physfoley.atomic import check_output_path
from physfoley.audio.io import limit_to_full_scale, write_audio
from physfoley.audio.onsets import read_analysis_window
from physfoley.audio.params import AUDIBLE_FLOOR_HZ, ModalParams, analysis_json, modes_summary
from physfoley.commands.audio_texts import COMMANDS
from physfoley.config import AudioConfig, get_preset
from physfoley.errors import InputError

# Help of each argument, by its name (two commands share some).
HELP = {
    "audio": "audio file (wav, flac, ogg; any rate, mono or stereo)",
    "output": "audio file to write (.wav, .flac, .ogg)",
    "preset": "analysis preset: 'paper' (44.1 kHz, 2048-point STFT, 1025 modes; default) or "
    "'small' (22.05 kHz, 512-point STFT, 257 modes)",
    "method": "'default' (sub-bin frequencies, least-squares decays: best reconstruction) or "
    "'reference' (the conventions of Su et al.'s public code, frequency-axis bug fixed)",
    "out": "write the parameters here (for resynth)",
    "json": "print the modes as one JSON document on stdout",
    "plot": "draw the spectrogram with the strongest modes marked",
    "residual": "also fit the residual noise bands (a few seconds)",
    "top": "list only the N strongest spectral peaks (skips the bins beside a mode); default: "
    "JSON lists all modes, the summary 10",
    "min_freq_hz": f"list no mode below F Hz (default {AUDIBLE_FLOOR_HZ:g}, the bottom of hearing: "
    "lower peaks are room rumble, not the struck object; 0 lists them all). --out keeps every mode",
    "params": "parameters file written by analyze",
    "no_residual": "modes only: leave out the noise bands",
    "normalize": "write at full scale (peak 0 dBFS) instead of the original level",
    "freq_scale": "multiply every frequency by X (2 = octave up)",
    "decay_scale": "multiply every decay rate by X (0.5 = rings twice as long)",
    "gain_db": "level change in dB (-6 = half the amplitude)",
    "highpass_hz": "remove everything below F Hz",
    "lowpass_hz": "remove everything above F Hz",
    "edit_residual": "also fit and keep the residual noise (more natural, a few seconds)",
    "duration": "seconds to write (default: until the sound has decayed by 60 dB, at most 10 s)",
}


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


def _analysis_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--method", choices=("default", "reference"), default="default", help=HELP["method"]
    )
    p.add_argument("--preset", choices=("paper", "small"), default="paper", help=HELP["preset"])


def register(subparsers: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    analyze, resynth, edit = (
        subparsers.add_parser(name, help=text, description=about, epilog=eg, formatter_class=fmt)
        for name, (text, about, eg) in COMMANDS.items()
    )
    analyze.add_argument("audio", metavar="AUDIO", help=HELP["audio"])
    analyze.add_argument("--out", metavar="PARAMS.npz", help=HELP["out"])
    analyze.add_argument("--json", action="store_true", help=HELP["json"])
    analyze.add_argument("--plot", metavar="PNG", help=HELP["plot"])
    analyze.add_argument("--residual", action="store_true", help=HELP["residual"])
    _analysis_options(analyze)
    analyze.add_argument("--top", type=int, default=None, metavar="N", help=HELP["top"])
    analyze.add_argument(
        "--min-freq-hz",
        type=_finite_float,
        default=AUDIBLE_FLOOR_HZ,
        metavar="F",
        help=HELP["min_freq_hz"],
    )
    analyze.add_argument("--force", action="store_true", help="overwrite existing output files")
    analyze.set_defaults(func=run_analyze)

    resynth.add_argument("params", metavar="PARAMS.npz", help=HELP["params"])
    resynth.add_argument("-o", "--output", required=True, metavar="OUT.wav", help=HELP["output"])
    resynth.add_argument("--no-residual", action="store_true", help=HELP["no_residual"])
    resynth.add_argument("--normalize", action="store_true", help=HELP["normalize"])
    resynth.add_argument("--duration", type=_positive_float, metavar="S", help=HELP["duration"])
    resynth.add_argument("--force", action="store_true", help="overwrite OUT.wav if it exists")
    resynth.set_defaults(func=run_resynth)

    edit.add_argument("audio", metavar="AUDIO", help=HELP["audio"])
    edit.add_argument("-o", "--output", required=True, metavar="OUT.wav", help=HELP["output"])
    edit.add_argument(
        "--freq-scale", type=_positive_float, default=1.0, metavar="X", help=HELP["freq_scale"]
    )
    edit.add_argument(
        "--decay-scale", type=_positive_float, default=1.0, metavar="X", help=HELP["decay_scale"]
    )
    edit.add_argument(
        "--gain-db", type=_finite_float, default=0.0, metavar="DB", help=HELP["gain_db"]
    )
    edit.add_argument("--highpass-hz", type=_positive_float, metavar="F", help=HELP["highpass_hz"])
    edit.add_argument("--lowpass-hz", type=_positive_float, metavar="F", help=HELP["lowpass_hz"])
    edit.add_argument("--residual", action="store_true", help=HELP["edit_residual"])
    edit.add_argument("--duration", type=_positive_float, metavar="S", help=HELP["duration"])
    _analysis_options(edit)
    edit.add_argument("--force", action="store_true", help="overwrite OUT.wav if it exists")
    edit.set_defaults(func=run_edit)


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _analysed(
    args: argparse.Namespace,
) -> tuple[np.ndarray, AudioConfig, float | None, ModalParams]:
    """(clip, cfg, onset_s, params) of `args.audio`, telling stderr where a long file was cut."""
    from physfoley.audio.analysis import analyze

    cfg = get_preset(args.preset)
    clip, onset_s, recording_s = read_analysis_window(args.audio, cfg)
    if onset_s is not None:
        _say(
            f"{args.audio}: {recording_s:.2f} s of audio; analysing {cfg.duration_s:.2f} s from "
            f"the strongest onset at {onset_s:.3f} s"
        )
    if not clip.any():
        raise InputError(f"{args.audio} is silent in its analysis window; nothing to analyse")
    if args.residual:
        _say("fitting the residual noise bands ...")
    params = analyze(clip, cfg.sample_rate, preset=cfg, method=args.method, residual=args.residual)
    return clip, cfg, onset_s, params


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
    if args.min_freq_hz < 0:
        raise InputError(f"--min-freq-hz must be >= 0, got {args.min_freq_hz:g}")
    clip, cfg, onset_s, params = _analysed(args)
    written: list[Path] = []
    try:
        if args.out:
            written.append(params.save(args.out, force=args.force))
        if args.plot:
            from physfoley.audio.plots import plot_modal_analysis

            title = Path(args.audio).name
            written.append(
                plot_modal_analysis(clip, params, cfg, args.plot, title=title, force=args.force)
            )
    except BaseException:
        for path in written:  # all or nothing
            path.unlink(missing_ok=True)
        raise
    if args.json:
        doc = analysis_json(
            params, args.audio, cfg.name, onset_s, args.top, min_freq_hz=args.min_freq_hz
        )
        print(jsondoc.dumps(doc))
        return 0
    _say(modes_summary(params, args.top or 10, min_freq_hz=args.min_freq_hz))
    for path in written:
        _say(f"wrote {path}")
    return 0


def _check_audio_output(args: argparse.Namespace) -> None:
    check_output_path(args.output, force=args.force)
    if Path(args.output).suffix.lower() not in (".wav", ".flac", ".ogg"):
        raise InputError(f"unsupported audio extension for {args.output}; use .wav, .flac or .ogg")


def _write(args: argparse.Namespace, wave: np.ndarray, sample_rate: int) -> None:
    from physfoley.audio.tails import fade_end

    wave, peak = limit_to_full_scale(fade_end(wave, sample_rate))
    if peak > 1.0:
        _say(f"output would peak at {20 * math.log10(peak):+.1f} dBFS; limited to 0 dBFS")
    write_audio(args.output, wave, sample_rate, force=args.force)
    _say(f"wrote {args.output}")


def run_resynth(args: argparse.Namespace) -> int:
    from physfoley.audio.synthesis import resynthesize
    from physfoley.audio.tails import with_ring_length

    _check_audio_output(args)
    params = ModalParams.load(args.params)
    if params.batched:
        raise InputError(f"{args.params} holds {params.batch_size} clips; resynth takes one")
    wave = resynthesize(with_ring_length(params, args.duration), residual=not args.no_residual)
    if not args.normalize:
        wave = wave * params.input_level
    _write(args, wave, params.sample_rate)
    return 0


def run_edit(args: argparse.Namespace) -> int:
    from physfoley.audio.synthesis import resynthesize
    from physfoley.audio.tails import with_ring_length

    _check_audio_output(args)
    lo, hi = args.highpass_hz, args.lowpass_hz
    if lo is not None and hi is not None and lo >= hi:
        raise InputError(f"--highpass-hz {lo} must be below --lowpass-hz {hi}")
    _, _, _, params = _analysed(args)
    edited = params.scaled(
        freq_scale=args.freq_scale, decay_scale=args.decay_scale, gain_db=args.gain_db
    )
    if lo is not None or hi is not None:
        edited = edited.band_limited(lo, hi)
    edited = with_ring_length(edited, args.duration)
    wave = resynthesize(edited, level_from=params) * params.input_level
    _write(args, wave, params.sample_rate)
    return 0
