"""The Dagster UI as a data engineer uses it, in a real browser (Debian's chromium driven by Playwright).

`dagster dev` runs against a sandbox of its own (the two companies, acme and globex) with a throwaway
DAGSTER_HOME; in Chromium the test
1. opens the asset graph and finds every group, then the lineage from a Rutter stream (rutter/vendors)
   to its Routty push (masterdata/party_list_push);
2. launches the sync job for one company (acme) from the UI: the launch dialog's partition picker;
3. meanwhile opens the automation page and finds the schedules and sensors running;
4. launches a backfill of both companies of an ingest asset (rutter/vendors) from the UI;
5. waits for the sync run to succeed and reads the run's logs page;
6. sees the backfill complete;
7. opens the ingest asset and sees its row counts plotted over the two runs, with its column schema,
   owner, tags, freshness policy and link to its source file; and sees a stream not refreshed within
   its freshness window shown stale (the test sets the window to a minute);
8. opens a company's document status: counts per status, and what Routty refused with its message,
   newest first (a table).

A screenshot of each step goes to test-output/ui/ (the paths are printed). With
ROUTTY_UI_SCREENSHOTS_TO_DOCS=1 (scripts/screenshots.sh) the graph and the company status are also
copied to docs/images/ for the README.
"""

from __future__ import annotations

import os
import re
import shutil
import time

from playwright.sync_api import Page, expect, sync_playwright

from sandbox.server import start_sandbox
from tests.e2e.browser import PROJECT_ROOT, chromium_executable, dagster_dev, graphql, ui_environment

SHOTS = PROJECT_ROOT / "test-output" / "ui"
DOCS_IMAGES = PROJECT_ROOT / "docs" / "images"
TO_DOCS = {"10-asset-lineage-after-runs.png": "asset-graph.png", "09-company-status.png": "company-status.png"}
GROUPS = ("ingest", "model", "masterdata", "invoices", "exports")
SCHEDULES = ("routty_sync_schedule", "routty_push_schedule", "routty_exports_schedule")
SENSORS = ("routty_masterdata_status_sensor", "routty_invoices_status_sensor", "routty_exports_sensor",
           "routty_tenants_sensor")
RUN_TIMEOUT = 300.0  # the sync of one small company: about 100 s beside the rest of the suite on 2 cores
BACKFILL_TIMEOUT = 240.0
STALE_TIMEOUT = 120.0  # the freshness window is a minute; the daemon evaluates every 5 s
UI_TIMEOUT_MS = 30_000
STARTED = [time.monotonic()]

RUNS = """query Runs($filter: RunsFilter) { runsOrError(filter: $filter) {
  ... on Runs { results { runId status jobName tags { key value } } } } }"""
BACKFILLS = """{ partitionBackfillsOrError { ... on PartitionBackfills { results { id status numPartitions } } } }"""
MATERIALIZATIONS = """query M($key: AssetKeyInput!, $partition: String!) { assetNodeOrError(assetKey: $key) {
  ... on AssetNode { assetMaterializations(partitions: [$partition]) { runId } } } }"""


class Shots:
    def __init__(self, page: Page):
        self.page, self.taken = page, []
        shutil.rmtree(SHOTS, ignore_errors=True)
        SHOTS.mkdir(parents=True)

    def __call__(self, name: str, full_page: bool = False) -> None:
        path = SHOTS / name
        self.page.screenshot(path=str(path), full_page=full_page)
        self.taken.append(path)
        print(f"screenshot: {path} ({time.monotonic() - STARTED[0]:.0f} s)")


def _wait(what: str, timeout: float, probe, interval: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def _run_status(url: str, run_id: str) -> str:
    runs = graphql(url, RUNS, {"filter": {"runIds": [run_id]}})["runsOrError"]["results"]
    return runs[0]["status"] if runs else "NONE"


def test_a_data_engineer_works_the_pipeline_from_the_dagster_ui(tmp_path):
    STARTED[0] = time.monotonic()
    chromium = chromium_executable()
    sandbox = start_sandbox(size=4, seed=7, processing_delay=0.2)  # its own: parallel-safe under xdist
    env = ui_environment(sandbox.tenant_env(), tmp_path / "dagster_home",
                         ROUTTY_FRESHNESS_MINUTES="1", FRESHNESS_DAEMON_INTERVAL_SECONDS="5")
    log = tmp_path / "dagster-dev.log"
    try:
        with dagster_dev(env, log) as url, sync_playwright() as playwright:
            print(f"dagster dev up at {url} ({time.monotonic() - STARTED[0]:.0f} s)")
            graphql(url, "mutation { setNuxSeen }")  # no "join the community" dialog over the pages
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                page.set_default_timeout(UI_TIMEOUT_MS)
                _walk_through(page, url, Shots(page))
            finally:
                browser.close()
    except BaseException:
        print(f"dagster dev log ({log}):\n" + (log.read_text()[-4000:] if log.exists() else "<none>"))
        raise
    finally:
        sandbox.stop()
    if os.getenv("ROUTTY_UI_SCREENSHOTS_TO_DOCS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        for shot, doc in TO_DOCS.items():
            shutil.copyfile(SHOTS / shot, DOCS_IMAGES / doc)
            print(f"README image: {DOCS_IMAGES / doc}")


def _walk_through(page: Page, url: str, shot: Shots) -> None:
    # 1. The asset graph: every group, then the lineage from a Rutter stream to its Routty push.
    page.goto(f"{url}/asset-groups")
    for group in GROUPS:
        expect(page.get_by_text(group, exact=True).first).to_be_visible()
    shot("00-asset-groups.png")
    page.goto(f"{url}/assets/masterdata/party_list_push?view=lineage&lineageScope=upstream&lineageDepth=3")
    for asset in ("vendors", "routty_parties", "party_list_xml", "party_list_push"):
        expect(page.get_by_text(asset, exact=True).first).to_be_visible()
    page.wait_for_timeout(1500)  # the graph lays itself out and zooms to fit
    shot("01-asset-lineage.png")

    # 2. Launch the sync job for acme from the UI: the launch dialog's partition picker.
    page.goto(f"{url}/locations/routty_sync/jobs/routty_sync")
    page.get_by_role("button", name="Materialize all…").click()
    expect(page.get_by_text("Partition selection")).to_be_visible()
    page.get_by_text("Select a partition or create one").click()
    page.get_by_text("acme", exact=True).first.click()
    page.keyboard.press("Escape")  # closes the picker, not the dialog
    shot("02-launch-sync-for-acme.png")
    page.get_by_role("button", name="Launch 1 run").click()
    run_id = _wait("the run launched from the UI", 60, lambda: next(
        (r["runId"] for r in graphql(url, RUNS, {"filter": {"pipelineName": "routty_sync"}})["runsOrError"]["results"]
         if {"key": "dagster/partition", "value": "acme"} in r["tags"]
         and {"key": "dagster/from_ui", "value": "true"} in r["tags"]), None), interval=0.5)

    # 3. While it runs: the automation page, every schedule and sensor running.
    page.goto(f"{url}/automation")
    for name in (*SCHEDULES, *SENSORS):
        row = page.locator("div[data-index]").filter(has_text=re.compile(rf"^{name}"))
        expect(row.locator("input[type=checkbox]").last).to_be_checked(timeout=60_000)  # its on/off switch
    shot("03-automation-running.png")

    # 4. Meanwhile, a backfill of both companies, launched from an ingest asset's page (the runs of two
    # companies go in parallel: each has its own warehouse file).
    page.goto(f"{url}/assets/rutter/vendors")
    page.get_by_role("button", name="Materialize…").first.click()
    page.get_by_role("button", name="All", exact=True).click()
    expect(page.get_by_text("2 partitions")).to_be_visible()
    shot("04-launch-backfill.png")
    page.get_by_role("button", name="Launch backfill").click()
    expect(page.get_by_text("Created backfill")).to_be_visible()
    backfill_id = _wait("the backfill launched from the UI", 30, lambda: next(
        (b["id"] for b in graphql(url, BACKFILLS)["partitionBackfillsOrError"]["results"]), None), interval=0.5)

    # 5. The sync run succeeds; its logs page.
    status = _wait("the sync run of acme", RUN_TIMEOUT,
                   lambda: (s := _run_status(url, run_id)) in ("SUCCESS", "FAILURE", "CANCELED") and s)
    page.goto(f"{url}/runs/{run_id}")
    expect(page.get_by_text("partition: acme").first).to_be_visible()
    expect(page.get_by_text("STEP_SUCCESS").first).to_be_visible()
    shot("05-run-logs.png")
    assert status == "SUCCESS", f"run {run_id} of routty_sync for acme: {status} (see {SHOTS / '05-run-logs.png'})"
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()

    # 6. The backfill completes.
    page.goto(f"{url}/runs/b/{backfill_id}")
    _wait("the backfill of acme and globex", BACKFILL_TIMEOUT, lambda: any(
        b["id"] == backfill_id and b["status"] == "COMPLETED_SUCCESS" and b["numPartitions"] == 2
        for b in graphql(url, BACKFILLS)["partitionBackfillsOrError"]["results"]))
    page.reload()
    expect(page.get_by_text("Succeeded").first).to_be_visible()
    expect(page.get_by_text("100% completed").first).to_be_visible()
    shot("06-backfill-complete.png")

    # 7. The ingest asset: row counts over the two runs of acme, columns, owner, tags, source code.
    runs = graphql(url, MATERIALIZATIONS, {"key": {"path": ["rutter", "vendors"]}, "partition": "acme"})
    assert len({m["runId"] for m in runs["assetNodeOrError"]["assetMaterializations"]}) >= 2
    page.goto(f"{url}/assets/rutter/vendors?partition=acme")
    for text in ("Columns", "vendor_name", "data-engineering", "domain: ingest", "system: rutter", "Freshness policy"):
        expect(page.get_by_text(text, exact=True).first).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"\.py .*in editor")).first).to_be_visible()  # source code
    shot("07-ingest-asset.png")
    page.locator("button").filter(has_text="Plots").first.click()
    page.locator("button").filter(has_text=re.compile(r"^Events$")).first.click()  # x axis: each materialization
    chart = page.get_by_text("rows_new", exact=True).first
    chart.scroll_into_view_if_needed()
    expect(page.get_by_text("Timestamp").first).to_be_visible()
    shot("08-row-counts-per-run.png")

    # A stream not refreshed within its freshness window shows stale: b2brouter/accounts, read first by the
    # sync run and not since (the test sets the window to a minute; the sync run alone takes longer).
    def stale() -> bool:
        page.goto(f"{url}/assets/b2brouter/accounts")
        state = page.get_by_text(re.compile(r"^(Passing|Failed|Warning|Unknown|Not evaluated)$"))
        expect(state.first).to_be_visible()
        return page.get_by_text("Failed", exact=True).count() > 0
    _wait("b2brouter/accounts shown stale", STALE_TIMEOUT, stale, interval=3)
    expect(page.get_by_text("Fails if more than a minute since last materialization")).to_be_visible()
    shot("08b-stale-ingest-asset.png")

    # 8. A company's documents: what Routty refused, with its message, newest first.
    page.goto(f"{url}/assets/invoices/status?partition=acme")
    for text in ("documents_failed", "errors", "error_message", "BusinessPartnerNotFoundForEnrichment"):
        expect(page.get_by_text(text, exact=True).first).to_be_visible()
    page.set_viewport_size({"width": 2000, "height": 1300})  # room for the table's message column
    page.get_by_text("documents_inbound_error", exact=True).first.scroll_into_view_if_needed()
    shot("09-company-status.png")

    # The lineage again, now with what the runs made of it (the README's picture of the graph).
    page.set_viewport_size({"width": 1600, "height": 1000})
    page.goto(f"{url}/assets/masterdata/party_list_push?view=lineage&lineageScope=upstream&lineageDepth=3")
    expect(page.get_by_text("routty_parties", exact=True).first).to_be_visible()
    try:  # every node's status loaded (a picture only: it does not fail the test)
        expect(page.get_by_text("Loading…")).to_have_count(0, timeout=15_000)
    except AssertionError:
        pass
    page.wait_for_timeout(1500)
    shot("10-asset-lineage-after-runs.png")
