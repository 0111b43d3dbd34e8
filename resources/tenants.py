"""The companies (tenants) this code location syncs, and where each one's secrets come from.

Every asset is partitioned by tenant, one dynamic partition per company (assets/partitions.py), so a
company is added or removed in the file without a redeploy (orchestration/tenants.py keeps the
instance's partitions in step with the file). Without a tenants file there is one tenant, `default`,
whose settings are the plain environment variables (RUTTER_ACCESS_TOKEN, ...). With TENANTS_FILE
(YAML), every tenant reads its secrets from the environment under its own prefix
(ACME_RUTTER_ACCESS_TOKEN, ...), falling back to the plain name for settings that all tenants share
(RUTTER_CLIENT_ID, ...). Secret values never enter the file, only their names do.

    tenants:
      - id: acme
        env_prefix: ACME_
        jortt_api: current        # current (OAuth2, default) | legacy | none
        b2brouter: true
      - id: globex
        env_prefix: GLOBEX_
        jortt_api: legacy
        routty_delivery: sftp     # api (default) | sftp: ROUTTY_SFTP_HOST, _PORT, _PATH, _USER, _PRIVATE_KEY or _PASSWORD
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import dagster as dg
import yaml

from resources.settings import JORTT_API, ROUTTY_DELIVERY, TENANTS_FILE

DEFAULT_TENANT_ID = "default"


@dataclass(frozen=True)
class Tenant:
    id: str
    env_prefix: str = ""
    rutter: bool = True
    jortt_api: str = "current"  # current | legacy | none
    b2brouter: bool = True
    routty_delivery: str = "api"  # api (connector API) | sftp (drop folder Routty picks up)

    def secret(self, name: str) -> str:
        """The tenant's value of an environment setting: prefixed first, then the shared name."""
        for candidate in dict.fromkeys((f"{self.env_prefix}{name}", name)):
            if os.environ.get(candidate):
                return dg.EnvVar(candidate).get_value()
        raise dg.Failure(
            f"tenant {self.id}: {self.env_prefix}{name} is not set"
            + (f" (nor the shared {name})" if self.env_prefix else "")
        )

    def has(self, name: str) -> bool:
        return any(os.environ.get(c) for c in (f"{self.env_prefix}{name}", name))


def _load(path: str | None, jortt_api: str, routty_delivery: str) -> tuple[Tenant, ...]:
    if not path:
        return (Tenant(DEFAULT_TENANT_ID, jortt_api=jortt_api, routty_delivery=routty_delivery),)
    # Keyed by the file's mtime and size too: a long-running daemon sees the file as edited now.
    stat = Path(path).stat()
    return _read(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=16)  # a few versions of a few files
def _read(path: str, mtime_ns: int, size: int) -> tuple[Tenant, ...]:
    entries = yaml.safe_load(Path(path).read_text()).get("tenants") or []
    tenants = tuple(Tenant(**entry) for entry in entries)
    if not tenants or len({t.id for t in tenants}) != len(tenants):
        raise ValueError(f"{path}: needs at least one tenant, each with a unique id")
    bad = [t.id for t in tenants if t.jortt_api not in ("current", "legacy", "none") or t.routty_delivery not in ("api", "sftp")]
    if bad:
        raise ValueError(f"{path}: jortt_api must be current, legacy or none, routty_delivery api or sftp (tenants {bad})")
    return tenants


def all_tenants() -> tuple[Tenant, ...]:
    """The tenants the file (or the environment) names now."""
    return _load(TENANTS_FILE.text(), JORTT_API.text(), ROUTTY_DELIVERY.text())


def tenant_by_id(tenant_id: str) -> Tenant:
    for tenant in all_tenants():
        if tenant.id == tenant_id:
            return tenant
    raise dg.Failure(f"unknown tenant {tenant_id!r}: not in {TENANTS_FILE.text() or 'the default configuration'}")


def tenant_of_run(context) -> Tenant:
    """The tenant a run works for: its partition's."""
    return tenant_by_id(context.partition_key)
