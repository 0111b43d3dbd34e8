from sandbox import credentials

SIZE = 60  # the size every test in this package runs the sandbox at (acme; globex gets a quarter)


def routty_auth(tenant: str = "acme", name: str = "ROUTTY_API_KEY") -> dict[str, str]:
    """The Authorization header of one Routty tenant's key, by its env name."""
    return {"Authorization": f"ApiKey {credentials.TENANTS[tenant].routty_keys[name]}"}
