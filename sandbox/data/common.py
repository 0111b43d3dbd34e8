"""Time and random draws every system's generator shares.

Times are offsets from EPOCH, never the wall clock, so the data depends only on (size, seed).
"""

from __future__ import annotations

import functools
import random
import string
import uuid
from datetime import datetime, timedelta, timezone

EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)
EPOCH_MS = int(EPOCH.timestamp() * 1000)
DAY_MS = 86_400_000
TODAY = (EPOCH + timedelta(days=370)).date()  # the sandbox's "now" for due/late: after every invoice date


def iso_ms(offset_ms: int) -> str:
    """ISO 8601 UTC with milliseconds and Z, offset_ms after EPOCH."""
    t = EPOCH + timedelta(milliseconds=offset_ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


@functools.lru_cache(maxsize=1 << 20)  # list endpoints sort every record on every page: parse each time once
def unix_ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def iso_day(day: int) -> str:
    return (EPOCH + timedelta(days=day)).date().isoformat()


def stamps(rng: random.Random, null_updated: float = 0.0) -> tuple[int, str, str | None]:
    """(day, created_at, updated_at) spread over 2024; updated_at null with the given probability."""
    created = rng.randint(0, 300 * DAY_MS)
    updated = None if rng.random() < null_updated else iso_ms(created + rng.randint(0, 60 * DAY_MS))
    return created // DAY_MS, iso_ms(created), updated


def rand_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def rand_digits(rng: random.Random, n: int) -> str:
    return str(rng.randint(1, 9)) + "".join(rng.choice(string.digits) for _ in range(n - 1))


def rand_letters(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.ascii_uppercase) for _ in range(n))


def mess(rng: random.Random, record: dict, keys: list[str], p: float = 0.08) -> dict:
    """Drop some optional keys and null others: both happen in real payloads."""
    for key in keys:
        r = rng.random()
        if r < p:
            record.pop(key, None)
        elif r < 2 * p:
            record[key] = None
    return record


def pick(rng: random.Random, n: int, k: int) -> set[int]:
    return set(rng.sample(range(n), min(n, k)))
