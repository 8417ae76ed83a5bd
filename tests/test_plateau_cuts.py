"""experiments/plateau_cuts.py replays the reference's plateau rule."""

import json

from experiments import plateau_cuts


def test_a_cut_after_three_epochs_without_improvement_then_the_count_restarts():
  losses = [1.0, 0.9, 0.95, 0.91, 0.92, 0.93, 0.94, 0.95, 0.8]
  assert plateau_cuts.lr_cuts(losses) == [5, 8]


def test_improving_losses_are_never_cut():
  assert plateau_cuts.lr_cuts([1.0, 0.9, 0.8, 0.7]) == []


def test_prints_one_row_per_run_of_the_chosen_methods(tmp_path, capsys):
  run = lambda method, losses: {
      "method": method, "setting": "1.35", "seed": 0,
      "curve": [{"epoch": i + 1, "loss": l} for i, l in enumerate(losses)]}
  path = tmp_path / "r.json"
  path.write_text(json.dumps({"runs": [run("rigl", [1.0, 1.0, 1.0, 1.0]),
                                       run("dense", [1.0, 0.5])]}))
  assert plateau_cuts.main([str(path), "--methods", "rigl"]) == 0
  out = capsys.readouterr().out
  assert "| rigl | 1.35 | 0 | 4 |" in out and "dense" not in out
