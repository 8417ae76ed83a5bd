"""experiments/plot_pruners.py on a hand-written bench_pruners result."""

import json

import numpy as np

from experiments import plot_pruners


def _run(setting, method, seed, vals):
  return {"setting": setting, "method": method, "seed": seed,
          "curve": [{"epoch": i + 1, "val": v} for i, v in enumerate(vals)]}


RUNS = [_run("1.35", "rigl", 0, [0.1, 0.2]), _run("1.35", "rigl", 1, [0.3, 0.4]),
        _run("10.4", "rigl", 0, [0.5, 0.6])]


def test_curves_are_grouped_by_setting_and_method_one_row_per_seed():
  curves = plot_pruners.validation_curves(RUNS)
  np.testing.assert_allclose(curves["1.35"]["rigl"], [[10, 20], [30, 40]])
  np.testing.assert_allclose(curves["10.4"]["rigl"], [[50, 60]])


def test_writes_the_figure(tmp_path):
  results = tmp_path / "r.json"
  results.write_text(json.dumps({"device": "cpu", "date": "2026-11-27",
                                 "runs": RUNS}))
  assert plot_pruners.main([str(results), "--out",
                            str(tmp_path / "f.png")]) == 0
  assert (tmp_path / "f.png").stat().st_size > 1000
