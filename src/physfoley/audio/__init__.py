"""Audio: io, spectrograms, Griffin-Lim, modal analysis/synthesis, residual bands, losses."""
