"""Missing-lead reconstruction baselines the diffusion posterior is compared with: Dower's matrix (``dower``) and
the learned ECGrecover network (``ecgrecover``, trained by ``ecgrecover_train``)."""
