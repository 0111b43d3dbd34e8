"""What each API is, as data: its paths, version, envelope keys and paging parameters; one module per
API (rutter, jortt, b2brouter, routty), imported by its client (resources/) and by its simulator
(sandbox/) alike, so neither can drift from the other.

A path is a template in Starlette's route syntax (`/invoices/{invoice_id}`): the simulator routes it
as it is (or with some names filled in), the client fills every name before it sends a request."""

from __future__ import annotations

import re

_NAME = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)(:[^}]*)?}")


def fill(template: str, **values: object) -> str:
    """`template` with the named parts given filled in; the others stay as they are (a route pattern)."""
    return _NAME.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), template)
