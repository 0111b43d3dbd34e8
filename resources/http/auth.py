"""Authentication flows the clients share beyond a header or Basic auth."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx

from resources.http.client import ApiClient

RENEW_BEFORE_EXPIRY = 300.0


class ClientCredentialsAuth(httpx.Auth):
    """Bearer token from the OAuth2 client-credentials grant: cached, renewed five minutes before it
    expires, and asked for again once when the API says the token expired (`expired(response)`)."""

    requires_response_body = True

    def __init__(self, token_client: ApiClient, token_path: str, client_id: str, client_secret: str, scopes: str,
                 expired: Callable[[httpx.Response], bool]):
        self._token_client, self._token_path = token_client, token_path
        self._credentials, self._scopes, self._expired = (client_id, client_secret), scopes, expired
        self._token, self._expires_at, self._lock = "", 0.0, threading.Lock()

    def auth_flow(self, request: httpx.Request):
        request.headers["Authorization"] = f"Bearer {self._current_token()}"
        response = yield request
        if response.status_code == 401 and self._expired(response):
            request.headers["Authorization"] = f"Bearer {self._current_token(renew=True)}"
            yield request

    def _current_token(self, renew: bool = False) -> str:
        with self._lock:
            if renew or time.monotonic() > self._expires_at - RENEW_BEFORE_EXPIRY:
                body = self._token_client.request(
                    "POST", self._token_path, auth=self._credentials, idempotent=True,
                    data={"grant_type": "client_credentials", "scope": self._scopes},
                ).json()
                self._token = body["access_token"]
                self._expires_at = time.monotonic() + float(body.get("expires_in", 7200))
            return self._token
