"""experiments/compare_tables.py on two tiny hand-written seeds CSVs."""

import pytest

from experiments import compare_tables

HEADER = "setting,method,seed,test_accuracy,val_accuracy,selected_stage,kept,prunable\n"
# Table A (e.g. the released protocol) has seeds 3-5, B (ours) 3-4 only.
A = HEADER + """1.35,coprune,3,0.80,0.8,2,1,10
1.35,coprune,4,0.70,0.7,2,1,10
1.35,coprune,5,0.90,0.9,2,1,10
1.35,alpha0,3,0.60,0.6,2,1,10
10.4,coprune,3,0.10,0.1,2,1,10
"""
B = HEADER + """1.35,coprune,3,0.75,0.8,2,1,10
1.35,coprune,4,0.72,0.7,2,1,10
1.35,alpha0,3,0.70,0.7,2,1,10
1.35,alpha0,4,0.60,0.6,2,1,10
"""


def test_gaps_pair_seeds_that_both_tables_have():
  a = {("1.35", "coprune", 3): 80.0, ("1.35", "coprune", 5): 90.0}
  b = {("1.35", "alpha0", 3): 70.0, ("1.35", "alpha0", 4): 60.0}
  row = compare_tables.paired_gaps(a, b, "1.35", "coprune", "alpha0")
  assert row["seeds"] == [3]
  assert row["gaps"].tolist() == pytest.approx([10.0])


def test_main_writes_each_method_against_itself_and_the_others(tmp_path,
                                                               capsys):
  (tmp_path / "a.csv").write_text(A)
  (tmp_path / "b.csv").write_text(B)
  out = tmp_path / "cmp"
  assert compare_tables.main([
      f"released={tmp_path / 'a.csv'}",
      f"ours={tmp_path / 'b.csv'}", "--against", "alpha0", "--out",
      str(out)]) == 0
  text = (tmp_path / "cmp.md").read_text()
  assert text == capsys.readouterr().out.rstrip("\n") + "\n"
  assert "| Co-Prune | Co-Prune | 3: +5.00, 4: -2.00 | +1.50 +- 4.95 | 1/2 |" in text
  assert ("| Co-Prune | alpha = 0 (target alone) | 3: +10.00, 4: +10.00 | "
          "+10.00 +- 0.00 | 2/2 |") in text
  assert "| alpha = 0 (target alone) | alpha = 0 (target alone) | 3: -10.00 |" in text
  # Settings do not mix: A's 10.4% cell has no partner.
  assert "10.4" not in text.split("\n", 1)[1]


def test_main_fails_clearly_without_common_seeds(tmp_path, capsys):
  (tmp_path / "a.csv").write_text(A)
  (tmp_path / "b.csv").write_text(B)
  assert compare_tables.main([f"a={tmp_path / 'a.csv'}",
                              f"b={tmp_path / 'b.csv'}", "--setting", "10.4",
                              "--out", str(tmp_path / "x")]) == 2
  assert "no seed in both tables" in capsys.readouterr().err
  with pytest.raises(SystemExit):
    compare_tables.main([f"{tmp_path / 'a.csv'}", f"b={tmp_path / 'b.csv'}",
                         "--out", str(tmp_path / "x")])
