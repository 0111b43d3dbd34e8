"""The Routty input-documents simulator: request a document per correlation id, attachments first, PUT
the bytes to pre-signed URLs, a deterministic verdict after the processing delay, cancel from Error;
per direction x flow keys; duplicates per correlation id and fail_next_documents in the admin API."""

import hashlib
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from lxml import etree

from sandbox import credentials as cred
from sandbox.server import embedded_env, tenant_env

API = "/routty/connector-api/input-api/input-documents"
MASTERDATA = "/routty/connector-api/masterdata"
OUT = {"Authorization": f"ApiKey {cred.ROUTTY_INPUT_OUTBOUND_API_KEY}"}
IN = {"Authorization": f"ApiKey {cred.ROUTTY_INPUT_INBOUND_API_KEY}"}
MASTER = {"Authorization": f"ApiKey {cred.ROUTTY_API_KEY}"}
BLOCK = {"x-ms-blob-type": "BlockBlob"}
PDF = b"%PDF-1.4\n% a tiny attachment\n%%EOF\n"
VAT = "NL123456789B01"

PARTIES = f"""<PartyList>
  <Party><Metadata><Number>C-1</Number><Name1>Klant B.V.</Name1></Metadata><Type><Name>Customer</Name></Type></Party>
  <Party><Metadata><Number>V-1</Number><Name1>Leverancier B.V.</Name1><PartyRegistrationNumbers>
    <PartyRegistrationNumber><Number>{VAT}</Number><Scheme>VAT</Scheme></PartyRegistrationNumber>
    </PartyRegistrationNumbers></Metadata><Type><Name>Supplier</Name></Type></Party>
</PartyList>"""

NS = {None: "urn:oasis:names:specification:ubl:schema:xsd:{}-2",
      "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
      "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}


def ubl(kind="Invoice", customer="C-1", supplier="V-1", supplier_vat=VAT, lines=("100.00", "20.50"),
        inclusive=None) -> bytes:
    """A minimal valid UBL 2.1 Invoice or CreditNote (21 % VAT, EUR); `inclusive` overrides its total."""
    cac, cbc = (f"{{{NS[p]}}}" for p in ("cac", "cbc"))
    root = etree.Element(f"{{{NS[None].format(kind)}}}{kind}", nsmap={**NS, None: NS[None].format(kind)})

    def add(parent, tag, text=None, **attrib):
        el = etree.SubElement(parent, (cbc if tag.startswith("_") else cac) + tag.lstrip("_"), attrib)
        el.text = text
        return el

    net = sum(Decimal(x) for x in lines)
    tax = (net * Decimal("0.21")).quantize(Decimal("0.01"))
    for tag, text in (("_CustomizationID", "urn:cen.eu:en16931:2017"), ("_ID", f"{kind[:3].upper()}-1"),
                      ("_IssueDate", "2024-05-01"), (f"_{kind}TypeCode", "380" if kind == "Invoice" else "381"),
                      ("_DocumentCurrencyCode", "EUR")):
        add(root, tag, text)
    if kind == "CreditNote":
        add(add(add(root, "BillingReference"), "InvoiceDocumentReference"), "_ID", "INV-1")
    for role, number, vat in (("Supplier", supplier, supplier_vat), ("Customer", customer, None)):
        party = add(add(root, f"Accounting{role}Party"), "Party")
        add(party, "_EndpointID", number, schemeID="0106")
        add(add(party, "PartyIdentification"), "_ID", number)
        add(add(party, "PartyName"), "_Name", f"{role} {number}")
        add(add(add(party, "PostalAddress"), "Country"), "_IdentificationCode", "NL")
        if vat:
            scheme = add(party, "PartyTaxScheme")
            add(scheme, "_CompanyID", vat)
            add(add(scheme, "TaxScheme"), "_ID", "VAT")
        add(add(party, "PartyLegalEntity"), "_RegistrationName", f"{role} {number}")

    def category(parent, name="TaxCategory"):
        cat = add(parent, name)
        add(cat, "_ID", "S")
        add(cat, "_Percent", "21")
        add(add(cat, "TaxScheme"), "_ID", "VAT")

    total = add(root, "TaxTotal")
    add(total, "_TaxAmount", str(tax), currencyID="EUR")
    sub = add(total, "TaxSubtotal")
    add(sub, "_TaxableAmount", str(net), currencyID="EUR")
    add(sub, "_TaxAmount", str(tax), currencyID="EUR")
    category(sub)
    money = add(root, "LegalMonetaryTotal")
    for tag, amount in (("LineExtensionAmount", net), ("TaxExclusiveAmount", net),
                        ("TaxInclusiveAmount", inclusive or net + tax), ("PayableAmount", net + tax)):
        add(money, f"_{tag}", str(amount), currencyID="EUR")
    for i, amount in enumerate(lines, 1):
        line = add(root, f"{kind}Line")
        add(line, "_ID", str(i))
        add(line, "_InvoicedQuantity" if kind == "Invoice" else "_CreditedQuantity", "1", unitCode="C62")
        add(line, "_LineExtensionAmount", amount, currencyID="EUR")
        item = add(line, "Item")
        add(item, "_Name", f"Item {i}")
        category(item, "ClassifiedTaxCategory")
        add(add(line, "Price"), "_PriceAmount", amount, currencyID="EUR")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def received(delta: float = -60) -> str:
    return (datetime.now(UTC) + timedelta(seconds=delta)).isoformat().replace("+00:00", "Z")


def request_doc(client, key=OUT, correlation="INV-1", **body):
    return client.post(API, json={"receivedOn": received(), **body},
                       headers={**key, "x-correlation-id": correlation})


def send(client, xml: bytes, key=OUT, correlation="INV-1") -> str:
    """Request a document, upload its XML; the document id."""
    answer = request_doc(client, key, correlation).json()
    assert client.put(answer["uploadUrl"], content=xml, headers=BLOCK).status_code == 201
    return answer["documentId"]


def status(client, document_id: str, key=OUT) -> dict:
    return client.get(f"{API}/{document_id}", headers=key).json()


def settings(sandbox, **values) -> None:
    sandbox.admin("POST", "routty/settings", json=values).raise_for_status()


@pytest.fixture(autouse=True)
def instant(sandbox):
    """No processing delays (the Processing phase is tested in the happy path); reset restores them."""
    settings(sandbox, processing_delay=0, document_processing_delay=0)


@pytest.fixture
def parties(client):
    """Customer C-1 and supplier V-1 (VAT NL123456789B01) known to Routty's masterdata."""
    status_id = client.post(MASTERDATA, content=PARTIES.encode(),
                            headers={**MASTER, "content-type": "application/xml"}).json()["statusId"]
    assert client.get(f"{MASTERDATA}/status/{status_id}", headers=MASTER).json()["status"] == "Success"


def test_outbound_invoice_with_attachment_ready_processing_success(sandbox, client, parties):
    settings(sandbox, document_processing_delay=0.5)
    created = request_doc(client, routingIdentifier="sales-nl")
    assert created.status_code == 200 and set(created.json()) == {"documentId", "uploadUrl"}
    doc_id, url = created.json()["documentId"], created.json()["uploadUrl"]
    assert url.startswith(f"{sandbox.base_url}/routty/") and "sig=" in url
    first = status(client, doc_id)
    assert first["status"] == "ReadyForUpload" and first["correlationId"] == "INV-1" and "errorCode" not in first
    attachment = client.post(f"{API}/{doc_id}/attachments", json={"fileName": "INV-1.pdf",
                                                                 "mimeType": "application/pdf"}, headers=OUT)
    assert attachment.status_code == 200 and set(attachment.json()) == {"attachmentId", "uploadUrl"}
    assert client.put(attachment.json()["uploadUrl"], content=PDF, headers=BLOCK).status_code == 201
    xml = ubl()
    assert client.put(url, content=xml, headers=BLOCK).status_code == 201
    assert status(client, doc_id)["status"] == "Processing"
    again = client.put(url, content=xml, headers=BLOCK)
    assert again.status_code == 409 and again.headers["x-ms-error-code"] == "BlobAlreadyExists"
    late = client.post(f"{API}/{doc_id}/attachments", json={"fileName": "x.pdf", "mimeType": "application/pdf"},
                       headers=OUT)
    assert late.status_code == 409 and "Processing" in late.json()["detail"]
    time.sleep(0.55)
    done = status(client, doc_id)
    assert done == {"documentId": doc_id, "correlationId": "INV-1", "status": "Success",
                    "statusChangedOn": done["statusChangedOn"]}
    admin = sandbox.admin("GET", "routty/documents").json()
    [doc] = admin["documents"]
    assert (doc["flow"], doc["status"], doc["routingIdentifier"], doc["xml"]) == \
        ("Outbound", "Success", "sales-nl", xml.decode())
    assert [(a["fileName"], a["size"], a["sha256"]) for a in doc["attachments"]] == \
        [("INV-1.pdf", len(PDF), hashlib.sha256(PDF).hexdigest())]
    assert admin["counts"] == {"Success": 1} and admin["duplicates"] == {}
    assert all("sig" not in r["query"] or r["query"]["sig"] == "***" for r in sandbox.admin("GET", "stats").json()[
        "requests"])


def test_keys_per_direction_and_flow(sandbox, client, parties):
    for key, code, said in ((MASTER, 403, "masterdata key"), ({"Authorization": f"ApiKey "
                            f"{cred.ROUTTY_OUTPUT_INBOUND_API_KEY}"}, 403, "Output Inbound"), ({}, 401, "API key")):
        refused = request_doc(client, key)
        assert refused.status_code == code and said in refused.json()["detail"]
    on_masterdata = client.get(MASTERDATA, headers=OUT)
    assert on_masterdata.status_code == 403 and "masterdata key" in on_masterdata.json()["detail"]
    inbound = send(client, ubl(supplier="X-9"), IN, "PINV-1")  # unknown Number, known VAT
    assert status(client, inbound, IN)["status"] == "Success"
    assert client.get(f"{API}/{inbound}", headers=OUT).status_code == 404  # another flow's document
    assert [d["flow"] for d in sandbox.admin("GET", "routty/documents").json()["documents"]] == ["Inbound"]
    env, tenants = embedded_env("http://127.0.0.1:1"), tenant_env("http://127.0.0.1:1")
    names = ("ROUTTY_API_KEY", "ROUTTY_INPUT_OUTBOUND_API_KEY", "ROUTTY_INPUT_INBOUND_API_KEY",
             "ROUTTY_OUTPUT_INBOUND_API_KEY")
    assert len({env[n] for n in names}) == 4 and all(tenants[f"ACME_{n}"] == env[n] for n in names)


def test_request_and_upload_url_validation(sandbox, client):
    missing = client.post(API, json={"receivedOn": received()}, headers=OUT)
    assert missing.status_code == 400 and "x-correlation-id" in missing.json()["detail"]
    assert request_doc(client, receivedOn=received(+3600)).status_code == 400
    assert request_doc(client, receivedOn="yesterday").status_code == 400
    url = request_doc(client).json()["uploadUrl"]
    no_blob_type = client.put(url, content=ubl())
    assert no_blob_type.status_code == 400 and no_blob_type.headers["x-ms-error-code"] == "MissingRequiredHeader"
    assert client.put(url.replace("sig=", "sig=x"), content=ubl(), headers=BLOCK).status_code == 403
    assert client.put(url.split("?")[0], content=ubl(), headers=BLOCK).status_code == 403
    settings(sandbox, upload_url_ttl=0)
    expired = client.put(request_doc(client).json()["uploadUrl"], content=ubl(), headers=BLOCK)
    assert expired.status_code == 403 and expired.headers["x-ms-error-code"] == "AuthenticationFailed"
    assert b"expired" in expired.content
    assert sandbox.admin("GET", "routty/documents").json()["counts"] == {"ReadyForUpload": 2}


@pytest.mark.parametrize(("key", "xml", "verdict", "code"), [
    (OUT, ubl(customer="C-404"), "Error", "BusinessPartnerNotFound"),
    (OUT, ubl(inclusive=Decimal("146.81")), "Rejected", "TotalsMismatch"),
    (OUT, ubl(lines=("100.00",)).replace(b'LineExtensionAmount currencyID="EUR">100', b'LineExtensionAmount '
                                         b'currencyID="EUR">99', 1), "Rejected", "TotalsMismatch"),  # the total
    (OUT, ubl("CreditNote"), "Success", None),
    (OUT, b"<Invoice><ID>1</ID></Invoice>", "Error", "DocumentMetadataNotFound"),
    (OUT, b"<Invoice", "Error", "MalformedDocument"),
    (IN, ubl(), "Success", None),
    (IN, ubl(supplier="X-9", supplier_vat="DE999999999"), "Error", "BusinessPartnerNotFoundForEnrichment"),
])
def test_verdicts(client, parties, key, xml, verdict, code):
    answer = status(client, send(client, xml, key), key)
    assert (answer["status"], answer.get("errorCode")) == (verdict, code), answer
    assert code is None or answer["errorMessage"]


def test_cancel_only_from_error(client, parties):
    failed = send(client, ubl(customer="C-404"))
    cancelled = client.post(f"{API}/{failed}/cancel", headers=OUT)
    assert cancelled.status_code == 200 and cancelled.json() == {"documentId": failed, "status": "Cancelled"}
    assert status(client, failed)["status"] == "Cancelled"
    succeeded = send(client, ubl(), correlation="INV-2")
    refused = client.post(f"{API}/{succeeded}/cancel", headers=OUT)
    assert refused.status_code == 409 and "Success" in refused.json()["detail"]
    assert client.post(f"{API}/{failed}/cancel", headers=OUT).status_code == 409


def test_duplicates_fail_next_and_faults(sandbox, client, parties):
    settings(sandbox, fail_next_documents=1)
    first, second = send(client, ubl(), correlation="INV-7"), send(client, ubl(), correlation="INV-7")
    request_doc(client, correlation="INV-8")
    assert status(client, first)["errorCode"] == "SimulatedFailure"
    assert status(client, second)["status"] == "Success"
    admin = sandbox.admin("GET", "routty/documents").json()
    assert admin["duplicates"] == {"INV-7": 2}
    assert admin["counts"] == {"Error": 1, "Success": 1, "ReadyForUpload": 1}
    url = request_doc(client, correlation="INV-9").json()["uploadUrl"]
    sandbox.admin("POST", "faults", json={"unavailable_burst": 2, "systems": ["routty"]}).raise_for_status()
    assert request_doc(client, correlation="INV-10").status_code == 503
    assert client.put(url, content=ubl(), headers=BLOCK).status_code == 503
    assert client.put(url, content=ubl(), headers=BLOCK).status_code == 201


def test_fault_switches_refuse_a_documents_uploads_for_good_and_lose_answers(sandbox, client):
    sandbox.admin("POST", "faults", json={"refuse_uploads": ["INV-R"]}).raise_for_status()
    for _ in range(2):  # a fresh URL does not help
        refused = client.put(request_doc(client, correlation="INV-R").json()["uploadUrl"], content=ubl(), headers=BLOCK)
        assert refused.status_code == 403 and refused.headers["x-ms-error-code"] == "AuthorizationFailure"
    other = request_doc(client, correlation="INV-S").json()["uploadUrl"]
    assert client.put(other, content=ubl(), headers=BLOCK).status_code == 201
    sandbox.admin("POST", "faults", json={"lost_response_burst": 1, "systems": ["routty"]}).raise_for_status()
    assert request_doc(client, correlation="INV-L").status_code == 502
    made = [d["status"] for d in sandbox.admin("GET", "routty/documents").json()["documents"]
            if d["correlationId"] == "INV-L"]
    assert made == ["ReadyForUpload"]  # processed all the same: only the answer was lost
    assert sandbox.admin("POST", "faults", json={"refuse_uploads": "INV-R"}).status_code == 400
