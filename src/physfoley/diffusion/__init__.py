"""Diffusion objectives (DDPM eps-L1, flow matching) and samplers."""
