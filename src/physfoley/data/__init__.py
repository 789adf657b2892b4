"""Data: Greatest Hits layout parsing, SynthHits generator, preparation, torch datasets."""
