"""Resources from the environment. Secrets only through dg.EnvVar (resolved at run time, never
logged); endpoints and paths are plain settings with production defaults."""

import os

import dagster as dg

from resources import routty, rutter
from resources.warehouse import warehouse_resource


def build_resources() -> dict:
    return {
        "rutter": rutter.RutterResource(
            base_url=os.getenv("RUTTER_BASE_URL", rutter.PRODUCTION_URL),
            client_id=dg.EnvVar("RUTTER_CLIENT_ID"),
            client_secret=dg.EnvVar("RUTTER_CLIENT_SECRET"),
            access_token=dg.EnvVar("RUTTER_ACCESS_TOKEN"),
            version=os.getenv("RUTTER_VERSION", "2024-08-31"),
        ),
        "routty": routty.RouttyResource(
            base_url=os.getenv("ROUTTY_BASE_URL", routty.PRODUCTION_URL),
            api_key=dg.EnvVar("ROUTTY_API_KEY"),
        ),
        "warehouse": warehouse_resource(),
    }
