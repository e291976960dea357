"""Classical (non-learned) reconstruction baselines the diffusion posterior is compared with."""
