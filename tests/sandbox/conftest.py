"""One sandbox process for the whole package, reset to the same data after every test."""

import httpx
import pytest

from sandbox.server import start_sandbox
from tests.sandbox import SIZE


@pytest.fixture(scope="package")
def sandbox():
    sb = start_sandbox(size=SIZE, processing_delay=0.2)
    yield sb
    sb.stop()


@pytest.fixture(autouse=True)
def fresh(sandbox):
    yield
    sandbox.admin("POST", "reset", json={"size": SIZE, "seed": 42}).raise_for_status()


@pytest.fixture
def client(sandbox):
    with httpx.Client(base_url=sandbox.base_url, trust_env=False, timeout=10) as c:
        yield c
