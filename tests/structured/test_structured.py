import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import coprune_jax as cj
from coprune_jax.models import CifarNet, LeNet5, ResNet18
from coprune_jax.structured import architectures
from coprune_jax.structured import budget
from coprune_jax.structured import cooperative
from coprune_jax.structured import criteria
from coprune_jax.structured import groups as groups_lib
from coprune_jax.structured import surgery

MODELS = {
    "cifar_net": (CifarNet(num_classes=10), (2, 32, 32, 3)),
    "lenet5": (LeNet5(), (2, 28, 28, 1)),
    "resnet18": (ResNet18(width=8), (2, 32, 32, 3)),
}


@functools.lru_cache(maxsize=None)  # read-only: tests never change it
def perturbed_variables(name):
  """Random init, with BatchNorm statistics and scales moved off 0 and 1."""
  model, shape = MODELS[name]
  variables = jax.jit(model.init)(jax.random.key(0), jnp.zeros(shape))
  leaves, treedef = jax.tree.flatten(variables)
  keys = jax.random.split(jax.random.key(1), len(leaves))
  leaves = [x + 0.2 * jax.random.normal(k, x.shape) for x, k in
            zip(leaves, keys)]
  variables = jax.tree.unflatten(treedef, leaves)
  return jax.tree_util.tree_map_with_path(
      lambda p, x: jnp.abs(x) + 0.5 if "var" in jax.tree_util.keystr(p) else x,
      variables)


# LeNet-5 in the default suite; CIFAR-Net (~14 s) and ResNet-18
# (~30 s) with the slow tests, to keep the default suite in its budget.
@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.slow) if n in ("resnet18", "cifar_net")
    else n for n in sorted(MODELS)])
def test_shrunk_model_computes_what_the_channel_masked_model_computes(name):
  model, shape = MODELS[name]
  variables = perturbed_variables(name)
  arch = architectures.architecture(name)
  groups = arch.groups(variables)
  rng = np.random.default_rng(0)
  keep = {g.name: rng.random(g.size) < 0.5 for g in groups}
  for mask in keep.values():
    mask[rng.integers(mask.size)] = True
  inputs = jax.random.normal(jax.random.key(2), shape)
  masks = surgery.channel_param_masks(variables["params"], groups, keep)
  recovered = surgery.kept_channels(masks, groups)
  for group in groups:
    np.testing.assert_array_equal(recovered[group.name], keep[group.name])
  masked = {**variables, "params": cj.apply_masks(
      variables["params"], masks, straight_through=False)}
  small_variables = surgery.shrink(variables, groups, keep)
  small = model.clone(**arch.widths({g.name: int(keep[g.name].sum())
                                     for g in groups}))
  # The shrunk arrays have exactly the shapes the smaller model declares.
  declared = jax.eval_shape(small.init, jax.random.key(0), jnp.zeros(shape))
  assert jax.tree.map(jnp.shape, declared) == jax.tree.map(jnp.shape,
                                                           small_variables)
  expected = jax.jit(model.apply)(masked, inputs)
  np.testing.assert_allclose(jax.jit(small.apply)(small_variables, inputs),
                             expected, atol=1e-5 * float(jnp.abs(expected).max()))
  assert (surgery.parameter_count(small_variables)
          < surgery.parameter_count(variables))


@pytest.mark.slow  # ~25 s on 2 CPU cores
def test_resnet_residual_streams_join_the_stem_shortcuts_and_block_outputs():
  groups = {g.name: g for g in groups_lib.resnet18_groups(
      perturbed_variables("resnet18"))}
  assert len(groups) == 12
  stream1 = {s.path for s in groups["stage1/stream"].producers}
  assert "params/stem_conv/kernel" in stream1
  assert "params/stage1_block2/bn2/scale" in stream1
  readers2 = {s.path for s in groups["stage2/stream"].consumers}
  assert readers2 == {"params/stage2_block2/conv1/kernel",
                      "params/stage3_block1/conv1/kernel",
                      "params/stage3_block1/shortcut_conv/kernel"}
  assert {s.path for s in groups["stage4/stream"].consumers} >= {
      "params/fc/kernel"}


@pytest.mark.slow  # ~7 s: with the slow tests, for the default budget
def test_cifar_net_flatten_boundary_repeats_channels_per_position():
  variables = perturbed_variables("cifar_net")
  conv3 = {g.name: g for g in architectures.architecture("cifar_net").groups(
      variables)}["conv3"]
  (reader,) = conv3.consumers
  assert reader.path == "params/fc1/kernel" and reader.repeat == 9
  np.testing.assert_array_equal(reader.indices(np.array([1, 5]), 64)[:4],
                                [1, 5, 65, 69])


def dense_chain():
  keys = jax.random.split(jax.random.key(3), 2)
  params = {"fc1": {"kernel": jax.random.normal(keys[0], (4, 3)),
                    "bias": jnp.array([0.1, -0.2, 0.3])},
            "fc2": {"kernel": jax.random.normal(keys[1], (3, 2)),
                    "bias": jnp.zeros(2)}}
  groups = groups_lib.sequential_groups({"params": params}, ["fc1", "fc2"])
  return params, groups


def test_norm_based_criteria_on_hand_made_filters():
  kernel = jnp.array([[1.0, 0.0, 3.0], [-2.0, 0.0, 4.0]])  # 3 filters of 2
  params = {"fc1": {"kernel": kernel, "bias": jnp.zeros(3)},
            "fc2": {"kernel": jnp.ones((3, 1)), "bias": jnp.zeros(1)}}
  groups = groups_lib.sequential_groups({"params": params}, ["fc1", "fc2"])
  np.testing.assert_allclose(
      criteria.l1_scores({"params": params}, groups)["fc1"], [3.0, 0.0, 7.0])
  # Filters (1,-2), (0,0), (3,4): pairwise distances sqrt5, sqrt40, 5.
  d01, d02, d12 = np.sqrt(5.0), np.sqrt(40.0), 5.0
  np.testing.assert_allclose(
      criteria.fpgm_scores({"params": params}, groups)["fc1"],
      [d01 + d02, d01 + d12, d02 + d12], rtol=1e-6)


def test_taylor_score_is_the_gradient_of_a_gate_on_the_channel():
  params, groups = dense_chain()
  x = jax.random.normal(jax.random.key(4), (8, 4))
  y = jnp.array([0, 1] * 4)

  def loss(p, gate=jnp.ones(3)):
    hidden = jax.nn.relu((x @ p["fc1"]["kernel"] + p["fc1"]["bias"]) * gate)
    return cj.cross_entropy_loss(hidden @ p["fc2"]["kernel"] + p["fc2"]["bias"],
                                 y)

  grads = jax.grad(loss)(params)
  gate_grad = jax.grad(lambda g: loss(params, g))(jnp.ones(3))
  np.testing.assert_allclose(
      criteria.taylor_scores(params, grads, groups)["fc1"],
      jnp.abs(gate_grad), rtol=1e-5)


@pytest.mark.slow  # ~30 s on 2 CPU cores: ResNet-18's forward passes
def test_slimming_and_apoz_scores():
  variables = perturbed_variables("resnet18")
  groups = groups_lib.resnet18_groups(variables)
  scores = criteria.slimming_scores(variables, groups)
  np.testing.assert_allclose(
      scores["stage1_block1/inner"],
      jnp.abs(variables["params"]["stage1_block1"]["bn1"]["scale"]))
  penalty = criteria.slimming_penalty(variables["params"], groups)
  assert float(penalty) == pytest.approx(float(sum(
      s.sum() for s in scores.values())), rel=1e-5)
  activations = criteria.capture_activations(
      MODELS["resnet18"][0], variables, jnp.ones((2, 32, 32, 3)), groups)
  apoz = criteria.apoz_scores(activations, groups)
  assert apoz["stage4/stream"].shape == (64,)
  _, cifar_groups = None, groups_lib.sequential_groups(
      {"params": dense_chain()[0]}, ["fc1", "fc2"])
  hand_made = {"fc1": jnp.array([[1.0, 0.0, -1.0], [2.0, -3.0, 0.5]])}
  np.testing.assert_allclose(
      criteria.apoz_scores(hand_made, cifar_groups)["fc1"], [1.0, 0.0, 0.5])
  with pytest.raises(ValueError, match="BatchNorm"):
    criteria.slimming_scores({"params": dense_chain()[0]}, cifar_groups)


def test_per_group_budget_keeps_exact_counts_with_index_order_ties():
  keep = budget.keep_per_group({"a": np.array([1.0, 3.0, 3.0, 0.0]),
                                "b": np.array([5.0])}, 0.5)
  np.testing.assert_array_equal(keep["a"], [False, True, True, False])
  np.testing.assert_array_equal(keep["b"], [True])
  keep = budget.keep_per_group({"a": np.array([2.0, 2.0, 2.0])}, 0.34)
  np.testing.assert_array_equal(keep["a"], [True, False, False])


@pytest.mark.parametrize("measure", budget.MEASURES)
def test_global_budget_is_met_by_the_shrunk_model(measure):
  model, shape = MODELS["cifar_net"]
  variables = perturbed_variables("cifar_net")
  arch = architectures.architecture("cifar_net")
  groups = arch.groups(variables)
  inputs = jnp.zeros((1,) + shape[1:])
  positions = budget.output_positions(model, variables, inputs)
  cost = budget.CostModel(variables, groups, measure, positions)
  scores = criteria.l1_scores(variables, groups)
  keep = budget.keep_within_budget(scores, cost, 0.3)
  small_variables = surgery.shrink(variables, groups, keep)
  small = model.clone(**arch.widths({n: int(k.sum()) for n, k in keep.items()}))
  if measure == "params":
    full, shrunk = (surgery.parameter_count(variables),
                    surgery.parameter_count(small_variables))
  else:
    def flops(m, v):
      return sum(np.size(v["params"][k.split("/")[1]]["kernel"]) * n
                 for k, n in budget.output_positions(m, v, inputs).items())
    full, shrunk = flops(model, variables), flops(small, small_variables)
  assert shrunk == pytest.approx(cost({n: int(k.sum())
                                       for n, k in keep.items()}))
  assert shrunk <= 0.3 * full
  assert shrunk > 0.25 * full  # stops as soon as the budget is met


class SumOfKept:
  """A cost that is the number of kept channels."""

  def __call__(self, kept):
    return sum(kept.values())


def test_budget_in_blocks_keeps_multiples_of_the_block_size():
  scores = {"a": np.arange(20.0)[::-1], "b": np.arange(8.0) + 1}
  keep = budget.keep_within_budget(scores, SumOfKept(), 0.3, multiple_of=4)
  assert {n: int(k.sum()) for n, k in keep.items()} == {"a": 4, "b": 4}
  np.testing.assert_array_equal(np.flatnonzero(keep["a"]), [0, 1, 2, 3])
  # 20 channels in blocks of 16: the 4 lowest go first, then nothing more.
  with pytest.raises(ValueError, match="cannot reach"):
    budget.keep_within_budget(scores, SumOfKept(), 0.5, multiple_of=16)
  with pytest.raises(ValueError, match="multiple_of"):
    budget.keep_within_budget(scores, SumOfKept(), 0.5, multiple_of=0)


def test_cooperative_channel_masks_follow_alpha_and_run_in_the_step():
  model, shape = MODELS["cifar_net"]
  variables = perturbed_variables("cifar_net")
  groups = architectures.architecture("cifar_net").groups(variables)
  source = variables["params"]
  target = jax.tree.map(lambda w: w + 0.3 * jnp.sin(7 * w), source)
  mask_fn = cooperative.cooperative_channel_masks(groups, 0.5)
  _, copy_source = mask_fn(source, target, 1.0)
  source_masks, _ = mask_fn(source, target, 0.0)
  _, own = mask_fn(target, target, 0.0)
  _, target_alone = mask_fn(source, target, 0.0)
  chex_equal = lambda a, b: jax.tree.map(np.testing.assert_array_equal, a, b)
  chex_equal(copy_source, source_masks)
  chex_equal(target_alone, own)
  assert int(target_alone["conv2"]["kernel"][0, 0, 0].sum()) == 16

  def apply_fn(params, images):
    return model.apply({"params": params}, images)

  ones = jax.tree.map(lambda m: jnp.ones_like(m), source_masks)
  adam = cj.adam_with_plateau(1e-3)
  source_pruner, target_pruner = cooperative.channel_pruners(mask_fn)
  coprune = cj.cooperative_pruning(cj.pruned(adam, source_pruner),
                                   cj.pruned(adam, target_pruner),
                                   cj.classification_objective(apply_fn))
  state = coprune.init(source, target, alpha=0.7, masks=(ones, ones))
  batch = (jax.random.normal(jax.random.key(5), (8, 32, 32, 3)),
           jnp.arange(8) % 10)
  for _ in range(2):
    state, metrics = coprune.step(state, batch, batch)
  assert np.isfinite(float(metrics["target_loss"]))
  kept_filters = state.target_masks["conv3"]["kernel"][0, 0, 0]
  assert int(kept_filters.sum()) == 32
  keep = surgery.kept_channels(state.target_masks, groups)
  np.testing.assert_array_equal(keep["conv3"], kept_filters)
  assert all(int(k.sum()) == g.size // 2 for g, k in
             zip(groups, (keep[g.name] for g in groups)))


def test_bad_structured_input_is_refused():
  params, groups = dense_chain()
  with pytest.raises(ValueError, match="groups"):
    surgery.channel_param_masks(params, groups, {})
  with pytest.raises(ValueError, match="shape"):
    surgery.channel_param_masks(params, groups, {"fc1": np.ones(4, bool)})
  with pytest.raises(ValueError, match="no channel"):
    surgery.shrink({"params": params}, groups, {"fc1": np.zeros(3, bool)})
  with pytest.raises(ValueError, match="fraction"):
    budget.keep_per_group({"fc1": np.ones(3)}, 1.5)
  with pytest.raises(ValueError, match="criterion"):
    cooperative.cooperative_channel_masks(groups, 0.5, "taylor")
  with pytest.raises(ValueError, match="no channel groups"):
    architectures.architecture("vgg")
  with pytest.raises(ValueError, match="params/fc3/kernel"):
    groups_lib.sequential_groups({"params": params}, ["fc1", "fc3"])
  with pytest.raises(ValueError, match="ResNet18"):
    groups_lib.resnet18_groups({"params": params})
