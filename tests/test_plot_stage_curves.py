"""experiments/plot_stage_curves.py on a tiny hand-written metrics log."""

import json

import pytest

from experiments import plot_stage_curves


def _record(seed, stage, epoch, val, alpha=None):
  record = {"phase": "1.35/coprune", "seed": seed, "stage": stage,
            "epoch": epoch, "val_accuracy": val}
  if alpha is not None:
    record["alpha"] = alpha
  return record


def test_curve_marks_each_stage_start_and_its_alpha():
  records = [_record(0, 0, 1, 0.1, 0.7), _record(0, 0, 2, 0.2, 0.7),
             _record(1, 0, 1, 0.9, 0.7),  # another seed
             _record(0, 1, 1, 0.5, 0.5), _record(0, 2, 1, 0.6, 0.3)]
  curve = plot_stage_curves.stage_curve(records, "1.35/coprune", 0)
  assert curve == {"val": [0.1, 0.2, 0.5, 0.6], "stage_starts": [0, 2, 3],
                   "alphas": [0.7, 0.5, 0.3]}


def test_main_draws_what_some_run_has_and_refuses_a_phase_none_has(
    tmp_path):
  (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in [
      _record(0, 0, 1, 0.1), _record(0, 1, 1, 0.4)]) + "\n")
  other = tmp_path / "other"
  other.mkdir()
  (other / "metrics.jsonl").write_text(json.dumps(
      {**_record(0, 0, 1, 0.3), "phase": "1.35/dns"}) + "\n")
  out = tmp_path / "curves"
  assert plot_stage_curves.main([f"run={tmp_path}", f"other={other}",
                                 "--phases", "1.35/coprune", "1.35/dns",
                                 "--out", str(out)]) == 0
  assert out.with_suffix(".png").stat().st_size > 0
  assert plot_stage_curves.main([f"run={tmp_path}", "--phases", "1.35/dns",
                                 "--out", str(out)]) == 2
  with pytest.raises(SystemExit):
    plot_stage_curves.main([str(tmp_path), "--phases", "x", "--out", str(out)])
