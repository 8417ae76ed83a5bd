"""The reference protocol's settings, shared by experiment configs."""

# CIFAR-Net's per-layer keep ratios of the paper's 1.35% setting.
CIFAR_NET_KEEP_RATIOS_1_35 = [("conv1/kernel", 0.2), ("conv2/kernel", 0.01),
                              ("conv3/kernel", 0.009), ("fc1/kernel", 0.009),
                              ("fc2/kernel", 0.08)]


def prune_config(keep_ratios, **overrides) -> dict:
  """Co-Prune as published: alphas 0.7 -> 0.5 -> 0.3, signed fusion, Adam at
  1e-3, lr x0.1 after 3 epochs without improvement, a stage ends below 1e-6
  or after 100 epochs, batch 128 per domain, alpha = 0 run beside it.

  keep_ratios: list of (regex, keep ratio) rules over parameter names.
  """
  config = dict(
      keep_ratios=list(keep_ratios),
      alphas=(0.7, 0.5, 0.3), eq7=(),  # eq7=(alpha_0, alpha_min, beta) wins
      fusion="signed", scope="layer",
      batch_size=128, learning_rate=1e-3, patience=3, factor=0.1,
      min_learning_rate=1e-6, max_epochs_per_stage=100,
      compare_alpha_zero=True)
  unknown = set(overrides) - set(config)
  if unknown:
    raise ValueError(f"unknown prune settings {sorted(unknown)}")
  config.update(overrides)
  return config
