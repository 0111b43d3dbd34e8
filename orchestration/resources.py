"""Resources from the environment. Secrets only through dg.EnvVar (resolved at run time, never
logged); endpoints and paths are plain settings with production defaults. Per-tenant secrets are
read the same way, under the tenant's prefix, when a run needs them (resources/tenants.py)."""

import os

import dagster as dg

from resources import b2brouter, jortt, routty, rutter, sftp
from resources.warehouse import warehouse_resource


def build_resources() -> dict:
    return {
        "rutter": rutter.RutterResource(
            base_url=os.getenv("RUTTER_BASE_URL", rutter.PRODUCTION_URL),
            client_id=dg.EnvVar("RUTTER_CLIENT_ID"),
            client_secret=dg.EnvVar("RUTTER_CLIENT_SECRET"),
            version=os.getenv("RUTTER_VERSION", "2024-08-31"),
            page_size=int(os.getenv("RUTTER_PAGE_SIZE", "50")),  # Rutter's default; it publishes no maximum
        ),
        "jortt": jortt.JorttResource(
            base_url=os.getenv("JORTT_BASE_URL", jortt.PRODUCTION_URL),
            token_url=os.getenv("JORTT_TOKEN_URL", jortt.PRODUCTION_TOKEN_URL),
            legacy_base_url=os.getenv("JORTT_LEGACY_BASE_URL", jortt.PRODUCTION_LEGACY_URL),
        ),
        "b2brouter": b2brouter.B2BrouterResource(base_url=os.getenv("B2BROUTER_BASE_URL", b2brouter.PRODUCTION_URL)),
        # Its keys are the company's own, read when a client is opened for it (resources/routty.py).
        "routty": routty.RouttyResource(base_url=os.getenv("ROUTTY_BASE_URL", routty.PRODUCTION_URL)),
        "sftp": sftp.SftpResource(),
        "warehouse": warehouse_resource(),
    }
