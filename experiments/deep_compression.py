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
import datetime
import json
import os
import platform
import sys

import jax

import coprune_jax as cj
from coprune_jax import weight_sharing
from coprune_jax.train import config_files
from coprune_jax.train import deep_compression
from coprune_jax.train import phases
from coprune_jax.train import run


def _parser():
  parser = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("config", help="the config the model was trained with")
  parser.add_argument("--model-file", required=True,
                      help="a pruned model exported by a run or a table")
  parser.add_argument("--seed", type=int, default=0,
                      help="the seed of the run that exported it (data split)")
  parser.add_argument("--bits", type=int, default=4,
                      help="cluster index bits: 2^bits shared weights per layer")
  parser.add_argument("--epochs", type=int, default=10,
                      help="centroid fine-tuning epochs")
  parser.add_argument("--learning-rate", type=float, default=1e-4)
  parser.add_argument("--set", dest="overrides", action="append", default=[],
                      metavar="KEY=VALUE", help="override a config entry")
  parser.add_argument("--data-root", default=None,
                      help="offline data folder (default: $COPRUNE_DATA_DIR, "
                      "or the config's data_root)")
  return parser


def main(argv=None) -> int:
  args = _parser().parse_args(argv)
  try:
    if not os.path.isfile(args.model_file):
      raise FileNotFoundError(f"no model file {args.model_file}")
    config = config_files.load_config(args.config)
    config_files.apply_overrides(config, args.overrides)
    data_root = args.data_root or os.environ.get("COPRUNE_DATA_DIR")
    if data_root:
      config.data_root = data_root
    experiment = run.Experiment(config)
    params, model_state = experiment.init_weights(args.seed)
    loaded, loaded_masks = cj.load_pruned(
        args.model_file, like={"params": params, "model_state": model_state},
        with_masks=True)
  except (config_files.ConfigError, FileNotFoundError, ValueError) as e:
    print(f"deep_compression: error: {e}", file=sys.stderr)
    return 2
  weights = (loaded["params"], loaded["model_state"])
  masks, data = loaded_masks["params"], experiment.data
  evaluate = phases.make_evaluator(experiment.classifier)
  shared = weight_sharing.share_weights(weights[0], masks, args.bits)

  def accuracies(params):
    return {"val": evaluate((params, weights[1]), data.target_val),
            "test": evaluate((params, weights[1]), data.target_test)}

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
  dense_bytes = 4 * sum(x.size for x in jax.tree.leaves(weights))
  result = {
      "date": datetime.date.today().isoformat(), "machine": platform.node(),
      "device": jax.devices()[0].device_kind, "model_file": args.model_file,
      "file_bytes": os.path.getsize(args.model_file), "bits": args.bits,
      "dense_float32_bytes": dense_bytes, "accuracy": stages, "bytes": sizes}
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
