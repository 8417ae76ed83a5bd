"""experiments/plot_pruners.py on a hand-written bench_pruners result."""

import json

import numpy as np

from experiments import plot_pruners


def _run(setting, method, seed, vals, regrown=None):
  regrown = regrown or [None] * len(vals)
  return {"setting": setting, "method": method, "seed": seed,
          "curve": [{"epoch": i + 1, "val": v, "kept": 200, "regrown": r}
                    for i, (v, r) in enumerate(zip(vals, regrown))]}


RUNS = [_run("1.35", "rigl", 0, [0.1, 0.2], [20, 10]),
        _run("1.35", "rigl", 1, [0.3, 0.4], [40, 0]),
        _run("10.4", "rigl", 0, [0.5, 0.6]), _run("10.4", "dense", 0, [0.5, 0.7])]


def test_curves_are_grouped_by_setting_and_method_one_row_per_seed():
  curves = plot_pruners.per_epoch(RUNS, plot_pruners.validation_accuracy)
  np.testing.assert_allclose(curves["1.35"]["rigl"], [[10, 20], [30, 40]])
  np.testing.assert_allclose(curves["10.4"]["rigl"], [[50, 60]])


def test_churn_is_a_percentage_of_the_kept_weights_and_nan_where_unrecorded():
  churn = plot_pruners.per_epoch(RUNS, plot_pruners.mask_churn)
  np.testing.assert_allclose(churn["1.35"]["rigl"], [[10, 5], [20, 0]])
  assert np.isnan(churn["10.4"]["dense"]).all()
  # Epochs run before bench_pruners.py recorded churn have no key at all.
  old = {"setting": "1.35", "method": "rigl", "seed": 0,
         "curve": [{"epoch": 1, "val": 0.1, "kept": 200}]}
  assert np.isnan(plot_pruners.per_epoch([old], plot_pruners.mask_churn)[
      "1.35"]["rigl"]).all()


def test_writes_the_figure(tmp_path):
  results = tmp_path / "r.json"
  results.write_text(json.dumps({"device": "cpu", "date": "2026-11-27",
                                 "runs": RUNS}))
  assert plot_pruners.main([str(results), "--out",
                            str(tmp_path / "f.png")]) == 0
  assert (tmp_path / "f.png").stat().st_size > 1000
