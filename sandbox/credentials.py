"""Fixed credentials of the local sandbox. They only open the simulators on 127.0.0.1: not secrets."""

import base64
from dataclasses import dataclass

RUTTER_CLIENT_ID = "sandbox-rutter-client-id"
RUTTER_CLIENT_SECRET = "sandbox-rutter-client-secret"
RUTTER_VERSION = "2024-08-31"
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

ROUTTY_API_KEY = "sandbox-routty-api-key"
# One Routty key per connector configuration (direction x flow); the masterdata key above opens neither.
ROUTTY_INPUT_OUTBOUND_API_KEY = "sandbox-routty-input-outbound-api-key"  # sales documents in
ROUTTY_INPUT_INBOUND_API_KEY = "sandbox-routty-input-inbound-api-key"  # received (purchase) documents in
# Exports out, feedback: one key per tenant (each sees its own output queue); the first is the default one.
ROUTTY_OUTPUT_INBOUND_API_KEY = "sandbox-routty-output-inbound-api-key"
ROUTTY_OUTPUT_INBOUND_API_KEY_2 = "sandbox-routty-output-inbound-api-key-2"
ROUTTY_KEYS = {  # key -> (direction, flow)
    ROUTTY_API_KEY: ("Masterdata", None),
    ROUTTY_INPUT_OUTBOUND_API_KEY: ("Input", "Outbound"),
    ROUTTY_INPUT_INBOUND_API_KEY: ("Input", "Inbound"),
    ROUTTY_OUTPUT_INBOUND_API_KEY: ("Output", "Inbound"),
    ROUTTY_OUTPUT_INBOUND_API_KEY_2: ("Output", "Inbound"),
}
# Signs the pre-signed upload URLs the input-documents API hands out (the sig= query parameter).
ROUTTY_UPLOAD_SIGNING_KEY = b"sandbox-routty-upload-signing-key"


@dataclass(frozen=True)
class TenantCredentials:
    """What one company (tenant) logs in with; each credential sees only that tenant's data."""

    name: str
    rutter_access_token: str
    jortt_api: str  # the API the tenant uses: "current" or "legacy"
    jortt_client: tuple[str, str]  # current API (OAuth2 client id, secret)
    jortt_legacy: tuple[str, str] | None  # legacy API (app name, api key)
    b2brouter_api_key: str
    b2brouter_account_id: str
    routty_output_key: str  # Output Inbound: the tenant's export queue


TENANTS = {t.name: t for t in (
    TenantCredentials("acme", RUTTER_ACCESS_TOKEN, "current", (JORTT_CLIENT_ID, JORTT_CLIENT_SECRET), None,
                      B2BROUTER_API_KEY, B2BROUTER_ACCOUNT_ID, ROUTTY_OUTPUT_INBOUND_API_KEY),
    TenantCredentials("globex", RUTTER_ACCESS_TOKEN_2, "legacy", (JORTT_CLIENT_ID_2, JORTT_CLIENT_SECRET_2),
                      (JORTT_LEGACY_APP_NAME, JORTT_LEGACY_API_KEY), B2BROUTER_API_KEY_2, B2BROUTER_ACCOUNT_ID_2,
                      ROUTTY_OUTPUT_INBOUND_API_KEY_2),
)}


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
