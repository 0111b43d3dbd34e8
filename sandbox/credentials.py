"""Fixed credentials of the local sandbox. They only open the simulators on 127.0.0.1: not secrets."""

import base64
from dataclasses import dataclass

from resources.contracts import rutter as rutter_api

RUTTER_CLIENT_ID = "sandbox-rutter-client-id"
RUTTER_CLIENT_SECRET = "sandbox-rutter-client-secret"
RUTTER_VERSION = rutter_api.VERSION
# One access token per Rutter connection (tenant); the first is the default one.
RUTTER_ACCESS_TOKEN = "sandbox-access-token"
RUTTER_ACCESS_TOKEN_2 = "sandbox-access-token-2"
RUTTER_ACCESS_TOKENS = (RUTTER_ACCESS_TOKEN, RUTTER_ACCESS_TOKEN_2)

JORTT_CLIENT_ID = "sandbox-jortt-client-id"
JORTT_CLIENT_SECRET = "sandbox-jortt-client-secret"
JORTT_CLIENT_ID_2 = "sandbox-jortt-client-id-2"
JORTT_CLIENT_SECRET_2 = "sandbox-jortt-client-secret-2"
JORTT_SCOPES = ("customers:read", "invoices:read", "invoices:write", "expenses:read", "organizations:read")
JORTT_LEGACY_APP_NAME = "sandbox-jortt-app"
JORTT_LEGACY_API_KEY = "sandbox-jortt-legacy-api-key"

# B2Brouter keys starting with "test_" route to its sandbox, so the fake key looks like one.
B2BROUTER_API_KEY = "test_sandbox-b2brouter-api-key"
B2BROUTER_ACCOUNT_ID = "10001"
B2BROUTER_API_KEY_2 = "test_sandbox-b2brouter-api-key-2"
B2BROUTER_ACCOUNT_ID_2 = "10002"

# Routty generates keys per tenant and per connector configuration (direction x flow). Every sandbox company
# is a Routty tenant of its own, named like the company, with one key per configuration: env name -> config.
ROUTTY_CONFIGS = {
    "ROUTTY_API_KEY": ("Masterdata", None),
    "ROUTTY_INPUT_OUTBOUND_API_KEY": ("Input", "Outbound"),  # sales documents in
    "ROUTTY_INPUT_INBOUND_API_KEY": ("Input", "Inbound"),  # received (purchase) documents in
    "ROUTTY_OUTPUT_INBOUND_API_KEY": ("Output", "Inbound"),  # exports out, feedback: the tenant's queue
}
# Signs the pre-signed upload URLs the input-documents API hands out (the sig= query parameter).
ROUTTY_UPLOAD_SIGNING_KEY = b"sandbox-routty-upload-signing-key"


@dataclass(frozen=True)
class CompanyCredentials:
    """What one company (tenant) logs in with; each credential sees only that tenant's data."""

    name: str
    rutter_access_token: str
    jortt_api: str  # the API the tenant uses: "current" or "legacy"
    jortt_client: tuple[str, str]  # current API (OAuth2 client id, secret)
    jortt_legacy: tuple[str, str] | None  # legacy API (app name, api key)
    b2brouter_api_key: str
    b2brouter_account_id: str

    @property
    def routty_keys(self) -> dict[str, str]:
        """The tenant's Routty keys by env name (ROUTTY_API_KEY, ...): distinct per tenant and configuration."""
        return {name: f"sandbox-routty-{self.name}-{name.removeprefix('ROUTTY_').lower().replace('_', '-')}"
                for name in ROUTTY_CONFIGS}


TENANTS = {t.name: t for t in (
    CompanyCredentials("acme", RUTTER_ACCESS_TOKEN, "current", (JORTT_CLIENT_ID, JORTT_CLIENT_SECRET), None,
                       B2BROUTER_API_KEY, B2BROUTER_ACCOUNT_ID),
    CompanyCredentials("globex", RUTTER_ACCESS_TOKEN_2, "legacy", (JORTT_CLIENT_ID_2, JORTT_CLIENT_SECRET_2),
                       (JORTT_LEGACY_APP_NAME, JORTT_LEGACY_API_KEY), B2BROUTER_API_KEY_2, B2BROUTER_ACCOUNT_ID_2),
)}


@dataclass(frozen=True)
class RouttyKey:
    """What a Routty key opens: one tenant's connector configuration. `name` is its env name (never the value)."""

    tenant: str
    name: str
    direction: str  # Masterdata | Input | Output
    flow: str | None  # Inbound | Outbound (None for masterdata)


ROUTTY_KEYS = {key: RouttyKey(t.name, name, *ROUTTY_CONFIGS[name])
               for t in TENANTS.values() for name, key in t.routty_keys.items()}
# The embedded default (one company, the plain env names) is acme: its keys under the plain names.
ROUTTY_API_KEY, ROUTTY_INPUT_OUTBOUND_API_KEY, ROUTTY_INPUT_INBOUND_API_KEY, ROUTTY_OUTPUT_INBOUND_API_KEY = (
    TENANTS["acme"].routty_keys[name] for name in ROUTTY_CONFIGS)


def basic_auth(authorization: str | None) -> tuple[str, str] | None:
    """(user, password) of an HTTP Basic Authorization header, None if absent or garbled."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except ValueError:  # binascii.Error and UnicodeDecodeError are both ValueErrors
        return None
    return (user, password) if sep else None


def scheme_value(authorization: str | None, scheme: str) -> str | None:
    """The credential after `scheme` ("Bearer", "ApiKey") in an Authorization header."""
    given, _, value = (authorization or "").partition(" ")
    return value.strip() or None if given.lower() == scheme.lower() else None
