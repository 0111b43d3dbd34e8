"""Ingest benchmark: the project's Rutter vendors ingest against a bare HTTP page loop.

    python -m benchmarks.ingest [--server fast|sandbox] [--rows 100000] [--page-size 500] [--repeat 3]
                                [--curve 10000,100000,1000000] [--profile 0]

--server fast (the default): benchmarks/fast_server.py serves `--rows` vendors from pages rendered to
bytes before the first request, so the figures are the client's. Variants, each in a fresh child:
  bare         httpx page loop, json.loads of each page and nothing else
  floor        the fetch-and-land floor: the bare loop + every record to a JSON-lines file (json.dumps)
               + one DuckDB read_json into a table + its primary key
  dagster      `dagster asset materialize --select rutter/vendors --partition default` as a subprocess
               against a fresh instance and warehouse: its wall time is the whole process; the asset's
               step is STEP_START..STEP_SUCCESS in the instance's event log; peak RSS = the largest
               process of the tree (RUSAGE_CHILDREN)
Targets (issue 17), ratio = floor time / our time: step >= 0.8, whole process >= 0.6; peak RSS
<= 300 MB and flat from 10k to 1M vendors (--curve: one floor and one dagster run per size).
--server sandbox: the earlier realism check against the sandbox simulator (below).

--server sandbox:

One sandbox serves `--rows` vendors; every measured run is a fresh child process, so its peak RSS
(ru_maxrss) is its own. Variants:
  bytes-only   the page loop, downloading bytes only (cursor cut from the tail, no json.loads):
               what the sandbox and the transport cost on their own (one run: a diagnostic)
  bare         httpx page loop, same auth/headers/limit/cursor, json.loads of each page: the ceiling
  routty-sync  what the ingest asset does: RutterResource.client(Tenant) -> client.pages("vendors")
               -> engine.spool.spool_records (chunks) -> duckdb.connect(new file) -> land_spool(VENDORS, complete=True)
and routty-sync once more on the first quarter of the pages, to see whether memory grows with rows.
Target (project guide): ingest within 0.8x of the bare loop's throughput, in flat memory.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from itertools import islice
from pathlib import Path

from benchmarks.fast_server import READY
from benchmarks._common import (
    Measure,
    child_main,
    peak_mb,
    proc_cpu_s,
    run_child,
    save,
    summarize,
    table,
)

TARGET = 0.8  # sandbox mode: routty-sync / bare
TARGET_STEP, TARGET_PROCESS, TARGET_RSS_MB = 0.8, 0.6, 300.0  # fast mode, against the floor
CURSOR = re.compile(rb'"next_cursor":\s*(?:"([^"]*)"|null)\s*}\s*$')


# ---------------------------------------------------------------- in the child process

def _page_loop(spec: dict) -> dict:
    import json

    import httpx

    env, parse = os.environ, spec["variant"] == "bare"
    rows = pages = size = 0
    with Measure(spec.get("profile", 0)) as m, httpx.Client(
        base_url=env["RUTTER_BASE_URL"], auth=(env["RUTTER_CLIENT_ID"], env["RUTTER_CLIENT_SECRET"]),
        headers={"X-Rutter-Version": env["RUTTER_VERSION"], "Accept": "application/json"},
        params={"access_token": env["RUTTER_ACCESS_TOKEN"]}, timeout=30.0,
    ) as http:
        params: dict = {"limit": spec["page_size"]}
        while True:
            response = http.get("/accounting/vendors", params=params)
            response.raise_for_status()
            body = response.content
            pages, size = pages + 1, size + len(body)
            if parse:
                page = json.loads(body)
                rows += len(page["vendors"])
                cursor = page.get("next_cursor")
            else:
                cursor = CURSOR.search(body[-2000:]).group(1)
            if not cursor:
                break
            params["cursor"] = cursor.decode() if isinstance(cursor, bytes) else cursor
    return m.result(rows=rows if parse else None, pages=pages, mb_downloaded=size / 2**20)


class _TimedConnection:
    """A DuckDB connection that times each statement land_spool sends (first words as its name)."""

    def __init__(self, conn):
        self.conn, self.times = conn, []

    def execute(self, sql: str, *args):
        start = time.perf_counter()
        out = self.conn.execute(sql, *args)
        self.times.append((" ".join(sql.split())[:80], time.perf_counter() - start))
        return out

    def __getattr__(self, name):
        return getattr(self.conn, name)


def _routty_sync(spec: dict) -> dict:
    import duckdb

    from assets.ingest.engine.spool import spool_records
    from assets.ingest.endpoints.rutter import VENDORS
    from resources.rutter import RutterResource
    from resources.tenants import Tenant
    from assets.ingest.engine.land import land_spool
    from resources.warehouse import connection_config

    env = os.environ
    rutter = RutterResource(base_url=env["RUTTER_BASE_URL"], client_id=env["RUTTER_CLIENT_ID"],
                            client_secret=env["RUTTER_CLIENT_SECRET"], version=env["RUTTER_VERSION"],
                            page_size=spec["page_size"])
    received = 0

    def counted(pages):
        nonlocal received
        for page in pages:
            received += len(page.data.get("vendors") or [])
            yield page

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        database = Path(tmp) / "warehouse.duckdb"
        with Measure(spec.get("profile", 0)) as m:
            with rutter.client(Tenant("default")) as client:
                pages, chunks = spool_records(islice(counted(client.pages("vendors")), spec.get("max_pages")), Path(tmp), VENDORS)
            fetched, peak_after_fetch = time.perf_counter() - m.t0, peak_mb()
            conn = _TimedConnection(duckdb.connect(str(database), config=connection_config()))
            result = land_spool(conn, VENDORS, "default", chunks, complete=True)
            conn.close()
        spool_mb, db_mb = sum(c.stat().st_size for c in chunks) / 2**20, database.stat().st_size / 2**20
        with duckdb.connect(str(database), read_only=True) as check:
            staged = check.execute(f"SELECT count(*) FROM {VENDORS.staging_table}").fetchone()[0]
    # It measured real work: every record received was landed, rejected, or a repeat of a key.
    assert result.received == received, (result, received)
    assert staged + result.rejected + result.duplicate_keys == received, (staged, result, received)
    slowest = sorted(conn.times, key=lambda t: -t[1])[:4]
    return m.result(rows=received, pages=pages, staged=staged, rejected=result.rejected,
                    fetch_seconds=fetched, land_seconds=m.seconds - fetched,
                    peak_rss_after_fetch_mb=peak_after_fetch, spool_mb=spool_mb, db_mb=db_mb,
                    slowest_statements=[{"sql": sql, "seconds": s} for sql, s in slowest])


def _floor(spec: dict) -> dict:
    """The fetch-and-land floor: the bare loop, every record to a JSON-lines file, one read_json into a
    table, its primary key."""
    import json

    import duckdb
    import httpx

    env, rows = os.environ, 0
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        spool = Path(tmp) / "vendors.ndjson"
        with Measure(spec.get("profile", 0)) as m:
            with httpx.Client(
                base_url=env["RUTTER_BASE_URL"], auth=(env["RUTTER_CLIENT_ID"], env["RUTTER_CLIENT_SECRET"]),
                headers={"X-Rutter-Version": env["RUTTER_VERSION"], "Accept": "application/json"},
                params={"access_token": env["RUTTER_ACCESS_TOKEN"]}, timeout=30.0,
            ) as http, open(spool, "w", encoding="utf-8") as out:
                params: dict = {"limit": spec["page_size"]}
                while True:
                    response = http.get("/accounting/vendors", params=params)
                    response.raise_for_status()
                    page = json.loads(response.content)
                    for record in page["vendors"]:
                        out.write(json.dumps(record, ensure_ascii=False) + "\n")
                    rows += len(page["vendors"])
                    if not page.get("next_cursor"):
                        break
                    params["cursor"] = page["next_cursor"]
            fetched = time.perf_counter() - m.t0
            with duckdb.connect(str(Path(tmp) / "floor.duckdb")) as conn:
                conn.execute(f"CREATE TABLE vendors AS SELECT * FROM read_json('{spool}', format = 'newline_delimited')")
                conn.execute("ALTER TABLE vendors ADD PRIMARY KEY (id)")
                landed = conn.execute("SELECT count(*) FROM vendors").fetchone()[0]
    assert landed == rows, (landed, rows)
    return m.result(rows=rows, fetch_seconds=fetched, land_seconds=m.seconds - fetched)


def _dagster(spec: dict) -> dict:
    """`dagster asset materialize` of rutter/vendors in a fresh instance and warehouse, as a subprocess."""
    import resource
    import subprocess

    with tempfile.TemporaryDirectory(prefix="bench-dagster-") as tmp:
        env = {**os.environ, "DAGSTER_HOME": tmp, "WAREHOUSE_PATH": str(Path(tmp) / "warehouse.duckdb"),
               "RUTTER_PAGE_SIZE": str(spec["page_size"])}
        env.pop("TENANTS_FILE", None)
        (Path(tmp) / "dagster.yaml").write_text("")  # defaults (SQLite under DAGSTER_HOME), said so: no notice
        bin_dir = Path(sys.executable).parent
        # The partition `default` first, as the tenants sensor would make it (not timed).
        subprocess.run([str(bin_dir / "python"), "-m", "orchestration.tenants", "sync"], env=env, check=True,
                       capture_output=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        command = [str(bin_dir / "dagster"), "asset", "materialize", "-m", "orchestration.definitions",
                   "--select", "rutter/vendors", "--partition", "default"]
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest process of the tree
        if done.returncode:
            raise RuntimeError(f"dagster asset materialize failed:\n{done.stderr[-3000:]}")
        import duckdb
        import dagster as dg

        os.environ["DAGSTER_HOME"] = tmp
        instance = dg.DagsterInstance.get()
        run = instance.get_runs(limit=1)[0]
        stamps = {}
        for record in instance.all_logs(run.run_id):
            event = record.dagster_event
            if event and event.event_type_value in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE"):
                stamps[event.event_type_value] = record.timestamp
        if "STEP_SUCCESS" not in stamps:
            raise RuntimeError(f"the step did not succeed: {sorted(stamps)}")
        metadata = {}
        for record in instance.all_logs(run.run_id):
            event = record.dagster_event
            if event and event.event_type_value == "ASSET_MATERIALIZATION":
                metadata = {k: v.value for k, v in event.event_specific_data.materialization.metadata.items()}
        with duckdb.connect(env["WAREHOUSE_PATH"], read_only=True) as check:
            staged = check.execute("SELECT count(*) FROM staging.rutter_vendors").fetchone()[0]
        instance.dispose()
    assert staged == spec["rows"], (staged, spec["rows"], metadata)
    return {"seconds": seconds, "step_seconds": stamps["STEP_SUCCESS"] - stamps["STEP_START"],
            "peak_rss_mb": peak, "rss_before_mb": before / 1024, "rows": staged,
            "rows_new": metadata.get("rows_new"), "rows_rejected": metadata.get("rows_rejected"),
            "pages": metadata.get("pages")}


def _child(spec: dict) -> dict:
    variant = spec["variant"]
    if variant == "routty-sync":
        return _routty_sync(spec)
    if variant == "floor":
        return _floor(spec)
    if variant == "dagster":
        return _dagster(spec)
    return _page_loop(spec)


# ---------------------------------------------------------------- in the parent process

def main() -> None:
    if "--child" in sys.argv:
        return child_main(_child)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=("fast", "sandbox"), default="fast")
    parser.add_argument("--rows", type=int, default=None, help="vendors (default: 100000 fast, 50000 sandbox)")
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--curve", default="", help="fast mode: comma-separated sizes for the memory curve, "
                                                    "e.g. 10000,100000,1000000 (one floor and one dagster run each)")
    parser.add_argument("--profile", type=int, default=0, help="cProfile the routty-sync child: top N functions")
    args = parser.parse_args()
    if args.server == "fast":
        return fast_main(args)
    args.rows = args.rows or 50_000

    from sandbox import server

    load = os.getloadavg()[0]  # another busy process on 2 cores shows up in every number
    # Generating the dataset grows with --rows (every system's data is sized from it): allow for it.
    server.STARTUP_TIMEOUT = max(server.STARTUP_TIMEOUT, 900.0)
    print(f"starting the sandbox with {args.rows} vendors ...", flush=True)
    started = time.perf_counter()
    sandbox = server.start_sandbox(size=args.rows)
    startup = time.perf_counter() - started
    print(f"sandbox ready in {startup:.1f} s (not part of any measurement)", flush=True)
    try:
        env = {**os.environ, **sandbox.env()}

        def run(variant: str, **extra) -> dict:
            server_cpu = proc_cpu_s(sandbox.process.pid)
            spec = {"variant": variant, "page_size": args.page_size, **extra}
            result = run_child("benchmarks.ingest", spec, env)
            result["server_cpu_seconds"] = proc_cpu_s(sandbox.process.pid) - server_cpu
            print(f"  {variant:<12} {result['seconds']:7.2f} s  peak {result['peak_rss_mb']:6.1f} MB", flush=True)
            return result

        # bytes-only is a diagnostic (how much of a page loop is the sandbox's): one run is enough.
        runs: dict[str, list[dict]] = {"bytes-only": [run("bytes-only")], "bare": [], "routty-sync": []}
        for _ in range(args.repeat):
            for variant in ("bare", "routty-sync"):
                runs[variant].append(run(variant))
        quarter_pages = math.ceil(args.rows / 4 / args.page_size)
        quarter = run("routty-sync", max_pages=quarter_pages)
        if args.profile:
            run("routty-sync", profile=args.profile)
    finally:
        sandbox.stop()

    keys = ("seconds", "cpu_seconds", "server_cpu_seconds", "fetch_seconds", "land_seconds", "rss_before_mb")
    summary = {v: summarize(r, keys) for v, r in runs.items()}
    rows = summary["bare"]["rows"]
    for s in summary.values():
        s["rows_per_s"] = rows / s["seconds"]
    ratio = summary["routty-sync"]["rows_per_s"] / summary["bare"]["rows_per_s"]
    server_share = summary["bytes-only"]["seconds"] / summary["bare"]["seconds"]
    full = summary["routty-sync"]
    report = {
        "rows": rows, "page_size": args.page_size, "repeat": args.repeat, "cpus": os.cpu_count(),
        "load_average_at_start": load, "sandbox_startup_seconds": startup, "variants": summary,
        "ratio_routty_sync_to_bare": ratio, "target_ratio": TARGET, "target_met": ratio >= TARGET,
        "fetch_only_ratio": summary["bare"]["seconds"] / full["fetch_seconds"],
        # What the ratio would tend to with a server that answers at once: client CPU against client CPU.
        "client_cpu_ratio": summary["bare"]["cpu_seconds"] / full["cpu_seconds"],
        "bytes_only_share_of_bare": server_share,
        "memory_growth": {"rows_quarter": quarter["rows"], "peak_rss_mb_quarter": quarter["peak_rss_mb"],
                          "peak_rss_after_fetch_mb_quarter": quarter["peak_rss_after_fetch_mb"],
                          "peak_rss_after_fetch_mb_full": runs["routty-sync"][0]["peak_rss_after_fetch_mb"],
                          "rows_full": full["rows"], "peak_rss_mb_full": full["peak_rss_mb"],
                          "rss_before_mb": full["rss_before_mb"]},
        "slowest_land_statements": runs["routty-sync"][0]["slowest_statements"],
        "routty_sync_spool_mb": runs["routty-sync"][0]["spool_mb"], "rejected": runs["routty-sync"][0]["rejected"],
    }
    print(f"\ningest: {rows} vendors, {summary['bare']['pages']} pages of {args.page_size}, median of {args.repeat} "
          f"(bytes-only: 1 run), {os.cpu_count()} CPUs, load average at start {load:.2f}")
    print(table([{"variant": v, **s} for v, s in summary.items()], [
        ("variant", "variant", ""), ("median s", "seconds", ".2f"), ("rows/s", "rows_per_s", ",.0f"),
        ("client CPU s", "cpu_seconds", ".2f"), ("server CPU s", "server_cpu_seconds", ".2f"),
        ("RSS before MB", "rss_before_mb", ".1f"), ("peak RSS MB", "peak_rss_mb", ".1f")]))
    print(f"\nroutty-sync = fetch+spool {full['fetch_seconds']:.2f} s + land_spool {full['land_seconds']:.2f} s; "
          f"{report['rejected']} record(s) rejected by the landing checks, the rest staged")
    verdict = "MET" if ratio >= TARGET else "MISSED"
    print(f"throughput routty-sync / bare = {ratio:.2f} (target >= {TARGET}: {verdict}); "
          f"fetch+spool alone / bare = {report['fetch_only_ratio']:.2f}")
    print(f"client CPU bare / routty-sync = {report['client_cpu_ratio']:.2f} (the ratio against a server that "
          "answers at once; routty-sync's CPU includes DuckDB's threads)")
    per_page = summary["bare"]["server_cpu_seconds"] / summary["bare"]["pages"]
    print(f"bytes-only takes {server_share:.0%} of the bare loop's time, the sandbox spends {per_page * 1000:.0f} ms "
          "of CPU per page: " + ("the sandbox is the bottleneck of both loops" if server_share > 0.7
                                 else "the client side weighs in"))
    print(f"memory: routty-sync peak {quarter['peak_rss_mb']:.1f} MB at {quarter['rows']} rows, "
          f"{full['peak_rss_mb']:.1f} MB at {full['rows']} rows (RSS before the work {full['rss_before_mb']:.1f} MB); "
          f"after fetch+spool only: {quarter['peak_rss_after_fetch_mb']:.1f} MB and "
          f"{report['memory_growth']['peak_rss_after_fetch_mb_full']:.1f} MB")
    print("slowest land_spool statements (first routty-sync run):")
    for statement in report["slowest_land_statements"]:
        print(f"  {statement['seconds']:6.2f} s  {statement['sql']}")
    print(f"results: {save('ingest', report)}")

# ---------------------------------------------------------------- fast mode (parent)

@contextmanager
def fast_server(rows: int, page_size: int):
    """benchmarks/fast_server.py in a subprocess, every page rendered before it says it is ready."""
    import subprocess

    from benchmarks._common import PROJECT_ROOT
    from sandbox import credentials

    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.fast_server", "--rows", str(rows),
                                "--page-size", str(page_size)], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        if not line.startswith(READY):
            raise RuntimeError(f"the fast server did not start: {line!r}")
        print(f"fast server: {rows} vendors rendered in {time.perf_counter() - started:.1f} s (not measured)", flush=True)
        yield process, {"RUTTER_BASE_URL": line[len(READY):].strip() + "/rutter/versioned",
                        "RUTTER_CLIENT_ID": credentials.RUTTER_CLIENT_ID,
                        "RUTTER_CLIENT_SECRET": credentials.RUTTER_CLIENT_SECRET,
                        "RUTTER_ACCESS_TOKEN": credentials.RUTTER_ACCESS_TOKEN,
                        "RUTTER_VERSION": credentials.RUTTER_VERSION}
    finally:
        process.terminate()
        process.wait(timeout=30)


def fast_main(args) -> None:
    rows = args.rows or 100_000
    load = os.getloadavg()[0]
    runs: dict[str, list[dict]] = {"bare": [], "floor": [], "routty-sync": [], "dagster": []}
    with fast_server(rows, args.page_size) as (server, server_env):
        env = {**os.environ, **server_env}

        def run(variant: str, **extra) -> dict:
            cpu = proc_cpu_s(server.pid)
            result = run_child("benchmarks.ingest", {"variant": variant, "page_size": args.page_size, "rows": rows,
                                                     **extra}, env, timeout=3600)
            result["server_cpu_seconds"] = proc_cpu_s(server.pid) - cpu
            step = f" step {result['step_seconds']:6.2f} s" if "step_seconds" in result else ""
            print(f"  {variant:<12} {result['seconds']:7.2f} s{step}  peak {result['peak_rss_mb']:6.1f} MB", flush=True)
            return result

        for _ in range(args.repeat):  # in turn, so a drift of the machine's speed hits every variant
            for variant in runs:
                runs[variant].append(run(variant))
        if args.profile:
            run("routty-sync", profile=args.profile)
    curve = []
    for size in [int(x) for x in args.curve.split(",") if x.strip()]:
        with fast_server(size, args.page_size) as (server, server_env):
            env = {**os.environ, **server_env}
            point = {"rows": size}
            for variant in ("floor", "dagster"):
                result = run_child("benchmarks.ingest", {"variant": variant, "page_size": args.page_size, "rows": size},
                                   env, timeout=3600)
                point[variant] = result
                print(f"  {size:>9} {variant:<8} {result['seconds']:7.2f} s  peak {result['peak_rss_mb']:6.1f} MB", flush=True)
            curve.append(point)

    keys = ("seconds", "cpu_seconds", "server_cpu_seconds", "fetch_seconds", "land_seconds", "step_seconds",
            "rss_before_mb")
    summary = {v: summarize(r, keys) for v, r in runs.items()}
    floor = summary["floor"]["seconds"]
    # Pair by pair (run i of each variant ran back to back), then the median: drift cancels out.
    pair = lambda ours: statistics.median(f["seconds"] / o[ours] for f, o in zip(runs["floor"], runs["dagster"]))
    step_ratio, process_ratio = pair("step_seconds"), pair("seconds")
    engine_ratio = statistics.median(f["seconds"] / o["seconds"] for f, o in zip(runs["floor"], runs["routty-sync"]))
    dagster = summary["dagster"]
    table_rows = [
        {"what": "bare httpx page loop, json.loads only", **summary["bare"]},
        {"what": "floor: fetch + JSON lines + read_json + primary key", **summary["floor"]},
        {"what": "routty-sync engine: client.pages -> spool_records -> land_spool", **summary["routty-sync"]},
        {"what": "routty-sync: the asset's step (Dagster's event log)", **dagster, "seconds": dagster["step_seconds"]},
        {"what": "routty-sync: dagster asset materialize, whole process", **dagster},
    ]
    for r in table_rows:
        r["rows_per_s"] = rows / r["seconds"]
        r["vs_floor"] = floor / r["seconds"]
    peaks = [r["peak_rss_mb"] for r in runs["dagster"]] + [p["dagster"]["peak_rss_mb"] for p in curve]
    rss_met = max(peaks) <= TARGET_RSS_MB
    flat = None
    if len(curve) >= 2:
        flat = curve[-1]["dagster"]["peak_rss_mb"] <= 1.2 * curve[0]["dagster"]["peak_rss_mb"]
    verdict = lambda ok: "MET" if ok else "MISSED"
    print(f"\ningest, fast server: {rows} vendors, pages of {args.page_size}, median of {args.repeat} runs, "
          f"{os.cpu_count()} CPUs, load average at start {load:.2f}")
    print(table(table_rows, [("what", "what", ""), ("median s", "seconds", ".2f"), ("rows/s", "rows_per_s", ",.0f"),
                             ("floor / this", "vs_floor", ".2f"), ("client CPU s", "cpu_seconds", ".2f"),
                             ("server CPU s", "server_cpu_seconds", ".2f"), ("peak RSS MB", "peak_rss_mb", ".1f")]))
    eng = summary["routty-sync"]
    print(f"\nengine = fetch+spool {eng['fetch_seconds']:.2f} s + land_spool {eng['land_seconds']:.2f} s; "
          f"floor = fetch+write {summary['floor']['fetch_seconds']:.2f} s + read_json+key {summary['floor']['land_seconds']:.2f} s")
    print(f"step:          floor / step    = {step_ratio:.2f}  (target >= {TARGET_STEP}: {verdict(step_ratio >= TARGET_STEP)})")
    print(f"whole process: floor / process = {process_ratio:.2f}  (target >= {TARGET_PROCESS}: "
          f"{verdict(process_ratio >= TARGET_PROCESS)}); the engine alone: {engine_ratio:.2f}")
    print(f"peak RSS (dagster, largest process): {max(peaks):.1f} MB (target <= {TARGET_RSS_MB:.0f} MB: {verdict(rss_met)})")
    if curve:
        print("memory curve (peak RSS MB, largest process):")
        print(table([{"rows": p["rows"], "floor": p["floor"]["peak_rss_mb"], "dagster": p["dagster"]["peak_rss_mb"],
                      "floor_s": p["floor"]["seconds"], "step_s": p["dagster"]["step_seconds"],
                      "process_s": p["dagster"]["seconds"]} for p in curve],
                    [("vendors", "rows", ","), ("floor peak MB", "floor", ".1f"), ("routty-sync peak MB", "dagster", ".1f"),
                     ("floor s", "floor_s", ".2f"), ("step s", "step_s", ".2f"), ("process s", "process_s", ".2f")]))
        print(f"flat (largest size within 1.2x of the smallest): {verdict(bool(flat))}")
    report = {"server": "fast", "rows": rows, "page_size": args.page_size, "repeat": args.repeat,
              "cpus": os.cpu_count(), "load_average_at_start": load, "variants": summary,
              "ratio_step_to_floor": step_ratio, "target_step": TARGET_STEP,
              "ratio_process_to_floor": process_ratio, "target_process": TARGET_PROCESS,
              "ratio_engine_to_floor": engine_ratio, "peak_rss_mb": max(peaks), "target_rss_mb": TARGET_RSS_MB,
              "memory_curve": [{"rows": p["rows"], "floor_peak_rss_mb": p["floor"]["peak_rss_mb"],
                                "routty_sync_peak_rss_mb": p["dagster"]["peak_rss_mb"],
                                "floor_seconds": p["floor"]["seconds"], "step_seconds": p["dagster"]["step_seconds"],
                                "process_seconds": p["dagster"]["seconds"]} for p in curve],
              "memory_flat": flat}
    print(f"results: {save('ingest-fast', report)}")


if __name__ == "__main__":
    main()
