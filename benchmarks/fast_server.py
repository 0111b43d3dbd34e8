"""A Rutter vendors endpoint that costs (almost) nothing to serve: every page rendered to bytes once,
before the first request, so a benchmark against it measures the client and not the server.

    python -m benchmarks.fast_server --rows 100000 [--page-size 500] [--port 0]

Same contract as the sandbox's `GET /rutter/versioned/accounting/vendors` (sandbox/rutter.py): Basic
auth with the sandbox's client id and secret, `X-Rutter-Version`, the `access_token` query parameter,
`limit` and an opaque `cursor`, pages newest `updated_at` first, `next_cursor` null on the last page,
the `connection` object on every page; a 400 (Rutter's error body) for any other query parameter or a
`limit` other than the pre-rendered page size, a 401 for a wrong credential. The records are shaped
like the sandbox's vendors (accents, scripts, missing and null optional fields), generated here so
that a million cost seconds to make and do not depend on the sandbox's dataset code.

It prints `FAST-SERVER-READY <base url>` once every page is rendered; the parent (benchmarks/ingest.py)
waits for that line. A threaded `http.server` with keep-alive: a request costs a dict lookup and a
`sendall` of bytes already in memory.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from sandbox import credentials

READY = "FAST-SERVER-READY "
PATH = "/rutter/versioned/accounting/vendors"
ALLOWED = {"access_token", "cursor", "limit", "updated_at_min", "updated_at_max"}
EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)
# The sandbox's kind of names and places (accents, scripts, XML and JSON specials), for realistic bytes.
NAMES = ["Café Müller & Söhne GmbH", "Ørsted Energi A/S", "Żabka Polska sp. z o.o.", "Peña & Núñez Asociados S.L.",
         'O\'Brien "The Plumbers" Ltd', "Smith & Sons <Holdings> Ltd", "Bakkerij 't Stoepje", "深圳市华强电子有限公司",
         "Ελληνικά Τρόφιμα Α.Ε.", "„Балкан Логистик“ ООД", "  Van den Heuvel Transport B.V.  ", "De Vries Bouw B.V.",
         "Schmidt Logistik GmbH & Co. KG", "Martin Transports SARL", "Rossi Costruzioni S.r.l.", "Murphy Freight DAC"]
PLACES = [("NL", "Amsterdam", "Noord-Holland", "Damrak {n}", "1012 AB", "NL{d}B01", "+31"),
          ("DE", "München", "Bayern", "Königstraße {n}", "80331", "DE{d}", "+49"),
          ("FR", "Besançon", "Bourgogne-Franche-Comté", "{n} rue de Rivoli", "25000", "FR82{d}", "+33"),
          ("PL", "Łódź", "łódzkie", "ul. Piotrkowska {n}", "90-001", "PL{d}", "+48"),
          ("GR", "Αθήνα", "Αττική", "Οδός Ερμού {n}", "105 63", "EL{d}", "+30")]
PEOPLE = ["Jan de Vries", "José García", "Zoë Dubois", "Søren Østergaard", "Małgorzata Kowalska", "李伟", None]


def iso_ms(offset_ms: int) -> str:
    t = EPOCH + timedelta(milliseconds=offset_ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def make_vendors(rows: int, seed: int = 17) -> list[dict]:
    """`rows` vendors newest `updated_at` first, ids unique, shaped like the sandbox's (optional fields
    missing or null now and then, one or two addresses, currencies, subsidiaries)."""
    rng = random.Random(seed)
    out = []
    for i in range(rows):
        country, city, region, street, postal, vat, dial = rng.choice(PLACES)
        name, digits = rng.choice(NAMES), f"{rng.randrange(10**8, 10**9)}"
        address = {"type": "billing", "address_line_1": street.format(n=rng.randint(1, 250)),
                   "address_line_2": rng.choice([None, "Unit 4", "c/o Finance"]), "city": city,
                   "region": region if rng.random() < 0.5 else None, "postal_code": postal, "country": country}
        slug = "".join(ch for ch in name.lower() if ch.isascii() and ch.isalnum())[:16] or "co"
        vendor = {
            "id": f"{(i * 2654435761) % 2**32:08x}-{i >> 16 & 0xffff:04x}-4{i & 0xfff:03x}-8ef0-{i:012x}",
            "platform_id": str(1200 + i), "vendor_name": name, "display_name": name.strip(),
            "contact_name": rng.choice(PEOPLE), "email": f"finance@{slug}.{country.lower()}",
            "phone": f"{dial} {rng.randrange(10, 99)} {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}",
            "website": f"https://www.{slug}.{country.lower()}", "registration_number": digits,
            "tax_number": vat.format(d=digits), "status": "archived" if rng.random() < 0.05 else "active",
            "currency_codes": ["EUR"] if rng.random() < 0.9 else ["PLN", "EUR"], "payment_terms_id": rng.choice("12234"),
            "addresses": [address] + ([dict(address, type="shipping")] if rng.random() < 0.3 else []),
            "subsidiaries": [{"id": "1"}],
            "created_at": iso_ms(rng.randrange(0, 300 * 86_400_000)),
            "updated_at": iso_ms(360 * 86_400_000 - i * 1000),  # newest first, like the API; all in the past
            "last_synced_at": iso_ms(365 * 86_400_000), "platform_url":
                f"https://1234567.app.netsuite.com/app/common/entity/vendor.nl?id={1200 + i}",
        }
        for key in ("display_name", "email", "phone", "website", "registration_number", "tax_number"):
            r = rng.random()
            if r < 0.05:
                del vendor[key]
            elif r < 0.10:
                vendor[key] = None
        out.append(vendor)
    return out


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode().rstrip("=")


def render_pages(rows: int, page_size: int) -> dict[str | None, bytes]:
    """Every page's body, by the cursor that asks for it (None: the first page)."""
    vendors = make_vendors(rows)
    connection = {"id": "fast-connection", "orgId": "fast-org", "platform": "NETSUITE"}
    pages: dict[str | None, bytes] = {}
    for offset in range(0, max(rows, 1), page_size):
        end = offset + page_size
        body = {"connection": connection, "vendors": vendors[offset:end],
                "next_cursor": _cursor(end) if end < rows else None}
        pages[None if offset == 0 else _cursor(offset)] = json.dumps(body, ensure_ascii=False).encode()
    return pages


def _error(status: int, error_type: str, code: str, message: str) -> tuple[int, bytes]:
    return status, json.dumps({"error_type": error_type, "error_code": code, "error_message": message}).encode()


def make_handler(pages: dict[str | None, bytes], page_size: int):
    auth = "Basic " + base64.b64encode(
        f"{credentials.RUTTER_CLIENT_ID}:{credentials.RUTTER_CLIENT_SECRET}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: one connection for the whole page loop

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            status, body = self._answer()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _answer(self) -> tuple[int, bytes]:
            url = urlsplit(self.path)
            if url.path != PATH:
                return _error(404, "INVALID_REQUEST", "NOT_FOUND", f"Unknown endpoint: GET {url.path}")
            if self.headers.get("authorization") != auth:
                return _error(401, "AUTHENTICATION_ERROR", "INVALID_CREDENTIALS", "Invalid client credentials.")
            if self.headers.get("x-rutter-version") != credentials.RUTTER_VERSION:
                return _error(400, "INVALID_REQUEST", "UNSUPPORTED_VERSION", "Unsupported X-Rutter-Version.")
            query = dict(parse_qsl(url.query, keep_blank_values=True))
            unknown = set(query) - ALLOWED
            if unknown:
                return _error(400, "INVALID_REQUEST", "UNKNOWN_PARAMETER", f"Unknown query parameter: {min(unknown)}")
            if query.get("access_token") != credentials.RUTTER_ACCESS_TOKEN:
                return _error(401, "AUTHENTICATION_ERROR", "INVALID_CREDENTIALS", "Invalid access_token.")
            if "updated_at_min" in query or "updated_at_max" in query:
                return _error(400, "INVALID_REQUEST", "INVALID_PARAMETER",
                              "the fast server serves full reads only (no updated_at filter)")
            if query.get("limit", "50") != str(page_size):
                return _error(400, "INVALID_REQUEST", "INVALID_PARAMETER",
                              f"the fast server renders pages of {page_size}; limit={query.get('limit')!r}")
            body = pages.get(query.get("cursor"))
            if body is None:
                return _error(400, "INVALID_REQUEST", "INVALID_CURSOR", "The cursor is not one this API returned.")
            return 200, body

        def log_message(self, *args) -> None:  # one line per request would cost more than the answer
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    pages = render_pages(args.rows, args.page_size)
    size = sum(map(len, pages.values()))
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(pages, args.page_size))
    server.daemon_threads = True
    print(f"rendered {len(pages)} pages, {size / 2**20:.1f} MB, in {time.perf_counter() - started:.1f} s",
          file=sys.stderr, flush=True)
    print(f"{READY}http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
