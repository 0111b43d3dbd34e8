"""Ingest benchmark: the project's Rutter vendors ingest against a bare HTTP page loop.

    python -m benchmarks.ingest [--rows 50000] [--page-size 500] [--repeat 3] [--profile 0]

One sandbox serves `--rows` vendors; every measured run is a fresh child process, so its peak RSS
(ru_maxrss) is its own. Variants:
  bytes-only   the page loop, downloading bytes only (cursor cut from the tail, no json.loads):
               what the sandbox and the transport cost on their own (one run: a diagnostic)
  bare         httpx page loop, same auth/headers/limit/cursor, json.loads of each page: the ceiling
  routty-sync  what the ingest asset does: RutterResource.client(Tenant) -> client.pages("vendors")
               -> landing.spool_records (chunks) -> duckdb.connect(new file) -> land_spool(VENDORS, complete=True)
and routty-sync once more on the first quarter of the pages, to see whether memory grows with rows.
Target (project guide): ingest within 0.8x of the bare loop's throughput, in flat memory.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

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

TARGET = 0.8
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

    from assets.ingest.landing import spool_records
    from assets.ingest.rutter import VENDORS
    from resources.rutter import RutterResource
    from resources.tenants import Tenant
    from resources.warehouse import connection_config, land_spool

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


def _child(spec: dict) -> dict:
    return _routty_sync(spec) if spec["variant"] == "routty-sync" else _page_loop(spec)


# ---------------------------------------------------------------- in the parent process

def main() -> None:
    if "--child" in sys.argv:
        return child_main(_child)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0, help="cProfile the routty-sync child: top N functions")
    args = parser.parse_args()

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


if __name__ == "__main__":
    main()
