"""Deep Compression of an exported pruned model: accuracy and bytes per stage.

Takes a pruned target exported by a run (`seed_S/coprune_target.npz`) or a
table (`cells/<setting>/<method>/seed_S.npz`) and its run's config, then:
pruned -> per-layer k-means weight sharing (2^bits centroids) -> centroid
fine-tuning on the target's labelled data (selected on target validation)
-> Huffman coding. Prints target test accuracy and bytes after each stage
with the entropy bound, and writes them as JSON beside the model file.

  python experiments/deep_compression.py experiments/configs/offline_default.py \\
      --model-file runs/offline_default/seed_0/coprune_target.npz --seed 0
"""

import argparse
import json
import os
import sys

from coprune_jax.compression import weight_sharing
from coprune_jax.train import deep_compression
from coprune_jax.train import exported_model


def _parser():
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  exported_model.add_arguments(parser)
  parser.add_argument("--bits", type=int, default=4,
                      help="cluster index bits: 2^bits shared weights per layer")
  parser.add_argument("--epochs", type=int, default=10,
                      help="centroid fine-tuning epochs")
  parser.add_argument("--learning-rate", type=float, default=1e-4)
  return parser


def main(argv=None) -> int:
  args = _parser().parse_args(argv)
  try:
    config, experiment, weights, masks = exported_model.load(args)
  except exported_model.ERRORS as e:
    print(f"deep_compression: error: {e}", file=sys.stderr)
    return 2
  data = experiment.data
  shared = weight_sharing.share_weights(weights[0], masks, args.bits)
  accuracies = exported_model.target_accuracies(experiment, weights[1])
  stages = {"pruned": accuracies(weights[0]),
            "shared": accuracies(weight_sharing.shared_params(
                weights[0], shared, masks))}
  tuned, _ = deep_compression.finetune_centroids(
      experiment.classifier, weights, masks, shared, data.target_train,
      data.target_val, args.epochs, config.finetune.batch_size,
      args.learning_rate, args.seed)
  stages["centroids fine-tuned"] = accuracies(
      weight_sharing.shared_params(weights[0], tuned, masks))
  sizes = deep_compression.stage_sizes(weights[0], masks, tuned, args.bits)
  result = exported_model.result_header(args, weights)
  result.update(bits=args.bits, accuracy=stages, bytes=sizes)
  dense_bytes = result["dense_float32_bytes"]
  out = os.path.splitext(args.model_file)[0] + f"_deep_compression_{args.bits}bit.json"
  with open(out, "w") as f:
    json.dump(result, f, indent=1)
  print(f"\n{args.model_file} ({result['file_bytes']:,} bytes on disk, "
        f"CSR), dense float32 {dense_bytes:,} bytes, {args.bits}-bit sharing")
  print("| stage | target test acc. | target val acc. | bytes | x smaller |")
  print("|---|---|---|---|---|")
  rows = [("pruned (CSR + float32)", "pruned", "pruned"),
          (f"weight sharing, {args.bits} bits", "shared", "shared"),
          ("centroids fine-tuned", "centroids fine-tuned", "shared"),
          ("Huffman-coded", "centroids fine-tuned", "huffman")]
  for label, stage, size in rows:
    acc = stages[stage]
    print(f"| {label} | {100 * acc['test']:.2f} % | {100 * acc['val']:.2f} % "
          f"| {sizes[size]:,.0f} | {dense_bytes / sizes[size]:.1f}x |")
  print(f"| entropy bound of indices and gaps | | | "
        f"{sizes['entropy_bound']:,.0f} | "
        f"{dense_bytes / sizes['entropy_bound']:.1f}x |")
  print(f"written: {out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
