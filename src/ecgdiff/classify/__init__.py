"""The rhythm classifier of the talk's evaluation: an xresnet1d scoring NSR, BBB and AF on 12-lead rhythms.

- :mod:`.xresnet1d`: the network (PTB-XL benchmark's 1D XResNet, depth 50 by default);
- :mod:`.train`: training on 2.5-s random crops of the training rhythms, best-on-validation, resumable;
- :mod:`.predict`: sliding-window inference, max over windows, median over posterior samples;
- :mod:`.evaluate`: AUC-PR per class with a patient-level bootstrap interval.
"""
