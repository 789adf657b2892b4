"""`physfoley eval onsets|apcc|level-change AUDIO_DIR`: metrics of whole generated soundtracks.

Onset accuracy and AP against annotated impact times, APCC against SynthHits physics
(`physfoley.evaluation.soundtracks`), and the level change of PAVAS' what-if edits
(`physfoley.evaluation.whatif`).

`physfoley.evaluation.soundtracks` imports torch, so it is imported inside `run_onsets` and
`run_apcc`: `physfoley --help` stays quick to start.
"""

from __future__ import annotations

import argparse

from physfoley.commands.eval_common import command_line, emit, option_names


def register(sub: argparse._SubParsersAction) -> None:
    o = sub.add_parser(
        "onsets",
        help="onset accuracy and AP of whole soundtracks against annotated impact times",
        description=(
            "Score every soundtrack in AUDIO_DIR (.wav, .flac, or the audio of .mp4) against "
            "NAME_times.txt in --times-dir (Greatest Hits layout; a `_denoised` suffix of the "
            "soundtrack's name is ignored): librosa onsets, confidence-ranked suppression, greedy "
            "matching within --tolerance-s, accuracy and average precision per soundtrack, "
            "averaged (the CondFoleyGen / MMAudio onset evaluation)."
        ),
    )
    o.add_argument("audio_dir", help="folder of generated soundtracks")
    o.add_argument("--times-dir", required=True, help="folder holding NAME_times.txt files")
    o.add_argument("--tolerance-s", type=float, default=0.1, help="match window (default 0.1 s)")
    o.add_argument("--delta", type=float, default=0.3, help="librosa peak threshold (0.3)")
    o.add_argument("--sample-rate", type=int, default=22050, help="analysis rate (22050 Hz)")
    o.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    o.set_defaults(func=run_onsets, option_names=option_names(o))

    a = sub.add_parser(
        "apcc",
        help="APCC (PAVAS): onset strength vs kinetic-energy change at each impact",
        description=(
            "For every soundtrack NAME(.wav|_denoised.wav) in AUDIO_DIR, read the hits of "
            "NAME_physics.json in --physics-dir (SynthHits ground truth: time, material, kinetic "
            "energy lost), measure the onset strength at each hit, and correlate the two per "
            "material (Pearson, averaged over materials with >= 3 hits). The recorded "
            "soundtracks NAME_denoised.wav of --physics-dir give the reference APCC, and "
            "APCC-Delta = |reference - generated|."
        ),
    )
    a.add_argument("audio_dir", help="folder of generated soundtracks")
    a.add_argument("--physics-dir", required=True, help="SynthHits folder (NAME_physics.json)")
    a.add_argument("--sample-rate", type=int, default=22050, help="analysis rate (22050 Hz)")
    a.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    a.set_defaults(func=run_apcc, option_names=option_names(a))

    w = sub.add_parser(
        "level-change",
        help="what-if edits (PAVAS): peak level change at each true hit between two folders",
        description=(
            "Pair the soundtracks of BASE_DIR and EDITED_DIR by name (e.g. made with "
            "--speed-scale 1 and 2), measure each one's peak level around every true hit of "
            "NAME_physics.json in --physics-dir, and report the change edited - base in dB "
            "(mean, median, std over hits; doubling the speed should add 6 dB)."
        ),
    )
    w.add_argument("base_dir", help="folder of soundtracks made without the edit")
    w.add_argument("edited_dir", help="folder of soundtracks made with the edit")
    w.add_argument("--physics-dir", required=True, help="SynthHits folder (NAME_physics.json)")
    w.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    w.set_defaults(func=run_level_change, option_names=option_names(w))


def run_onsets(args: argparse.Namespace) -> int:
    from physfoley.evaluation.soundtracks import onset_scores_of_folder

    summary, per_track = onset_scores_of_folder(
        args.audio_dir,
        args.times_dir,
        sample_rate=args.sample_rate,
        tolerance_s=args.tolerance_s,
        delta=args.delta,
    )
    doc = {
        **summary,
        "tolerance_s": args.tolerance_s,
        "delta": args.delta,
        "soundtracks": per_track,
        "command": command_line(args),
    }
    emit(
        args,
        doc,
        f"{len(per_track)} soundtracks: onset accuracy {100 * summary['onset_acc']:.2f} %, "
        f"onset AP {100 * summary['onset_ap']:.2f} %",
    )
    return 0


def run_apcc(args: argparse.Namespace) -> int:
    from physfoley.evaluation.soundtracks import apcc_of_folder

    doc = apcc_of_folder(args.audio_dir, args.physics_dir, sample_rate=args.sample_rate)
    doc["command"] = command_line(args)
    emit(
        args,
        doc,
        f"{doc['num_hits']} hits in {doc['num_soundtracks']} soundtracks: APCC generated "
        f"{doc['apcc_generated']:.3f}, recorded {doc['apcc_reference']:.3f}, "
        f"APCC-Delta {doc['apcc_delta']:.3f}",
    )
    return 0


def run_level_change(args: argparse.Namespace) -> int:
    from physfoley.evaluation.whatif import level_change_of_folders

    doc = level_change_of_folders(args.base_dir, args.edited_dir, args.physics_dir)
    doc["command"] = command_line(args)
    emit(
        args,
        doc,
        f"{doc['num_hits']} hits in {doc['num_soundtracks']} soundtracks: peak level change "
        f"{doc['mean_db']:+.2f} dB mean, {doc['median_db']:+.2f} dB median (std {doc['std_db']:.2f})",
    )
    return 0
