"""The channel benchmarks still run against the conversation as it is now (bench zalo once broke
silently when «Hướng dẫn» left the first page of the menu). Tiny sizes: this checks that they
run and that every update got its answer, not how fast (figures come from `make bench`)."""

from __future__ import annotations

import os
import subprocess
import sys

from models.settings import PROJECT_ROOT


def test_the_channel_benchmarks_run_and_every_update_is_answered() -> None:
    env = {**os.environ, "TOTRUONG_BENCH_UPDATES": "100", "TOTRUONG_BENCH_RUNS": "1"}
    done = subprocess.run([sys.executable, "-m", "bench", "zalo", "telegram"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("median:") == 2, done.stdout
    assert "wrong or missing" not in done.stdout, done.stdout
