"""Training loops, one per stage; torchrun/DDP-ready."""
