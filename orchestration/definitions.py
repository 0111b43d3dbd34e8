"""The routty-sync code location: each domain's definitions merged, with the jobs and schedules that
span domains, the tenants sensor and the resources.

Built by a function because the resources come from the environment (tests call it again). The
tenants do not shape the graph: every asset is partitioned by one dynamic partitions definition
(assets/partitions.py), whose keys the instance keeps (orchestration/tenants.py).

What the UI shows of every asset besides its own code: its owner and tags (`domain`: its group,
`system`: where its data comes from or goes), a link to the source file that defines it, and for the
ingest streams a freshness policy: expected fresh within the sync interval (ROUTTY_SYNC_CRON), so a
stream the sync stopped refreshing shows as stale (the daemon evaluates it).
"""

import time
import warnings
from datetime import timedelta
from pathlib import Path

import dagster as dg
from dagster._utils.schedules import cron_string_iterator

from assets.exports import definitions as exports
from assets.ingest import definitions as ingest
from assets.invoices import definitions as invoices
from assets.masterdata import definitions as masterdata
from assets.model import definitions as model
from resources import settings
from orchestration.jobs import push_job, sync_job
from orchestration.resources import build_resources
from orchestration.schedules import exports_schedule, push_schedule, sync_schedule
from orchestration.tenants import tenants_sensor

ROOT = Path(__file__).resolve().parent.parent
OWNERS = ["team:data-engineering"]
SOURCE_SYSTEMS = {"rutter", "jortt", "b2brouter"}
# A sync run takes a while after its tick: the freshness policy fails only this long after the interval.
FRESHNESS_GRACE = timedelta(minutes=15)


def sync_interval(cron: str | None = None, timezone: str | None = None) -> timedelta:
    """The longest gap between two ticks of the sync schedule over the next week (an irregular cron
    such as `0 8,17 * * 1-5` has long and short gaps: the freshness policy must allow the longest)."""
    cron = cron or settings.ROUTTY_SYNC_CRON.text()
    ticks = cron_string_iterator(time.time(), cron, timezone or settings.ROUTTY_SYNC_TIMEZONE.text())
    first = last = next(ticks)
    longest = timedelta(0)
    for tick in ticks:
        longest, last = max(longest, tick - last), tick
        if tick - first > timedelta(days=7):
            break
    return longest


def ingest_freshness() -> dg.FreshnessPolicy:
    """Fresh within the sync interval: warn once the interval is over, fail when the run that should
    have followed is more than FRESHNESS_GRACE late. ROUTTY_FRESHNESS_MINUTES sets the failure window
    outright (at least 1 minute; e.g. a deployment whose schedule is off and that syncs by sensor)."""
    override = settings.ROUTTY_FRESHNESS_MINUTES.text()
    if override:
        return dg.FreshnessPolicy.time_window(fail_window=timedelta(minutes=max(1.0, float(override))))
    interval = max(sync_interval(), timedelta(minutes=1))
    return dg.FreshnessPolicy.time_window(fail_window=interval + FRESHNESS_GRACE, warn_window=interval)


def _system(spec: dg.AssetSpec) -> str:
    if spec.group_name == "ingest":
        return spec.key.path[0]  # rutter/…, jortt/…, b2brouter/…
    return "duckdb" if spec.group_name == "model" else "routty"


def annotate(spec: dg.AssetSpec, freshness: dg.FreshnessPolicy) -> dg.AssetSpec:
    """Owner, tags and (ingest streams) the freshness policy of one asset."""
    tags = {"domain": spec.group_name or "default", "system": _system(spec)}
    spec = spec.merge_attributes(owners=[o for o in OWNERS if o not in spec.owners], tags=tags)
    if spec.group_name == "ingest":
        spec = spec.replace_attributes(freshness_policy=freshness)
    return spec


def with_code_references(defs: dg.Definitions) -> dg.Definitions:
    """A link from every asset to the file (and line) that defines it; to the repository's web view
    when ROUTTY_SYNC_GIT_URL (and ROUTTY_SYNC_GIT_BRANCH, default main) name it, no network needed."""
    assets = dg.with_source_code_references(list(defs.assets or []))
    git_url = settings.ROUTTY_SYNC_GIT_URL.text()
    if git_url:
        assets = dg.link_code_references_to_git(
            assets, git_url=git_url, git_branch=settings.ROUTTY_SYNC_GIT_BRANCH.text(),
            file_path_mapping=dg.AnchorBasedFilePathMapping(
                local_file_anchor=ROOT / "pyproject.toml", file_anchor_path_in_repository="pyproject.toml"))
    return dg.Definitions(assets=assets, asset_checks=defs.asset_checks, jobs=defs.jobs, schedules=defs.schedules,
                          sensors=defs.sensors, resources=defs.resources, executor=defs.executor)


def build_definitions() -> dg.Definitions:
    """Definitions for the resources the environment names now."""
    merged = dg.Definitions.merge(
        ingest.defs(), model.defs(), masterdata.defs(), invoices.defs(), exports.defs(),
        dg.Definitions(
            jobs=[sync_job, push_job],
            schedules=[sync_schedule, push_schedule, exports_schedule],
            sensors=[tenants_sensor],
            resources=build_resources(),
            # One process per run: the client-side rate limits (token buckets) then hold across all of
            # a run's streams, and DuckDB (one writer per file) gains nothing from parallel steps.
            executor=dg.in_process_executor,
        ),
    )
    freshness = ingest_freshness()
    with warnings.catch_warnings():  # code references and spec mapping are marked beta/preview: known, wanted
        warnings.simplefilter("ignore", dg.BetaWarning)
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return with_code_references(merged.map_asset_specs(func=lambda spec: annotate(spec, freshness)))


defs = build_definitions()
