"""The denoising networks ``F(x_in, c_noise, cond)`` that EDM preconditioning wraps, one module each.

- :mod:`.beat_unet`: the beat prior's 1D UNet (paper 2.5, appendix 6.6).
"""
