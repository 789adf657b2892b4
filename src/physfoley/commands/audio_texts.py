"""What `physfoley analyze | resynth | edit` say in `--help`: each one's summary, description
and examples, kept apart so that `physfoley.commands.audio` reads as parse, call, print."""

# Sub-command: (one-line help, description, epilog); texts keep their own line breaks.
COMMANDS = {
    "analyze": (
        "measure the modes (frequency, power, decay) of an impact sound",
        """\
Analyse an impact sound into physics: one damped sine per frequency bin, each with a
frequency (Hz), a power (dB, 0 dB = loudest) and a decay rate (dB per second; 60 dB/s
rings for about a second). With --residual also fit the noisy part (clicks, rattle,
room) as 100 decaying noise bands. The first 0.25 s are analysed; longer audio is
analysed from its strongest hit (the start time is reported on stderr).""",
        """\
examples:
  physfoley analyze knock.wav                       # print the strongest modes
  physfoley analyze knock.wav --out knock.npz --residual --plot knock.png
  physfoley analyze knock.wav --json > modes.json   # every mode, strongest first
  physfoley resynth knock.npz -o knock_resynth.wav  # hear the parameters""",
    ),
    "resynth": (
        "turn a parameters file back into sound",
        """\
Synthesise the sound described by a parameters file (from `physfoley analyze --out`):
the sum of its damped sines, plus its residual noise bands when it has them. The
result is written at the level of the analysed sound (limited to 0 dBFS).""",
        "example:\n  physfoley resynth knock.npz -o knock_resynth.wav --no-residual",
    ),
    "edit": (
        "change the physics of an impact sound (pitch, ring time, level, band)",
        """\
Analyse an impact sound, change its physics exactly, and write the resynthesised
result. --freq-scale multiplies every mode frequency (2 = one octave up, like a
smaller object; 0.5 = an octave down, a bigger one). --decay-scale multiplies every
decay rate (0.5 = rings twice as long, softer/more resonant material; 2 = damped,
dull). --gain-db changes the level. --highpass-hz / --lowpass-hz remove the modes
(and residual noise) below / above a frequency.""",
        """\
examples:
  physfoley edit knock.wav -o bigger.wav --freq-scale 0.7 --decay-scale 0.6
  physfoley edit knock.wav -o ringing.wav --decay-scale 0.5 --residual
  physfoley edit knock.wav -o thin.wav --highpass-hz 800 --gain-db -6""",
    ),
}
