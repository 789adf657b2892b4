"""Video: decoding/encoding/muxing (PyAV), motion and impact detection, physics estimates."""
