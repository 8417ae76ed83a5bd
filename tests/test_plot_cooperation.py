"""experiments/plot_cooperation.py on a tiny hand-written seeds CSV."""

import numpy as np
import pytest

from coprune_jax.train import table_report
from experiments import plot_cooperation

SEEDS_CSV = """setting,method,seed,test_accuracy,val_accuracy,selected_stage,kept,prunable
any,source,0,0.50,0.5,0,10,10
any,source,1,0.70,0.7,0,10,10
1.35,coprune,0,0.80,0.8,2,1,10
1.35,alpha0,0,0.75,0.8,2,1,10
1.35,dns,0,0.82,0.8,2,1,10
1.35,coprune,1,0.60,0.6,2,1,10
1.35,alpha0,1,0.70,0.6,2,1,10
1.35,dns,1,0.50,0.6,2,1,10
1.35,coprune,2,0.90,0.9,2,1,10
1.35,alpha0,2,0.10,0.9,2,1,10
"""


def test_gaps_are_per_seed_differences_over_seeds_with_every_reference(
    tmp_path):
  path = tmp_path / "t_seeds.csv"
  path.write_text(SEEDS_CSV)
  row = plot_cooperation.cooperation_gaps(
      table_report.read_seeds(str(path)), "1.35", "coprune")
  assert row["seeds"] == [0, 1]  # seed 2 lacks DNS
  np.testing.assert_allclose(row["gaps"]["alpha0"], [5.0, -10.0])
  np.testing.assert_allclose(row["gaps"]["dns"], [-2.0, 10.0])
  assert row["source_mean"] == pytest.approx(60.0)
  np.testing.assert_allclose(row["headroom"], [-25.0, 0.0])  # source - alpha0
  with pytest.raises(ValueError, match="no seed"):
    plot_cooperation.cooperation_gaps(
        table_report.read_seeds(str(path)), "10.4", "coprune")


def test_main_writes_the_table_and_the_figure(tmp_path):
  path = tmp_path / "t_seeds.csv"
  path.write_text(SEEDS_CSV)
  out = tmp_path / "gaps"
  assert plot_cooperation.main([f"pair={path}", "--out", str(out)]) == 0
  assert "| pair | 60.00 | -12.50 | +5.00, -10.00 (mean -2.50) |" in (
      out.with_suffix(".md").read_text())
  assert out.with_suffix(".png").stat().st_size > 0
  assert plot_cooperation.main([f"pair={path}", "--out", str(out),
                                "--x", "headroom"]) == 0
  with pytest.raises(SystemExit):  # no LABEL=
    plot_cooperation.main([str(path), "--out", str(out)])


def test_headroom_is_none_when_a_seed_lacks_the_source(tmp_path):
  path = tmp_path / "t_seeds.csv"
  path.write_text(SEEDS_CSV.replace("any,source,1,0.70,0.7,0,10,10\n", ""))
  row = plot_cooperation.cooperation_gaps(
      table_report.read_seeds(str(path)), "1.35", "coprune")
  assert row["headroom"] is None
  assert row["source_mean"] == pytest.approx(50.0)
  np.testing.assert_array_equal(plot_cooperation.x_values(row, "headroom"),
                                [0.0, 0.0])
