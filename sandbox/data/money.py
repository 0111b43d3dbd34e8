"""Amounts in cents and VAT per rate: the one rule every generated total and UBL document follows."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def cents(value) -> Decimal:
    return Decimal(value).quantize(CENT, ROUND_HALF_UP)


def vat_breakdown(lines, discount: Decimal = Decimal(0)) -> dict[Decimal, tuple[Decimal, Decimal]]:
    """(net, percent) per line -> {percent: (taxable, tax)}. VAT is rounded to cents once per rate, as
    EN 16931 totals an invoice; every generated total and the UBL documents use this one rule. A header
    discount lowers each rate's taxable amount by its share: pro rata by the rates' nets, rounded to
    cents, the cents left over on the rate with the largest net (the higher rate on a tie)."""
    bases: dict[Decimal, Decimal] = {}
    for net, pct in lines:
        bases[pct] = bases.get(pct, Decimal(0)) + net
    net, shares = sum(bases.values()), {pct: Decimal(0) for pct in bases}
    if discount:
        shares = {pct: cents(discount * base / net) for pct, base in bases.items()}
        shares[max(bases, key=lambda pct: (abs(bases[pct]), pct))] += discount - sum(shares.values())
    return {pct: (base - shares[pct], cents((base - shares[pct]) * pct / 100)) for pct, base in bases.items()}
