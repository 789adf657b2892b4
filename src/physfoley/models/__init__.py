"""Networks: residual/physics/visual encoders, denoisers, classifiers, baselines."""
