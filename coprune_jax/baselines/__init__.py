"""Building blocks of the paper's baselines (issue 4): OBD, L-OBS, DNS, MMD."""
