"""Quantizing an exported pruned model: accuracy and bytes per bit width.

Takes a pruned target exported by a run or a table and its run's config.
For each bit width (1 = BinaryConnect signs times a per-layer scale, >= 2 =
symmetric uniform), the kept weights are quantized (pruned ones stay zero):
first as they are (post-training quantization), then after quantization-
aware fine-tuning on the target's labelled data with straight-through
gradients (selected on target validation). Prints target test accuracy and
bytes (`coprune_jax/train/quantized.py`), and writes them as JSON beside
the model file.

  python experiments/quantize.py experiments/configs/offline_default.py \\
      --model-file runs/offline_default/seed_0/coprune_target.npz --seed 0
"""

import argparse
import json
import os
import sys

from coprune_jax.train import exported_model
from coprune_jax.train import quantized


def _parser():
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  exported_model.add_arguments(parser)
  parser.add_argument("--bits", type=int, nargs="+", default=[8, 4, 2, 1],
                      help="bit widths; 1 means BinaryConnect")
  # 1,000 target labels make ~8 steps per epoch: 2-bit and binary weights
  # need hundreds of steps to recover (10 epochs at 1e-4 barely moved them).
  parser.add_argument("--epochs", type=int, default=50,
                      help="quantization-aware fine-tuning epochs")
  parser.add_argument("--learning-rate", type=float, default=1e-3)
  return parser


def _method(bits: int) -> tuple:
  return ("binary", None) if bits == 1 else ("uniform", bits)


def main(argv=None) -> int:
  args = _parser().parse_args(argv)
  try:
    if any(b < 1 for b in args.bits):
      raise ValueError(f"bit widths must be >= 1, got {args.bits}")
    config, experiment, weights, masks = exported_model.load(args)
  except exported_model.ERRORS as e:
    print(f"quantize: error: {e}", file=sys.stderr)
    return 2
  data = experiment.data
  accuracies = exported_model.target_accuracies(experiment, weights[1])
  result = exported_model.result_header(args, weights)
  result["float32"] = {"accuracy": accuracies(weights[0]),
                       "bytes": quantized.quantized_bytes(
                           weights[0], masks, 32, scale_bytes=0)}
  rows = result["bits"] = {}
  for bits in args.bits:
    method, uniform_bits = _method(bits)
    post_training = quantized.quantized(weights[0], masks, method,
                                        uniform_bits)
    tuned, _ = quantized.finetune_quantized(
        experiment.classifier, weights, masks, data.target_train,
        data.target_val, method, uniform_bits, args.epochs,
        config.finetune.batch_size, args.learning_rate, args.seed)
    rows[bits] = {
        "method": method,
        "post_training": accuracies(post_training),
        "fine_tuned": accuracies(tuned),
        "bytes": quantized.quantized_bytes(
            weights[0], masks, quantized.index_bits(method, uniform_bits))}
  out = os.path.splitext(args.model_file)[0] + "_quantized.json"
  with open(out, "w") as f:
    json.dump(result, f, indent=1)
  dense = result["dense_float32_bytes"]
  print(f"\n{args.model_file}: dense float32 {dense:,} bytes")
  print("| weights | bytes | x smaller than dense | test acc. as quantized "
        "| test acc. fine-tuned (val) |")
  print("|---|---|---|---|---|")
  plain = result["float32"]
  print(f"| float32 (pruned) | {plain['bytes']:,} | {dense / plain['bytes']:.1f}x"
        f" | {100 * plain['accuracy']['test']:.2f} % | |")
  for bits, row in rows.items():
    label = "binary" if row["method"] == "binary" else f"{bits}-bit uniform"
    tuned = row["fine_tuned"]
    print(f"| {label} | {row['bytes']:,} | {dense / row['bytes']:.1f}x "
          f"| {100 * row['post_training']['test']:.2f} % "
          f"| {100 * tuned['test']:.2f} % ({100 * tuned['val']:.2f} %) |")
  print(f"written: {out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
