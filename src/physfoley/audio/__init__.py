"""Audio: io, spectrograms, Griffin-Lim, modal parameters, analysis and synthesis, residual bands, onsets, losses."""
