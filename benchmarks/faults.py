"""Fault campaign: the whole loop (ingest → masterdata → documents → exports → feedback) against the
sandbox under faults and SIGKILLs, rerun until it converges, then checked against the sandbox's
ground truth (benchmarks/fault_invariants.py).

    python -m benchmarks.faults                    # the full profile: at least 20 kills
    python -m benchmarks.faults --profile short    # the short one the tests run

Each run is a worker process (the embedded runner's main job for every tenant, then one exports
tick and its runs) on one Dagster instance and one warehouse. During the fault rounds the sandbox
answers with 429s (Retry-After), 503 bursts, dropped connections, 502s after processing a POST,
malformed records on every source, upload URLs that lapse and a blob refused for good; between
rounds the books change and Routty produces exports. Some workers are killed with SIGKILL at a
random moment; the campaign then does what Dagster's run monitoring does for a dead worker: it
marks the worker's runs failed. Once the rounds are done the faults stop and the loop reruns until
nothing is left to do. It prints what was injected, the kills and runs, and the duplicates and
losses found (both must be 0: the exit code says whether they are).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TENANTS_FILE = PROJECT_ROOT / "sandbox" / "tenants.yaml"


@dataclass(frozen=True)
class Profile:
    size: int  # vendors in the sandbox dataset
    kills: int  # workers killed with SIGKILL
    fault_rounds: int  # rounds with faults on (killed or not)
    faults: dict = field(default_factory=dict)  # the sandbox's fault settings during those rounds
    changes: int = 3  # records changed at the sources before each round
    converge_runs: int = 6  # at most this many clean runs to converge
    tenants: tuple[str, ...] = ("acme", "globex")  # of sandbox/tenants.yaml


# Every kind of fault on every API, each often enough to land in every run (sandbox/faults.py).
FAULTS = {
    "rate_limit_every": 41, "retry_after": 1, "unavailable_every": 31, "drop_every": 37,  # transient
    "lost_response_every": 11,  # a write processed, its answer lost (502)
    "malformed_every": 53, "future_dated_every": 47, "naive_times_every": 7,  # records
    "short_page_max": 7, "drop_records_key_every": 43,  # pages
}
PROFILES = {
    "short": Profile(size=8, kills=1, fault_rounds=2, faults=FAULTS, changes=2, converge_runs=3, tenants=("acme",)),
    "full": Profile(size=40, kills=24, fault_rounds=30, faults=FAULTS, changes=4, converge_runs=8),
}


@dataclass
class Outcome:
    stats: Counter
    findings: object  # fault_invariants.Findings
    converge_runs: int
    table: str


@dataclass
class Campaign:
    profile: Profile
    workdir: Path
    seed: int
    rng: random.Random = field(init=False)
    stats: Counter = field(default_factory=Counter)
    durations: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)


def worker() -> int:
    """One pass of the loop as the schedules make it: the sync job, then the exports job, per tenant."""
    import dagster as dg

    from orchestration.definitions import build_definitions
    from orchestration.embedded import QUIET_CONSOLE
    from orchestration.tenants import sync_tenant_partitions
    from resources.tenants import all_tenants

    defs, ok = build_definitions(), True
    with dg.DagsterInstance.get() as instance:
        sync_tenant_partitions(instance)
        for job_name in ("routty_sync", "routty_exports"):
            job = defs.resolve_job_def(job_name)
            for tenant in all_tenants():
                result = job.execute_in_process(instance=instance, raise_on_error=False, run_config=QUIET_CONSOLE,
                                                partition_key=tenant.id)
                print(f"{job_name} {tenant.id}: {'succeeded' if result.success else 'FAILED'}", flush=True)
                ok = ok and result.success
    return 0 if ok else 1


def _env(campaign: Campaign, sandbox) -> dict[str, str]:
    home = campaign.workdir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    tenants = yaml.safe_load(TENANTS_FILE.read_text())
    tenants["tenants"] = [t for t in tenants["tenants"] if t["id"] in campaign.profile.tenants]
    tenants_file = campaign.workdir / "tenants.yaml"
    tenants_file.write_text(yaml.safe_dump(tenants))
    return {**os.environ, **sandbox.tenant_env(), "TENANTS_FILE": str(tenants_file), "DAGSTER_HOME": str(home),
            "WAREHOUSE_PATH": str(campaign.workdir / "warehouse.duckdb"),
            "ROUTTY_OUTBOX_DIR": str(campaign.workdir / "outbox"), "PYTHONPATH": str(PROJECT_ROOT)}


def run_worker(campaign: Campaign, env: dict, kill_after: float | None) -> str:
    """Start a worker; SIGKILL it after `kill_after` seconds if it is still going. Its output goes to
    a log file of its own (part of what the secrets check reads)."""
    number = campaign.stats["runs"] + 1
    log = campaign.workdir / "logs" / f"worker-{number:03d}.log"
    log.parent.mkdir(exist_ok=True)
    started = time.monotonic()
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "benchmarks.faults", "--worker"], cwd=PROJECT_ROOT,
                                   env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            process.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    campaign.stats["runs"] += 1
    if process.returncode == -signal.SIGKILL:
        campaign.stats["kills"] += 1
        _fail_orphaned_runs(env)
        return "killed"
    campaign.durations.append(time.monotonic() - started)
    return "ok" if process.returncode == 0 else "failed"


def _fail_orphaned_runs(env: dict) -> None:
    """What Dagster's run monitoring does when a run worker dies: its runs are marked failed."""
    code = ("import dagster as dg\n"
            "with dg.DagsterInstance.get() as i:\n"
            "    for r in i.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):\n"
            "        i.report_run_failed(r)\n")
    subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, check=True, capture_output=True)


def change_the_books(campaign: Campaign, admin, tenants, round_number: int) -> None:
    """A few records change at the sources, and Routty has exports ready, as between two real runs."""
    for tenant in tenants:
        for system, stream, change in (("rutter", "vendors", {"email": f"ap-{round_number}@example.com"}),
                                       ("b2brouter", "received_invoices", {})):
            records = admin("GET", f"truth/{system}/{stream}", params={"tenant": tenant.id}).json()["records"]
            for record in campaign.rng.sample(records, min(campaign.profile.changes, len(records))):
                admin("POST", f"touch/{system}/{stream}/{record['id']}", params={"tenant": tenant.id}, json=change)
        admin("POST", "routty/exports/generate", params={"tenant": tenant.id})


def refused_blobs(campaign: Campaign, admin) -> list[str]:
    """Two sales invoices whose blob Routty refuses for good while the faults last."""
    invoices = admin("GET", "truth/jortt/invoices", params={"tenant": "acme", "api": "current"}).json()["records"]
    return [f"jortt:{i['id']}" for i in campaign.rng.sample(invoices, min(2, len(invoices)))]


def fault_rounds(campaign: Campaign, admin, env: dict, tenants) -> None:
    profile = campaign.profile
    kill_rounds = set(campaign.rng.sample(range(1, profile.fault_rounds), min(profile.kills, profile.fault_rounds - 1)))
    refused = refused_blobs(campaign, admin)
    for round_number in range(profile.fault_rounds):
        change_the_books(campaign, admin, tenants, round_number)
        admin("POST", "faults", json={**profile.faults, "refuse_uploads": refused})
        admin("POST", "routty/settings", json={"upload_url_ttl": campaign.rng.choice([0.5, 2.0, 300.0])})
        # A kill lands anywhere in a typical run; a run that ends first is tried again (at most twice).
        for _ in range(3 if round_number in kill_rounds else 1):
            kill_after = campaign.rng.uniform(0.5, _typical(campaign)) if round_number in kill_rounds else None
            if run_worker(campaign, env, kill_after) == "killed":
                break
        _count_injected(campaign, admin)


def _typical(campaign: Campaign) -> float:
    recent = sorted(campaign.durations[-5:]) or [20.0]
    return max(1.0, recent[len(recent) // 2])


def _count_injected(campaign: Campaign, admin) -> None:
    for kind, n in admin("GET", "faults").json().get("injected", {}).items():
        campaign.stats[f"fault: {kind}"] += n
    admin("DELETE", "faults")


def converge(campaign: Campaign, admin, env: dict) -> int:
    """Clean runs until one finds nothing left to do (and Routty nothing left to process)."""
    admin("DELETE", "faults")
    admin("POST", "routty/settings", json={"upload_url_ttl": 300.0})
    for n in range(1, campaign.profile.converge_runs + 1):
        time.sleep(0.5)  # Routty's processing delay (0.2 s): verdicts and exports are due
        before = _activity(admin, campaign.profile.tenants)
        run_worker(campaign, env, None)
        if _activity(admin, campaign.profile.tenants) == before and n > 1:
            return n
    return campaign.profile.converge_runs


def _activity(admin, tenant_ids: tuple[str, ...]) -> tuple:
    """What a run that did something changes in Routty and Rutter."""
    documents = admin("GET", "routty/documents").json()["documents"]
    uploads = admin("GET", "routty/masterdata").json()["uploads"]
    exports = [admin("GET", "routty/exports", params={"tenant": t}).json() for t in tenant_ids]
    bills = [len(admin("GET", "rutter/bills", params={"tenant": t}).json()["created"]) for t in tenant_ids]
    return (len(documents), sum(d["xml"] is not None for d in documents), len(uploads),
            tuple(len(e["queue"]) for e in exports), tuple(sum(e["feedback_counts"].values()) for e in exports), tuple(bills))


def report(campaign: Campaign, findings, converge_runs: int) -> str:
    stats = campaign.stats
    rows = [("faults injected, by kind", "")] + sorted((k.removeprefix("fault: "), v) for k, v in stats.items()
                                                       if k.startswith("fault: "))
    rows += [("kills (SIGKILL)", stats["kills"]), ("worker runs", stats["runs"]),
             ("clean runs to converge", converge_runs)]
    rows += sorted(findings.counts.items())
    rows += [("duplicates", findings.total("duplicate")), ("losses", findings.total("loss"))]
    width = max(len(str(k)) for k, _ in rows) + 2
    lines = [f"| {'what':<{width}}| {'n':>8} |", f"|{'-' * (width + 1)}|{'-' * 10}|"]
    lines += [f"| {k:<{width}}| {v:>8} |" for k, v in rows]
    lines += [f"- {kind}: {what}" for kind, what in findings.problems[:50]]
    return "\n".join(lines)


def run_campaign(profile: Profile, seed: int, workdir: Path) -> Outcome:
    from benchmarks import fault_invariants
    from resources.tenants import all_tenants
    from resources.warehouse import warehouse_resource
    from sandbox.server import start_sandbox

    campaign = Campaign(profile, workdir, seed)
    sandbox = start_sandbox(size=profile.size, seed=seed, processing_delay=0.2)
    try:
        env = _env(campaign, sandbox)
        with mock.patch.dict(os.environ, {k: env[k] for k in ("TENANTS_FILE", "WAREHOUSE_PATH")}):
            tenants = all_tenants()
            fault_rounds(campaign, sandbox.admin, env, tenants)
            converge_runs = converge(campaign, sandbox.admin, env)
            files = [p for p in workdir.rglob("*") if p.is_file()]
            with warehouse_resource().get_connection() as conn:
                findings = fault_invariants.check_all(sandbox.admin, conn, tenants,
                                                      fault_invariants.secrets_of(sandbox.tenant_env()), files)
    finally:
        sandbox.stop()
    return Outcome(campaign.stats, findings, converge_runs, report(campaign, findings, converge_runs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, help="keep the campaign's files here (default: a temporary folder)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="routty-faults-"))
    print(f"fault campaign, profile {args.profile}, seed {args.seed}, files in {workdir}", flush=True)
    started = time.monotonic()
    outcome = run_campaign(PROFILES[args.profile], args.seed, workdir)
    print(outcome.table)
    print(f"{time.monotonic() - started:.0f} s")
    return 1 if outcome.findings.problems else 0


if __name__ == "__main__":
    sys.exit(main())
