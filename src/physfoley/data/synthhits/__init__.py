"""SynthHits: a procedural, physics-driven impact dataset in the Greatest Hits layout.

`generate_video` writes one scene (NAME_denoised.mp4/.wav, NAME_times.txt, NAME_physics.json);
`generate_dataset` writes many in parallel, deterministically per seed. See docs/synthhits.md.
"""

from physfoley.data.synthhits.generate import generate_dataset, generate_video, video_name
from physfoley.data.synthhits.materials import MATERIALS
from physfoley.data.synthhits.spec import FORMAT_VERSION, FPS, SAMPLE_RATE

__all__ = [
    "FORMAT_VERSION",
    "FPS",
    "MATERIALS",
    "SAMPLE_RATE",
    "generate_dataset",
    "generate_video",
    "video_name",
]
