"""One sales invoice as Routty's internal XML: a UBL 2.1 `Invoice`, or a `CreditNote` (issue 5).

Routty matches the customer by its party Number (PartyIdentification/ID, the Number sent in the
PartyList) and rejects a document whose totals do not add up, so the builder refuses such a document
before it leaves, with a RecordError naming the field to fix in the source:

- Every amount derives from the lines' net amounts, which rule (rounded to cents): VAT is computed per
  rate on the rate's summed net and rounded half-up to cents once, as EN 16931 totals an invoice (and
  sandbox.data.vat_breakdown); the source's own totals must agree to the cent.
- A header discount (Rutter's total_discount) is a document-level allowance per VAT rate (EN 16931
  BG-20: each allowance has one VAT category). Rutter does not say which rate it belongs to, so it is
  split pro rata over the rates' nets, each share rounded half-up to cents and the cents left over
  added to the rate with the largest net; each rate's VAT is then computed on its net less its share
  (BR-S-08, BR-CO-17), and TaxExclusiveAmount = LineExtensionAmount - AllowanceTotalAmount (BR-CO-13).
- No issue date, no document: the date of issue is a legal particular of an invoice (VAT Directive
  art. 226) that fixes its VAT period, and a record's creation date need not be it (an invoice drafted
  on one day is issued on another), so none is assumed.
- A line's VAT percentage comes from the source (Jortt: on the line; Rutter: the line's tax rate in the
  books' tax rates); a rate that is missing or has no percentage is refused, never guessed.
- A negative total makes a CreditNote, its amounts turned positive as UBL expects; so does a reference
  to a credited invoice. A price is never negative: a line's quantity carries its sign.
- PriceAmount is the source's unit price when quantity × price gives the net to the cent, else the net
  divided by the quantity (a discount or a rounding the source folded into the net).
- Every document is validated against the UBL 2.1 subset in xsd/ubl/ before it is returned.
"""

import operator
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType

from lxml import etree

from assets.xml.fields import COUNTRIES, RecordError, decimal_text, iban_is_valid
from resources.contracts.schemas import schema as load_schema

INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
NS = {"cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
      "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}
KINDS = {f"{{{INVOICE}}}Invoice": "Invoice", f"{{{CREDIT_NOTE}}}CreditNote": "CreditNote"}
BIS3 = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PEPPOL_PROFILE = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
SEPA_CREDIT_TRANSFER, MEANS_NOT_DEFINED = "58", "1"  # UNCL 4461
DISCOUNT_REASON_CODE = "95"  # UNCL 5189: discount
# UNCL 5305 tax category per Dutch VAT rate: standard (21 and the reduced 9) or zero-rated.
NL_VAT: Mapping[Decimal, str] = MappingProxyType({Decimal(21): "S", Decimal(9): "S", Decimal(0): "Z"})
CENT, PRICE_SCALE = Decimal("0.01"), Decimal("0.0001")
_CLARK = re.compile(r"\{[^{}]*:[^{}]*\}")  # {namespace}, not a pattern's {3}
_ELEMENT = re.compile(r"Element '(?:\{[^}]*\})?([^']+)'")


@dataclass(frozen=True)
class UblParty:
    number: str | None  # the party Number sent in Routty masterdata (PartyIdentification/ID)
    name: str | None
    street: str | None
    postal_code: str | None
    city: str | None
    country_code: str | None
    vat_number: str | None
    coc_number: str | None
    email: str | None = None


@dataclass(frozen=True)
class UblLine:
    description: str | None
    quantity: Decimal | None  # None: one unit
    unit_price: Decimal | None
    net_amount: Decimal | None
    vat_percent: Decimal | None
    # Where the source names a tax rate rather than a percentage (Rutter): its id and whether the books'
    # tax rates list it (None: the source gives the percentage itself).
    tax_rate_id: str | None = None
    tax_rate_listed: bool | None = None


@dataclass(frozen=True)
class SalesInvoice:
    source_id: str  # e.g. the Jortt invoice id
    number: str | None
    issue_date: date | None
    due_date: date | None
    currency: str | None
    supplier: UblParty  # the tenant's own company
    customer: UblParty | None  # None when the customer is unknown
    lines: tuple[UblLine, ...]
    iban: str | None  # payment means (the supplier's IBAN)
    total_net: Decimal | None  # the source's own totals, checked against the lines when given
    total_incl_vat: Decimal | None
    credited_number: str | None = None  # for a credit note: the number of the invoice it credits
    credited_issue_date: date | None = None
    buyer_reference: str | None = None
    note: str | None = None
    total_discount: Decimal | None = None  # a header discount before VAT (Rutter total_discount)


def build_ubl(invoice: SalesInvoice, vat_rates: Mapping[Decimal, str] = NL_VAT) -> bytes:
    """The invoice as UTF-8 UBL 2.1 XML, valid against xsd/ubl/; RecordError if it cannot be sent."""
    _check_header(invoice)
    customer = _known_customer(invoice.customer)
    if not invoice.lines:
        raise RecordError("lines", "the invoice has no lines: Routty needs at least one")
    nets = [_line_net(n, line, vat_rates) for n, line in enumerate(invoice.lines, 1)]
    net, discount = sum(nets, Decimal(0)), _cents(invoice.total_discount or Decimal(0))
    shares, breakdown = _vat_breakdown(zip(nets, (line.vat_percent for line in invoice.lines)), discount)
    tax = sum((t for _, t in breakdown.values()), Decimal(0))
    _check_totals(invoice, net, discount, tax)
    # A negative total goes out as a CreditNote with its amounts turned positive (unary minus: no -0.00).
    turn = operator.neg if net - discount + tax < 0 else operator.pos
    credit = turn is operator.neg or invoice.credited_number is not None
    root = _document(invoice, customer, credit)
    for pct, share in shares.items():
        _allowance(root, invoice.currency, turn(share), vat_rates[pct], pct)
    _tax_total(root, invoice.currency, {pct: (turn(base), turn(t)) for pct, (base, t) in breakdown.items()}, vat_rates)
    _monetary_total(root, invoice.currency, turn(net), turn(discount) if discount else None, turn(tax))
    for n, (line, amount) in enumerate(zip(invoice.lines, nets), 1):
        _write_line(root, n, line, turn(amount), vat_rates[line.vat_percent], invoice.currency, credit)
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    validate_ubl(xml)
    return xml


def validate_ubl(xml: bytes) -> None:
    """Raise RecordError (the element at fault, the schema's message) unless `xml` is a UBL 2.1 Invoice
    or CreditNote valid against xsd/ubl/, the subset of UBL that Routty gets from us."""
    try:
        root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as error:
        raise RecordError("document", f"not well-formed XML: {error}") from None
    kind = KINDS.get(root.tag)
    if kind is None:
        raise RecordError("document", f"root {root.tag} is neither a UBL 2.1 Invoice nor a CreditNote")
    schema = load_schema(f"ubl/UBL-{kind}-2.1")
    if not schema.validate(root):
        error = schema.error_log[0]
        element = _ELEMENT.search(error.message)
        raise RecordError(element.group(1) if element else kind,
                          f"the {kind} breaks UBL 2.1 (line {error.line}): {_CLARK.sub('', error.message)}")


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


# ---------------------------------------------------------------- checks

HEADER_MISSING = MappingProxyType({
    "number": "the invoice has no number (a draft is numbered when it is sent): Routty needs it to register "
              "the document",
    "issue_date": "the invoice has no issue date in the books: it is a legal particular of an invoice and fixes "
                  "its VAT period, and the date the record was created need not be the date it was issued, so "
                  "none is assumed; set the invoice date at the source",
    "currency": "the invoice has no currency: Routty needs it to register the document",
})


def _check_header(invoice: SalesInvoice) -> None:
    for field, reason in HEADER_MISSING.items():
        if getattr(invoice, field) in (None, ""):
            raise RecordError(field, reason)
    if invoice.iban and not iban_is_valid(invoice.iban):
        raise RecordError("iban", f"{invoice.iban!r} fails the IBAN checksum (ISO 13616 mod 97): correct the "
                                  f"company's bank account")


def _known_customer(customer: UblParty | None) -> UblParty:
    if customer is None:
        raise RecordError("customer", "the invoice has no known customer: link it to a customer, which then goes "
                                      "to Routty as a party")
    if not customer.number:
        raise RecordError("customer.number", f"customer {customer.name!r} has no party Number, so Routty cannot "
                                             f"match it to a business partner: it must be in the PartyList first")
    return customer


def _line_net(n: int, line: UblLine, vat_rates: Mapping[Decimal, str]) -> Decimal:
    """The line's net amount in cents, once the line is known to have what its tax needs."""
    where = f"line {n} ({line.description!r})"
    if line.net_amount is None:
        raise RecordError(f"lines[{n}].net_amount", f"{where} has no net amount")
    if line.quantity == 0 and line.net_amount != 0:
        raise RecordError(f"lines[{n}].quantity", f"{where} has quantity 0 but a net amount of {line.net_amount}: "
                                                  f"correct one of them")
    if line.vat_percent is None:
        raise RecordError(*_unknown_rate(n, line, where))
    if line.vat_percent not in vat_rates:
        known = ", ".join(f"{p}%" for p in sorted(vat_rates))
        raise RecordError(_rate_field(n, line), f"{where}: VAT rate {line.vat_percent}% is none of the known "
                                                f"rates ({known}); correct the line or add the rate's category")
    return _cents(line.net_amount)


def _rate_field(n: int, line: UblLine) -> str:
    return f"lines[{n}].{'vat_percent' if line.tax_rate_listed is None else 'tax_rate_id'}"


def _unknown_rate(n: int, line: UblLine, where: str) -> tuple[str, str]:
    """(field, reason) for a line whose VAT percentage the source does not give."""
    if line.tax_rate_listed is None:
        return _rate_field(n, line), f"{where} has no VAT rate"
    if not line.tax_rate_id:
        return _rate_field(n, line), f"{where} has no tax rate (tax_rate_id is empty): set one in the books"
    if not line.tax_rate_listed:
        return _rate_field(n, line), (f"{where}: tax rate {line.tax_rate_id!r} is not among the books' tax rates "
                                      f"(rutter/tax_rates): ingest them, or correct the line")
    return _rate_field(n, line), (f"{where}: tax rate {line.tax_rate_id!r} has no percentage (no effective_tax_rate, "
                                  f"total_tax_rate or component rates; a compound tax needs effective_tax_rate)")


def _vat_breakdown(lines: Iterable[tuple[Decimal, Decimal]], discount: Decimal) -> tuple[
        dict[Decimal, Decimal], dict[Decimal, tuple[Decimal, Decimal]]]:
    """(net, percent) per line and the header discount -> ({percent: share of the discount},
    {percent: (taxable, tax)}): the taxable amount is the rate's summed net less its share, its tax
    rounded once."""
    bases: dict[Decimal, Decimal] = {}
    for net, percent in lines:
        bases[percent] = bases.get(percent, Decimal(0)) + net
    bases = dict(sorted(bases.items()))
    shares = split_discount(discount, bases)
    taxable = {pct: base - shares.get(pct, 0) for pct, base in bases.items()}
    return shares, {pct: (amount, _cents(amount * pct / 100)) for pct, amount in taxable.items()}


def split_discount(discount: Decimal, bases: Mapping[Decimal, Decimal]) -> dict[Decimal, Decimal]:
    """A header discount in cents -> {percent: share}: pro rata by the rates' nets, each share rounded
    half-up to cents, the cents left over on the rate with the largest net (the higher rate on a tie),
    so the shares add up to the discount exactly. No discount: no shares."""
    if not discount:
        return {}
    net = sum(bases.values(), Decimal(0))
    if net == 0 or (discount < 0) != (net < 0) or abs(discount) > abs(net):
        raise RecordError("total_discount", f"a discount of {discount} on lines that add up to {net} net: a "
                                            f"discount reduces the net, so correct the discount or the lines")
    shares = {pct: _cents(discount * base / net) for pct, base in bases.items()}
    largest = max(bases, key=lambda pct: (abs(bases[pct]), pct))
    shares[largest] += discount - sum(shares.values(), Decimal(0))
    if any(share and (share < 0) != (discount < 0) for share in shares.values()):
        raise RecordError("total_discount", f"the discount of {discount} cannot be split pro rata over VAT rates "
                                            f"whose nets have opposite signs: book it per line in the source")
    return {pct: share for pct, share in shares.items() if share}


def _check_totals(invoice: SalesInvoice, net: Decimal, discount: Decimal, tax: Decimal) -> None:
    if invoice.total_net is not None and _cents(invoice.total_net) != net:
        raise RecordError("total_net", f"the lines add up to {net} net, but the invoice's net total is "
                                       f"{invoice.total_net}: correct the lines or the total in the source")
    payable = net - discount + tax
    if invoice.total_incl_vat is not None and _cents(invoice.total_incl_vat) != payable:
        less = f" - discount {discount}" if discount else ""
        raise RecordError("total_incl_vat", f"net {net}{less} + VAT {tax} (per rate, rounded half-up to cents) is "
                                            f"{payable}, but the invoice's total incl. VAT is "
                                            f"{invoice.total_incl_vat}: correct the VAT or the total in the source")


def _price(quantity: Decimal, unit_price: Decimal | None, net: Decimal) -> Decimal:
    """A non-negative price explaining the net: the source's when quantity × price is the net to the cent."""
    source = None if unit_price is None else _price_scale(abs(unit_price))
    if source is not None and _cents(quantity * source) == net:
        return source
    return _price_scale(net / quantity) if quantity else CENT * 0


def _price_scale(value: Decimal) -> Decimal:
    """At most four decimals (as ArticleList's UnitPrice), two when the cents say it all."""
    value = value.quantize(PRICE_SCALE, ROUND_HALF_UP)
    return value.quantize(CENT) if value == value.quantize(CENT) else value.normalize()


# ---------------------------------------------------------------- writing, in UBL 2.1 element order

def _el(parent: etree._Element, tag: str, text=None, **attrs) -> etree._Element:
    prefix, name = tag.split(":")
    element = etree.SubElement(parent, f"{{{NS[prefix]}}}{name}", attrs)
    try:
        element.text = None if text is None else str(text)
    except ValueError as error:  # lxml refuses control characters that XML 1.0 cannot carry
        raise RecordError(name, f"not valid in XML: {error}") from None
    return element


def _opt(parent: etree._Element, tag: str, value) -> None:
    """A child only for a present value: UBL has no empty elements."""
    if value not in (None, ""):
        _el(parent, tag, value)


def _amount(parent: etree._Element, tag: str, value: Decimal, currency: str) -> None:
    _el(parent, tag, decimal_text(value, 2), currencyID=currency)


def _document(invoice: SalesInvoice, customer: UblParty, credit: bool) -> etree._Element:
    """The root with everything before the tax total."""
    ns, kind = (CREDIT_NOTE, "CreditNote") if credit else (INVOICE, "Invoice")
    root = etree.Element(f"{{{ns}}}{kind}", nsmap={None: ns, **NS})
    for tag, value in (("cbc:CustomizationID", BIS3), ("cbc:ProfileID", PEPPOL_PROFILE), ("cbc:ID", invoice.number),
                       ("cbc:IssueDate", invoice.issue_date.isoformat())):
        _el(root, tag, value)
    if credit:
        _el(root, "cbc:CreditNoteTypeCode", "381")
    else:
        _opt(root, "cbc:DueDate", invoice.due_date and invoice.due_date.isoformat())
        _el(root, "cbc:InvoiceTypeCode", "380")
    _opt(root, "cbc:Note", invoice.note)
    _el(root, "cbc:DocumentCurrencyCode", invoice.currency)
    _opt(root, "cbc:BuyerReference", invoice.buyer_reference)
    if credit and invoice.credited_number:
        reference = _el(_el(root, "cac:BillingReference"), "cac:InvoiceDocumentReference")
        _el(reference, "cbc:ID", invoice.credited_number)
        _opt(reference, "cbc:IssueDate", invoice.credited_issue_date and invoice.credited_issue_date.isoformat())
    _party(_el(root, "cac:AccountingSupplierParty"), "supplier", invoice.supplier)
    _party(_el(root, "cac:AccountingCustomerParty"), "customer", customer)
    _payment_means(root, invoice, credit)
    return root


def _party(parent: etree._Element, role: str, party: UblParty) -> None:
    if party.country_code is not None and party.country_code not in COUNTRIES:
        raise RecordError(f"{role}.country_code", f"{party.country_code!r} is not an ISO 3166-1 alpha-2 country code")
    p = _el(parent, "cac:Party")
    if party.number:
        _el(_el(p, "cac:PartyIdentification"), "cbc:ID", party.number)
    if party.name:
        _el(_el(p, "cac:PartyName"), "cbc:Name", party.name)
    if party.street or party.city or party.postal_code or party.country_code:
        address = _el(p, "cac:PostalAddress")
        _opt(address, "cbc:StreetName", party.street)
        _opt(address, "cbc:CityName", party.city)
        _opt(address, "cbc:PostalZone", party.postal_code)
        if party.country_code:
            _el(_el(address, "cac:Country"), "cbc:IdentificationCode", party.country_code)
    if party.vat_number:
        scheme = _el(p, "cac:PartyTaxScheme")
        _el(scheme, "cbc:CompanyID", party.vat_number)
        _el(_el(scheme, "cac:TaxScheme"), "cbc:ID", "VAT")
    if party.name or party.coc_number:
        legal = _el(p, "cac:PartyLegalEntity")
        _opt(legal, "cbc:RegistrationName", party.name)
        _opt(legal, "cbc:CompanyID", party.coc_number)
    if party.email:
        _el(_el(p, "cac:Contact"), "cbc:ElectronicMail", party.email)


def _payment_means(root: etree._Element, invoice: SalesInvoice, credit: bool) -> None:
    """SEPA credit transfer to the supplier's IBAN (without one: means not defined), the invoice number as
    payment reference. A UBL 2.1 CreditNote has no DueDate: its due date goes here (as in Peppol BIS 3)."""
    means = _el(root, "cac:PaymentMeans")
    _el(means, "cbc:PaymentMeansCode", SEPA_CREDIT_TRANSFER if invoice.iban else MEANS_NOT_DEFINED)
    if credit:
        _opt(means, "cbc:PaymentDueDate", invoice.due_date and invoice.due_date.isoformat())
    _el(means, "cbc:PaymentID", invoice.number)
    if invoice.iban:
        _el(_el(means, "cac:PayeeFinancialAccount"), "cbc:ID", invoice.iban.replace(" ", "").upper())


def _tax_category(parent: etree._Element, tag: str, category: str, percent: Decimal) -> None:
    element = _el(parent, tag)
    _el(element, "cbc:ID", category)
    _el(element, "cbc:Percent", decimal_text(percent, 2))
    _el(_el(element, "cac:TaxScheme"), "cbc:ID", "VAT")


def _allowance(root: etree._Element, currency: str, amount: Decimal, category: str, percent: Decimal) -> None:
    """One rate's share of the header discount (UNCL 5189 code 95: discount)."""
    allowance = _el(root, "cac:AllowanceCharge")
    _el(allowance, "cbc:ChargeIndicator", "false")
    _el(allowance, "cbc:AllowanceChargeReasonCode", DISCOUNT_REASON_CODE)
    _el(allowance, "cbc:AllowanceChargeReason", "Discount")
    _amount(allowance, "cbc:Amount", amount, currency)
    _tax_category(allowance, "cac:TaxCategory", category, percent)


def _tax_total(root: etree._Element, currency: str, breakdown: dict[Decimal, tuple[Decimal, Decimal]],
               vat_rates: Mapping[Decimal, str]) -> None:
    total = _el(root, "cac:TaxTotal")
    _amount(total, "cbc:TaxAmount", sum((t for _, t in breakdown.values()), Decimal(0)), currency)
    for percent, (base, tax) in breakdown.items():
        subtotal = _el(total, "cac:TaxSubtotal")
        _amount(subtotal, "cbc:TaxableAmount", base, currency)
        _amount(subtotal, "cbc:TaxAmount", tax, currency)
        _tax_category(subtotal, "cac:TaxCategory", vat_rates[percent], percent)


def _monetary_total(root: etree._Element, currency: str, net: Decimal, discount: Decimal | None, tax: Decimal) -> None:
    """BR-CO-13: TaxExclusiveAmount = LineExtensionAmount - AllowanceTotalAmount; BR-CO-15: + VAT."""
    total = _el(root, "cac:LegalMonetaryTotal")
    excl = net - (discount or 0)
    for tag, value in (("cbc:LineExtensionAmount", net), ("cbc:TaxExclusiveAmount", excl),
                       ("cbc:TaxInclusiveAmount", excl + tax), ("cbc:AllowanceTotalAmount", discount),
                       ("cbc:PayableAmount", excl + tax)):
        if value is not None:
            _amount(total, tag, value, currency)


def _write_line(root: etree._Element, n: int, line: UblLine, net: Decimal, category: str, currency: str,
                credit: bool) -> None:
    """`net` is in the document's sign; the quantity takes that sign, so the price is never negative."""
    kind, quantity_tag = ("CreditNoteLine", "CreditedQuantity") if credit else ("InvoiceLine", "InvoicedQuantity")
    quantity = abs(line.quantity) if line.quantity is not None else Decimal(1)
    element = _el(root, f"cac:{kind}")
    _el(element, "cbc:ID", n)
    _el(element, f"cbc:{quantity_tag}", format((-quantity if net < 0 else quantity).normalize(), "f"), unitCode="C62")
    _amount(element, "cbc:LineExtensionAmount", net, currency)
    item = _el(element, "cac:Item")
    _opt(item, "cbc:Name", line.description)
    _tax_category(item, "cac:ClassifiedTaxCategory", category, line.vat_percent)
    _el(_el(element, "cac:Price"), "cbc:PriceAmount", format(_price(quantity, line.unit_price, abs(net)), "f"),
        currencyID=currency)
