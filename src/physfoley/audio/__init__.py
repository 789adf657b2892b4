"""Audio: io, spectrograms, Griffin-Lim, modal parameters (params), analysis and synthesis,
residual bands, onsets and clip cutting, losses, plots."""
