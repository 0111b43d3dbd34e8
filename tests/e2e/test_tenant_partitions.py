"""One graph shape, and companies added or removed without a code change or a redeploy: every asset is
partitioned by the dynamic partitions `tenants`, which follow the tenants file (or the single
company `default`). One Definitions object serves every step below, as one long-running deployment."""

import dagster as dg
import pytest
import yaml

from orchestration.definitions import build_definitions
from orchestration.tenants import sync_tenant_partitions
from assets.partitions import TENANT_PARTITIONS
from tests.conftest import execute

COMPANY_INFO = dg.AssetKey(["rutter", "company_info"])
PREFIXES = {"acme": "ACME_", "globex": "GLOBEX_"}  # the sandbox's companies


def write_tenants(path, *companies: str) -> None:
    path.write_text(yaml.safe_dump({"tenants": [{"id": c, "env_prefix": PREFIXES[c]} for c in companies]}))


def partitions(instance) -> list[str]:
    return sorted(instance.get_dynamic_partitions(TENANT_PARTITIONS.name))


def test_one_graph_shape_one_company_default_without_a_file_the_files_companies_with_one(tmp_path, monkeypatch):
    monkeypatch.delenv("TENANTS_FILE", raising=False)
    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    assert {graph.get(key).partitions_def for key in graph.get_all_asset_keys()} == {TENANT_PARTITIONS}
    assert defs.resolve_job_def("routty_sync").partitions_def == TENANT_PARTITIONS
    with dg.instance_for_test() as instance:
        assert sync_tenant_partitions(instance) == (["default"], [])
        assert partitions(instance) == ["default"]
        write_tenants(tmp_path / "tenants.yaml", "acme", "globex")
        monkeypatch.setenv("TENANTS_FILE", str(tmp_path / "tenants.yaml"))
        assert sync_tenant_partitions(instance) == (["acme", "globex"], ["default"])
        assert partitions(instance) == ["acme", "globex"]


@pytest.fixture
def companies(tenants_env, tmp_path, monkeypatch):
    """The sandbox's companies' secrets in the environment, and a tenants file naming only acme."""
    write_tenants(tmp_path / "tenants.yaml", "acme")
    monkeypatch.setenv("TENANTS_FILE", str(tmp_path / "tenants.yaml"))
    return tmp_path / "tenants.yaml"


def tenants_tick(defs, instance) -> list:
    """One tick of the tenants sensor; its partition requests applied as the daemon applies them."""
    sensor = defs.resolve_sensor_def("routty_tenants_sensor")
    with dg.build_sensor_context(instance=instance, definitions=defs) as context:
        result = sensor(context)
    requests = [] if isinstance(result, dg.SkipReason) else result.dynamic_partitions_requests
    for request in requests:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        else:
            for key in request.partition_keys:
                instance.delete_dynamic_partition(request.partitions_def_name, key)
    return requests


def scheduled(defs, instance) -> list[str]:
    """The companies one tick of the sync schedule starts a run for."""
    context = dg.build_schedule_context(instance=instance, repository_def=defs.get_repository_def())
    return sorted(r.partition_key for r in defs.resolve_schedule_def("routty_sync_schedule").evaluate_tick(context).run_requests)


def test_a_company_added_to_the_file_gets_its_partition_and_its_scheduled_runs(companies, instance):
    defs = build_definitions()
    assert scheduled(defs, instance) == ["acme"]
    assert partitions(instance) == ["acme"]  # the schedule made it: its run waits for no sensor tick
    assert not tenants_tick(defs, instance)  # nothing to change

    write_tenants(companies, "acme", "globex")
    [added] = tenants_tick(defs, instance)
    assert isinstance(added, dg.AddDynamicPartitionsRequest) and list(added.partition_keys) == ["globex"]
    assert partitions(instance) == ["acme", "globex"]
    assert scheduled(defs, instance) == ["acme", "globex"]
    assert execute(defs.resolve_job_def("routty_sync"), instance, "globex", asset_selection=[COMPANY_INFO]).success


def test_a_company_removed_from_the_file_loses_its_partition_and_runs_but_keeps_its_history(companies, instance):
    defs = build_definitions()
    write_tenants(companies, "acme", "globex")
    run = execute(defs.resolve_job_def("routty_sync"), instance, "globex", asset_selection=[COMPANY_INFO])
    assert run.success and partitions(instance) == ["acme", "globex"]

    write_tenants(companies, "acme")
    [deleted] = tenants_tick(defs, instance)
    assert isinstance(deleted, dg.DeleteDynamicPartitionsRequest) and list(deleted.partition_keys) == ["globex"]
    assert partitions(instance) == ["acme"]
    assert scheduled(defs, instance) == ["acme"]
    # Its history stays: the run, and the materialization of its partition.
    assert instance.get_run_by_id(run.run_id).tags["dagster/partition"] == "globex"
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=COMPANY_INFO, asset_partitions=["globex"]), limit=10).records
    assert [r.run_id for r in records] == [run.run_id]
