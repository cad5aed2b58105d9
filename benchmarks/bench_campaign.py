"""Benchmark: a 1000-job campaign against the fake Flows service on loopback.

    python benchmarks/bench_campaign.py [--jobs 1000] [--json results.json]

Two scenarios: a healthy service, and one where 10% of requests fail transiently
(429 with Retry-After, 500 before/after applying the request, dropped connections
before/after). The fake service runs in its own process; each campaign runs in a fresh
child process so its peak memory is its own. Targets (issue 6): under 2 minutes, under
200 MB, at most 3 requests per job on a healthy service.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FLOW_ID = "f1f1f1f1-0000-4000-8000-000000000001"
EXPERIMENT = """\
[experiment]
name = "bench"
backend = "globus"
[facility]
collection = "22222222-2222-4222-8222-222222222222"
path = "/raw"
[compute]
endpoint = "33333333-3333-4333-8333-333333333333"
[recon]
rotation-axis = 1024.5
"""


def child(url: str, jobs: int, max_active: int, poll: float) -> dict:
    """Create and run the campaign in this process; report its own figures."""
    import globus_sdk

    from tomocupy_gladier.campaign import wiring
    from tomocupy_gladier.campaign.globus_service import GlobusRunService
    from tomocupy_gladier.campaign.ledger import Ledger
    from tomocupy_gladier.campaign.manifest import load_manifest
    from tomocupy_gladier.campaign.retry import RetryPolicy
    from tomocupy_gladier.campaign.runner import CampaignRunner, RunnerSettings
    from tomocupy_gladier.tools.registry import load_config

    work = Path(tempfile.mkdtemp(prefix="bench-campaign-"))
    (work / "experiment.toml").write_text(EXPERIMENT)
    datasets = [f"scans/scan_{i:05d}.h5" for i in range(jobs // 2)]
    (work / "manifest.toml").write_text(textwrap.dedent(f"""\
        datasets = {json.dumps(datasets)}
        [params.default]
        [params.vo]
        remove-stripe-method = "vo-all"
        """))
    config = load_config(work / "experiment.toml")
    started = time.perf_counter()
    manifest = load_manifest(work / "manifest.toml")
    with Ledger(work / "bench.sqlite") as ledger:
        ledger.add_jobs(manifest.jobs)
        service = GlobusRunService.connect(FLOW_ID, flows_authorizer=globus_sdk.NullAuthorizer(), base_url=url)
        runner = CampaignRunner(ledger, service, wiring.body_builder(config, "recon"), name="bench",
                                settings=RunnerSettings(max_active=max_active, poll_interval=poll,
                                                        max_poll_interval=2.0, cancel_check_interval=1.0),
                                policy=RetryPolicy(base_delay=0.05, max_delay=2.0, max_attempts=10))
        counts = runner.run()
        keys = [j.key for j in ledger.jobs()]
    wall = time.perf_counter() - started
    return {"jobs": len(keys), "counts": counts, "wall_s": round(wall, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), "keys": keys}


def scenario(name: str, transient: float, args: argparse.Namespace) -> dict:
    server = subprocess.Popen([sys.executable, "-m", "tomocupy_gladier.campaign.fake_service",
                               "--transient", str(transient), "--run-seconds", str(args.run_seconds),
                               "--retry-after", args.retry_after],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        out = subprocess.run([sys.executable, __file__, "--child", url, "--jobs", str(args.jobs),
                              "--max-active", str(args.max_active), "--poll", str(args.poll)],
                             cwd=ROOT, capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        with urllib.request.urlopen(url + "_stats") as answer:
            stats = json.load(answer)
    finally:
        server.terminate()
        server.wait()
    keys = result.pop("keys")
    requests = sum(stats["requests"].values())
    submissions = [stats["submissions"].get(f"job:{k}", 0) for k in keys]
    return {"scenario": name, **result, "requests": requests,
            "requests_per_job": round(requests / result["jobs"], 2), "by_route": stats["requests"],
            "faults_injected": stats["faults"], "runs_started": stats["runs"],
            "each_job_started_once": all(n == 1 for n in submissions)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--max-active", type=int, default=100)
    parser.add_argument("--poll", type=float, default=0.25, help="first poll after submitting (s)")
    parser.add_argument("--run-seconds", type=float, default=0.2, help="how long a fake run lasts")
    parser.add_argument("--retry-after", default="0", help="Retry-After of the injected 429s (s)")
    parser.add_argument("--json", dest="json_out", help="also write the results here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.jobs, args.max_active, args.poll)))
        return
    results = [scenario("healthy", 0.0, args), scenario("10% transient failures", 0.10, args)]
    for r in results:
        print(f"{r['scenario']:>24}: {r['jobs']} jobs in {r['wall_s']} s, peak {r['peak_rss_mb']} MB, "
              f"{r['requests_per_job']} requests/job ({r['by_route']}), faults {r['faults_injected']}, "
              f"states {{{', '.join(f'{k}: {v}' for k, v in r['counts'].items() if v)}}}, "
              f"each job started once: {r['each_job_started_once']}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
