"""Resources from the environment. Secrets only through dg.EnvVar (resolved at run time, never
logged); endpoints and paths are plain settings (resources/settings.py) over the resources' own
production defaults. Per-tenant secrets are read the same way, under the tenant's prefix, when a run
needs them (resources/tenants.py)."""

import dagster as dg

from resources import settings
from resources import b2brouter, jortt, routty, rutter, sftp
from resources.warehouse import warehouse_resource


def build_resources() -> dict:
    return {
        "rutter": rutter.RutterResource(
            client_id=dg.EnvVar("RUTTER_CLIENT_ID"),
            client_secret=dg.EnvVar("RUTTER_CLIENT_SECRET"),
            **settings.given(base_url=settings.RUTTER_BASE_URL, version=settings.RUTTER_VERSION,
                             page_size=settings.RUTTER_PAGE_SIZE),
        ),
        "jortt": jortt.JorttResource(**settings.given(base_url=settings.JORTT_BASE_URL, token_url=settings.JORTT_TOKEN_URL,
                                                      legacy_base_url=settings.JORTT_LEGACY_BASE_URL)),
        "b2brouter": b2brouter.B2BrouterResource(**settings.given(base_url=settings.B2BROUTER_BASE_URL)),
        # Its keys are the company's own, read when a client is opened for it (resources/routty.py).
        "routty": routty.RouttyResource(**settings.given(base_url=settings.ROUTTY_BASE_URL)),
        "sftp": sftp.SftpResource(),
        "warehouse": warehouse_resource(),
    }
