"""The EDM beat prior: noise schedule, preconditioning, 1D UNet, training and generation."""
