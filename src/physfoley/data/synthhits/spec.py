"""What every SynthHits video is: image size, frame rate, sample rate, file-format version.

A leaf module: each step of `generate_video` (scene, events, soundtrack, picture, files)
reads these, and readers of the dataset compare `FORMAT_VERSION` with the record's.
"""

from __future__ import annotations

from physfoley.video.encode import NTSC_FPS

FORMAT_VERSION = 1
IMAGE_SIZE_PX = 224  # square frames, as the Greatest Hits clips are cut
FPS = NTSC_FPS  # 30000/1001, the Greatest Hits camera's rate
SAMPLE_RATE = 44100  # Hz
