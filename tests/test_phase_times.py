"""experiments/phase_times.py on hand-written metrics records."""

from experiments import phase_times


def test_seconds_sum_per_seed_and_phase_and_untimed_logs_say_so():
  records = [
      {"seed": 0, "phase": "pretrain", "stage": 0, "epoch": 1, "seconds": 2.5},
      {"seed": 0, "phase": "pretrain", "stage": 0, "epoch": 2, "seconds": 1.5},
      {"seed": 1, "phase": "pretrain", "stage": 0, "epoch": 1, "seconds": 4.0},
      {"seed": 0, "phase": "1.35/dns", "stage": 0, "epoch": 1},  # older log
      {"seed": 0, "phase": "1.35/dns", "stage": 1, "epoch": 1, "seconds": 1.0},
  ]
  assert phase_times.phase_times(records) == {
      (0, "pretrain"): (2, 4.0), (1, "pretrain"): (1, 4.0),
      (0, "1.35/dns"): (2, None)}
