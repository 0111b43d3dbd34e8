"""The companies as Dagster partitions. The instance's dynamic partitions `tenants` follow the tenants
file (or the single company `default` without one), so adding or removing a company needs no code
change and no redeploy:

- the tenants sensor (every 30 s while the daemon runs) adds and deletes partitions to match the file;
- the schedules add the partitions of the companies they start runs for, so a new company's first
  scheduled run waits for no sensor tick;
- an operator (and the embedded runner) makes them match at once, against the instance at DAGSTER_HOME:

    python -m orchestration.tenants sync

A company removed from the file loses its partition: no schedule asks for it any more, and its runs
and materializations stay in the instance's history.
"""

import argparse
import sys

import dagster as dg

from assets.partitions import TENANT_PARTITIONS
from resources.tenants import all_tenants


def partition_changes(instance: dg.DagsterInstance) -> tuple[list[str], list[str]]:
    """(companies in the file without a partition, partitions of companies no longer in it)."""
    wanted = [tenant.id for tenant in all_tenants()]
    known = instance.get_dynamic_partitions(TENANT_PARTITIONS.name)
    return [t for t in wanted if t not in known], [k for k in known if k not in wanted]


def add_missing_partitions(instance: dg.DagsterInstance) -> list[str]:
    """Adds the partitions of the companies in the file that have none; deletes nothing."""
    added, _ = partition_changes(instance)
    if added:
        instance.add_dynamic_partitions(TENANT_PARTITIONS.name, added)
    return added


def sync_tenant_partitions(instance: dg.DagsterInstance) -> tuple[list[str], list[str]]:
    """Makes the instance's partitions those of the companies in the file: (added, deleted)."""
    added = add_missing_partitions(instance)
    _, removed = partition_changes(instance)
    for key in removed:
        instance.delete_dynamic_partition(TENANT_PARTITIONS.name, key)
    return added, removed


@dg.sensor(
    name="routty_tenants_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Keeps the `tenants` partitions in step with the tenants file: a company added gets its "
                "partition, a company removed loses it (its history stays).",
)
def tenants_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    added, removed = partition_changes(context.instance)
    if not (added or removed):
        return dg.SkipReason("the partitions match the tenants file")
    context.log.info(f"tenants: adding {added or '-'}, deleting {removed or '-'}")
    requests = [dg.AddDynamicPartitionsRequest(TENANT_PARTITIONS.name, added),
                dg.DeleteDynamicPartitionsRequest(TENANT_PARTITIONS.name, removed)]
    return dg.SensorResult(dynamic_partitions_requests=[r for r in requests if r.partition_keys])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["sync"], help="make the instance's partitions match the tenants file")
    parser.parse_args()
    with dg.DagsterInstance.get() as instance:
        added, removed = sync_tenant_partitions(instance)
    print(f"tenants: added {', '.join(added) or '-'}; deleted {', '.join(removed) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
