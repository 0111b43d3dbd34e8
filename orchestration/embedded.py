"""The embedded default: the whole sync against the local sandbox, no credentials, no network.

    python -m orchestration.embedded          # start the sandbox, run the main job once per tenant, one tick of
                                              # the exports sensor and its runs, print a summary
    python -m orchestration.embedded --ui     # start the sandbox and the Dagster UI (schedules, sensors live)

Ctrl-C, SIGTERM and SIGHUP (a service manager, a container stop, a CI timeout, a closed terminal)
all stop it the same way, and with it everything it started: the sandbox and `dagster dev`.

Runs use a real Dagster instance (DAGSTER_HOME, default data/dagster_home) and the warehouse at
WAREHOUSE_PATH (default data/warehouse.duckdb), so a second run sees what the first one did. The
sandbox serves two companies (sandbox/tenants.yaml): acme on Jortt's current API, globex on the
legacy one.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sandbox.server import start_sandbox

JOB_NAME = "routty_sync"
TENANTS_FILE = Path(__file__).resolve().parent.parent / "sandbox" / "tenants.yaml"
# Warnings and errors on the console; everything else is in the run's event log (the UI shows it).
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
UI_STOP_GRACE = 15.0  # seconds `dagster dev` gets to stop its services before they are killed


def _stop_on_signals() -> None:
    """SIGTERM and SIGHUP stop the runner as Ctrl-C does: as KeyboardInterrupt, so the `finally`
    blocks stop what it started. SIGINT gets Python's handler even when started ignored (`cmd &` in
    a script): the children inherit it, and `dagster dev` stops cleanly only through it. A SIGHUP
    ignored on entry (nohup) stays ignored."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, _interrupt)


def _interrupt(signum, frame) -> None:
    # Through SIGINT's current handler: while a run executes that is Dagster's, which ends the run cleanly.
    signal.getsignal(signal.SIGINT)(signum, frame)


def _stop_if_interrupted(result) -> None:
    """While a run executes, Dagster takes the signal and ends the run as failed (unexpected
    termination); the runner then stops too, instead of going on with the next run."""
    failures = result.filter_events(lambda event: event.is_job_failure)
    if any(getattr(f.job_failure_data.failure_reason, "value", None) == "UNEXPECTED_TERMINATION" for f in failures):
        raise KeyboardInterrupt


def _ignore_stop_signals() -> None:
    """Once stopping, a second signal must not cut the (bounded) stopping of the children short."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def _prepare_environment(sandbox_env: dict[str, str]) -> None:
    os.environ.update(sandbox_env)
    os.environ.setdefault("TENANTS_FILE", str(TENANTS_FILE))
    write_instance_settings(Path(os.environ.setdefault("DAGSTER_HOME", str(Path("data/dagster_home").resolve()))))


# The only pool is Rutter's (resources/rutter.py POOL): one Rutter step at a time across all runs, so
# the companies' parallel runs take turns at the organization's rate limit.
POOL_SETTINGS = "concurrency:\n  pools:\n    granularity: op\n    default_limit: 1\n"


def write_instance_settings(home: Path) -> None:
    """The instance's dagster.yaml; a home made before the pool existed gets its setting added."""
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    text = settings.read_text() if settings.exists() else "telemetry:\n  enabled: false\n"
    if "concurrency:" not in text:
        settings.write_text(text.rstrip("\n") + "\n" + POOL_SETTINGS)


def run_main_job() -> int:
    # Imported only now: the definitions read their settings from the environment set above.
    import dagster as dg

    from orchestration.definitions import build_definitions
    from orchestration.tenants import sync_tenant_partitions
    from resources.tenants import all_tenants

    defs = build_definitions()
    job = defs.resolve_job_def(JOB_NAME)
    ok = True
    with dg.DagsterInstance.get() as instance:
        sync_tenant_partitions(instance)  # as `python -m orchestration.tenants sync`: a run needs its partition
        for tenant in all_tenants():
            result = job.execute_in_process(instance=instance, partition_key=tenant.id, raise_on_error=False,
                                            run_config=QUIET_CONSOLE)
            print(summary(tenant.id, result))
            ok = ok and result.success
            _stop_if_interrupted(result)
        ok = run_exports_tick(defs, instance) and ok
    return 0 if ok else 1


def run_exports_tick(defs, instance) -> bool:
    """What the exports sensor does once a minute in the UI: one tick, and the runs it asks for."""
    import dagster as dg

    sensor = defs.resolve_sensor_def("routty_exports_sensor")
    with dg.build_sensor_context(instance=instance, resources={"routty": defs.resources["routty"]}) as context:
        tick = sensor(context)
    requests = [] if isinstance(tick, dg.SkipReason) else tick.run_requests
    job, ok = defs.resolve_job_def("routty_exports"), True
    for request in requests:
        config = {**request.run_config, **QUIET_CONSOLE}
        result = job.execute_in_process(instance=instance, partition_key=request.partition_key, run_config=config,
                                        raise_on_error=False, tags=request.tags)
        steps = export_steps({e.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
                              for e in result.get_asset_materialization_events()})
        print(f"exports of {request.partition_key}: run {result.run_id} "
              f"{'succeeded' if result.success else 'FAILED'}; by step {steps or '-'}")
        ok = ok and result.success
        _stop_if_interrupted(result)
    if not requests:
        print("exports: none waiting")
    return ok


def export_steps(metadata: dict[str, dict]) -> dict[str, int]:
    """Exports per step ({"booked": 24, ...}) from a run's metadata by asset key: the bookings asset
    reports each step as `exports_<step>`."""
    from assets.exports.booking import BOOKING_KEY

    booking = metadata.get(BOOKING_KEY.to_user_string(), {})
    return {key.removeprefix("exports_"): value for key, value in booking.items()
            if key.startswith("exports_") and key != "exports_with_warnings" and value}

def summary(tenant_id: str, result) -> str:
    from assets.masterdata.lists import LISTS

    metadata = {
        "/".join(event.asset_key.path): {k: v.value for k, v in event.materialization.metadata.items()}
        for event in result.get_asset_materialization_events()
    }
    streams = {key: m for key, m in metadata.items() if "rows_received" in m}
    lines = [f"tenant {tenant_id}: run {result.run_id} {'succeeded' if result.success else 'FAILED'}",
             f"  {'rows ingested':<34}{'received':>9}{'new':>7}{'updated':>8}{'same':>7}{'rejected':>9}{'gone':>6}{'requests':>9}"]
    lines += [
        f"  {key:<34}{m['rows_received']:>9}{m['rows_new']:>7}{m['rows_updated']:>8}{m['rows_unchanged']:>7}"
        f"{m['rows_rejected']:>9}{m['rows_disappeared']:>6}{m['requests']:>9}"
        for key, m in sorted(streams.items())
    ]
    documents = metadata.get("b2brouter/received_invoice_documents", {})
    if documents:
        lines.append(f"  UBL documents fetched: {documents.get('documents_fetched', 0)}")
    lines.append(f"  {'masterdata (records)':<34}{'new':>9}{'changed':>8}{'delete':>7}{'rejected':>9}{'uploads':>8}  latest upload")
    uploads_table = metadata.get("masterdata/upload_status", {}).get("latest_uploads")
    status = {f"{tenant_id}/{r.data['list_type']}": r.data for r in (uploads_table.records if uploads_table else [])}
    for doc in LISTS:
        xml = metadata.get(doc.xml_key.to_user_string(), {})
        uploads = metadata.get(doc.push_key.to_user_string(), {}).get("documents_pushed", 0)
        latest = status.get(f"{tenant_id}/{doc.list_type}", {}).get("status", "-")
        lines.append(f"  {doc.list_type:<34}{xml.get('records_new', 0):>9}{xml.get('records_changed', 0):>8}"
                     f"{xml.get('records_to_delete', 0):>7}{xml.get('rejected', 0):>9}{uploads:>8}  {latest}")
    sales, received = (metadata.get(f"invoices/{flow}_uploads", {}) for flow in ("sales_invoice", "received_invoice"))
    by_status = {key.removeprefix("documents_").replace("_", " ").title(): n
                 for key, n in metadata.get("invoices/status", {}).items()
                 if key.startswith("documents_") and key != "documents_failed" and isinstance(n, int)}
    failed, blocked = (sales.get(key, 0) + received.get(key, 0) for key in ("failed", "blocked_by_attachment"))
    lines.append(f"  documents into Routty: {sales.get('uploaded', 0)} sales and {received.get('uploaded', 0)} received "
                 f"invoice(s) uploaded now; {blocked} blocked by an attachment; "
                 + (f"{failed} not uploaded (the failed step says why); " if failed else "")
                 + f"all by status: {by_status or '-'}")
    return "\n".join(lines)


def run_ui(port: int) -> int:
    command = [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-p", str(port)]
    print(f"Dagster UI on http://127.0.0.1:{port} (sandbox at {os.environ['ROUTTY_BASE_URL']}); Ctrl-C stops both.")
    # A process group of its own: `dagster dev` with its webserver, daemon and code servers, stopped as one.
    ui = subprocess.Popen(command, process_group=0, stdin=subprocess.DEVNULL)
    try:
        return ui.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        _stop_group(ui)


def _stop_group(leader: subprocess.Popen) -> None:
    """SIGINT to the whole group, as Ctrl-C in a terminal gives it; whatever is left after the grace
    period is killed."""
    _ignore_stop_signals()
    signal_group(leader.pid, signal.SIGINT)
    deadline = time.monotonic() + UI_STOP_GRACE
    while signal_group(leader.pid, 0) and time.monotonic() < deadline:
        leader.poll()  # reaps the leader once it exits: only the living count
        time.sleep(0.1)
    signal_group(leader.pid, signal.SIGKILL)
    leader.wait()


def signal_group(group: int, sig: int) -> bool:
    """Whether the group still had a process to signal."""
    try:
        os.killpg(group, sig)
        return True
    except ProcessLookupError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ui", action="store_true", help="open the Dagster UI instead of running the job once")
    parser.add_argument("--size", type=int, default=200, help="vendors in the sandbox dataset")
    parser.add_argument("--seed", type=int, default=42, help="seed of the sandbox dataset")
    parser.add_argument("--port", type=int, default=0, help="sandbox port (0: any free port)")
    parser.add_argument("--ui-port", type=int, default=3000, help="port of the Dagster UI (with --ui)")
    args = parser.parse_args()
    _stop_on_signals()
    sandbox = start_sandbox(size=args.size, seed=args.seed, port=args.port)
    try:
        _prepare_environment(sandbox.tenant_env())
        return run_ui(args.ui_port) if args.ui else run_main_job()
    except KeyboardInterrupt:
        print("stopped: interrupted before the end", file=sys.stderr)
        return 130
    finally:
        _ignore_stop_signals()
        sandbox.stop()


if __name__ == "__main__":
    sys.exit(main())
