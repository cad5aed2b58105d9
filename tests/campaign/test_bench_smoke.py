"""The benchmark script keeps working (a small campaign, both scenarios)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_campaign.py"


def test_benchmark_runs_and_every_job_starts_once(tmp_path):
    out = tmp_path / "results.json"
    subprocess.run([sys.executable, str(BENCH), "--jobs", "40", "--max-active", "10", "--poll", "0.1",
                    "--run-seconds", "0.05", "--json", str(out)], check=True, capture_output=True, timeout=120)
    healthy, flaky = json.loads(out.read_text())
    for result in (healthy, flaky):
        assert result["jobs"] == 40 and result["counts"]["SUCCEEDED"] == 40
        assert result["each_job_started_once"]
    assert healthy["requests_per_job"] <= 3
    assert sum(flaky["faults_injected"].values()) > 0
