"""The Routty output-documents simulator: a queue per tenant (by Output key) of RouttyExportDocuments,
pre-signed expiring downloads, acknowledgement (at-least-once until then), feedback validated against the
feedback XSD and every one kept; exports made from Success inbound documents (the default) or from the
dataset (admin), valid against the export XSD except the deliberately malformed one."""

from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from sandbox import credentials as cred
from tests.sandbox import routty_auth
from tests.sandbox.test_routty_documents import IN, MASTER, MASTERDATA, send, ubl
from tests.sandbox.test_tenants import truth

API = "/routty/connector-api/output-api/output-documents"
ACME = {"Authorization": f"ApiKey {cred.ROUTTY_OUTPUT_INBOUND_API_KEY}"}
GLOBEX = routty_auth("globex", "ROUTTY_OUTPUT_INBOUND_API_KEY")
ROOT = Path(__file__).resolve().parents[2]
EXPORT_XSD = etree.XMLSchema(etree.parse(str(ROOT / "resources/contracts/xsd/RouttyExportDocument.xsd")))
FEEDBACK_XSD = etree.XMLSchema(etree.parse(str(ROOT / "resources/contracts/xsd/RouttyFeedbackDocuments.xsd")))
FEEDBACK = (ROOT / "tests/fixtures/routty_feedback.xml").read_bytes()
XML = {"content-type": "application/xml"}


@pytest.fixture(autouse=True)
def instant(sandbox):
    sandbox.admin("POST", "routty/settings", json={"processing_delay": 0, "document_processing_delay": 0})


def generate(sandbox, tenant="acme", **params) -> list[dict]:
    made = sandbox.admin("POST", "routty/exports/generate", params={"tenant": tenant, **params})
    assert made.status_code == 200, made.text
    return made.json()["created"]


def waiting(client, key=ACME, **params) -> dict:
    page = client.get(API, params=params, headers=key)
    assert page.status_code == 200, page.text
    return page.json()


def download(client, item) -> etree._Element:
    got = client.get(item["downloadUrl"])  # no key: the URL is pre-signed
    assert got.status_code == 200 and got.headers["content-type"].startswith("application/xml")
    return etree.fromstring(got.content)


def feedback_for(root, status="Booked", booking="VB-1", guid=None) -> bytes:
    fb = etree.fromstring(FEEDBACK)
    doc = fb.find("RouttyFeedbackDocument")
    doc.find("Status").text, doc.find("FeedbackAccounting/BookingNumber").text = status, booking
    doc.find("DocumentGuid").text = guid or root.findtext("MetaData/Guid")
    doc.find("DocumentSetId").text = root.findtext("MetaData/DocumentSetId")
    return etree.tostring(fb, xml_declaration=True, encoding="utf-8")


def total(root, path: str) -> Decimal:
    return sum((Decimal(t) for t in root.xpath(f"{path}/text()")), Decimal(0))


# ---------------------------------------------------------------- fixtures of the XSDs

def test_fixtures_are_valid_and_the_xsds_reject_the_seed_typos():
    full = etree.parse(str(ROOT / "tests/fixtures/routty_export_full.xml")).getroot()
    assert EXPORT_XSD.validate(full), EXPORT_XSD.error_log
    assert FEEDBACK_XSD.validate(etree.fromstring(FEEDBACK)), FEEDBACK_XSD.error_log
    sections = ("PurchaseInvoiceLines", "PurchaseInvoiceCodingLines", "PurchaseInvoiceIntrastatLines",
                "PurchaseInvoicePaymentScheduleLines", "MatchingExceptions", "MatchedPurchaseOrders",
                "MatchedGoodsReceipts")
    assert all(len(full.find(f"PurchaseInvoice/{s}")) for s in sections) and len(full.find("Attachments"))
    full.find("PurchaseInvoice/PurchaseInvoiceIntrastatLines/PurchaseInvoiceIntrastatLine/CommodityCode").text = "3.4"
    assert not EXPORT_XSD.validate(full)  # the seed's example writes 3.4 for an integer
    fb = etree.fromstring(FEEDBACK)
    fb.find("RouttyFeedbackDocument/FeedbackAccounting/BookingDate").text = "2019-12-31T22:22:22"
    assert not FEEDBACK_XSD.validate(fb)  # the table says date, the example a date-time
    fb = etree.fromstring(FEEDBACK)
    fb.find("RouttyFeedbackDocument").remove(fb.find("RouttyFeedbackDocument/DocumentSetId"))
    assert not FEEDBACK_XSD.validate(fb)  # both DocumentGuid and DocumentSetId are required


# ---------------------------------------------------------------- generated from the dataset

def test_generated_queues_hold_valid_exports_one_malformed_one_exception_one_stranger(sandbox, client):
    assert waiting(client)["totalCount"] == 0  # nothing uploaded: nothing processed
    made = generate(sandbox)
    assert generate(sandbox) == [] and len(generate(sandbox, "globex")) >= 4  # once per invoice and tenant
    page = waiting(client, pageSize=500)
    assert page["totalCount"] == len(made) == len(page["items"]) and page["pageNumber"] == 1
    assert {frozenset(i) for i in page["items"]} == {frozenset({"documentId", "correlationId", "documentType",
                                                                "createdOn", "downloadUrl"})}
    globex = {i["documentId"] for i in waiting(client, GLOBEX, pageSize=500)["items"]}
    assert globex and not globex & {i["documentId"] for i in page["items"]}
    vendors = {v["id"] for v in truth(sandbox, "rutter", "vendors")}
    accounts = truth(sandbox, "rutter", "accounts")
    gl_values = {a.get("nominal_code") or a["id"] for a in accounts}
    roots = [download(client, i) for i in page["items"]]
    valid = [r for r in roots if EXPORT_XSD.validate(r)]
    [malformed] = [r for r in roots if not EXPORT_XSD.validate(r)]
    assert not EXPORT_XSD.validate(malformed)
    errors = " ".join(e.message for e in EXPORT_XSD.error_log)
    assert "DocumentDate" in errors and "TotalGrossAmount" in errors and malformed.findtext("MetaData/Guid")
    guids = [r.findtext("MetaData/Guid") for r in roots]
    assert len(set(guids)) == len(guids) == len({r.findtext("MetaData/DocumentSetId") for r in roots})
    suppliers = [r.findtext("PurchaseInvoice/PurchaseInvoiceHeader/Supplier/Number") for r in valid]
    assert len([s for s in suppliers if s not in vendors]) == 1  # the stranger; every other one resolves
    [exception] = [r for r in valid if r.find("PurchaseInvoice/MatchingExceptions") is not None]
    assert exception.findtext("PurchaseInvoice/MatchingExceptions/MatchingException/ExceptionCode") == \
        "PriceDifference"
    assert exception.find("PurchaseInvoice/MatchedPurchaseOrders/PurchaseOrder/PurchaseOrderLines") is not None
    for root in valid:
        header = root.find("PurchaseInvoice/PurchaseInvoiceHeader")
        coding = "PurchaseInvoice/PurchaseInvoiceCodingLines/PurchaseInvoiceCodingLine"
        assert total(root, f"{coding}/DebitAmount") == Decimal(header.findtext("TotalNetAmount"))
        assert total(root, f"{coding}/VatAmount") == Decimal(header.findtext("TotalVatAmount"))
        assert set(root.xpath(f"{coding}/GlAccount/text()")) <= gl_values
    assert len({r.findtext("PurchaseInvoice/PurchaseInvoiceHeader/Buyer/Number") for r in roots}) == 1  # acme


def test_pickup_is_at_least_once_until_acknowledged(sandbox, client):
    generate(sandbox, limit=3)
    first = waiting(client)
    ids = [i["documentId"] for i in first["items"]]
    assert waiting(client)["items"][0]["documentId"] == ids[0]  # offered again: not acknowledged yet
    assert [i["documentId"] for i in waiting(client, pageNumber=2, pageSize=2)["items"]] == ids[2:4]
    assert client.get(API, params={"pageSize": 0}, headers=ACME).status_code == 400
    acked = client.post(f"{API}/{ids[0]}/acknowledge", headers=ACME)
    assert acked.status_code == 200 and acked.json()["documentId"] == ids[0]
    again = client.post(f"{API}/{ids[0]}/acknowledge", headers=ACME)
    assert again.status_code == 200 and again.json() == acked.json()  # idempotent
    after = waiting(client)
    assert after["totalCount"] == first["totalCount"] - 1 and ids[0] not in {i["documentId"] for i in after["items"]}
    assert client.post(f"{API}/{ids[1]}/acknowledge", headers=GLOBEX).status_code == 404  # another tenant's
    assert client.post(f"{API}/nope/acknowledge", headers=ACME).status_code == 404
    admin = sandbox.admin("GET", "routty/exports", params={"tenant": "acme"}).json()
    [done] = admin["acknowledged"]
    assert (done["documentId"], done["acknowledgements"]) == (ids[0], 2) and len(admin["queue"]) == len(ids) - 1


def test_download_url_is_signed_and_expires(sandbox, client):
    generate(sandbox, limit=1)
    item = waiting(client)["items"][0]
    url = item["downloadUrl"]
    assert url.startswith(f"{sandbox.base_url}/routty/export/{item['documentId']}?") and "sp=r" in url
    for bad in (url.replace("sig=", "sig=x"), url.split("?")[0]):
        refused = client.get(bad)
        assert refused.status_code == 403 and refused.headers["x-ms-error-code"] == "AuthenticationFailed"
    assert download(client, item).tag == "RouttyExportDocument"
    sandbox.admin("POST", "routty/exports/settings", json={"download_url_ttl": 0}).raise_for_status()
    expired = client.get(waiting(client)["items"][0]["downloadUrl"])
    assert expired.status_code == 403 and b"expired" in expired.content
    [shown] = [e for e in sandbox.admin("GET", "routty/exports").json()["queue"] if e["documentId"] == item["documentId"]]
    assert shown["downloads"] == 1


def test_keys_per_direction(client):
    for key, code, said in (({"Authorization": f"ApiKey {cred.ROUTTY_API_KEY}"}, 403, "masterdata key"),
                            (IN, 403, "Input Inbound"), ({}, 401, "API key")):
        refused = client.get(API, headers=key)
        assert refused.status_code == code and said in refused.json()["detail"]


# ---------------------------------------------------------------- feedback

def test_feedback_is_validated_and_every_one_kept(sandbox, client):
    generate(sandbox, limit=2)
    items = waiting(client)["items"]
    root, other = download(client, items[0]), download(client, items[1])
    url = f"{API}/{items[0]['documentId']}/feedback"
    received = client.post(url, content=feedback_for(root, "Received", booking=""), headers={**ACME, **XML})
    assert received.status_code == 200 and received.json() == {"documentId": items[0]["documentId"],
                                                                "received": 1, "feedbackCount": 1}
    for _ in range(2):  # a retry repeats the business feedback
        assert client.post(url, content=feedback_for(root), headers={**ACME, **XML}).status_code == 200
    invalid = feedback_for(root).replace(b"<BookingDate>2024-05-06</BookingDate>",
                                         b"<BookingDate>2019-12-31T22:22:22</BookingDate>")
    for body, headers, code, said in (
            (invalid, XML, 400, "BookingDate"), (b"<RouttyFeedbackDocuments>", XML, 400, "well-formed"),
            (feedback_for(root, guid=other.findtext("MetaData/Guid")), XML, 400, "names DocumentGuid"),
            (feedback_for(root), {"content-type": "application/json"}, 415, "XML")):
        refused = client.post(url, content=body, headers={**ACME, **headers})
        assert refused.status_code == code and said in refused.json()["detail"], refused.text
    assert client.post(f"{API}/{items[0]['documentId']}/feedback", content=feedback_for(root),
                       headers={**GLOBEX, **XML}).status_code == 404
    admin = sandbox.admin("GET", "routty/exports", params={"tenant": "acme"}).json()
    kept = admin["feedback"][items[0]["documentId"]]
    assert [(f["status"], f["bookingNumber"], f["duplicate"]) for f in kept] == \
        [("Received", None, False), ("Booked", "VB-1", False), ("Booked", "VB-1", True)]
    assert admin["feedback_counts"] == {items[0]["documentId"]: 3}
    assert admin["duplicate_feedback"] == {items[0]["documentId"]: 1}
    assert kept[1]["documentSetId"] == int(root.findtext("MetaData/DocumentSetId"))


# ---------------------------------------------------------------- the default: Success inbound documents

def masterdata(client, xml: str) -> None:
    status_id = client.post(MASTERDATA, content=xml.encode(), headers={**MASTER, **XML}).json()["statusId"]
    assert client.get(f"{MASTERDATA}/status/{status_id}", headers=MASTER).json()["status"] == "Success"


def with_order_reference(xml: bytes, reference: str) -> bytes:
    root = etree.fromstring(xml)
    cac, cbc = (root.nsmap[p] for p in ("cac", "cbc"))
    order = etree.Element(f"{{{cac}}}OrderReference")
    etree.SubElement(order, f"{{{cbc}}}ID").text = reference
    root.find(f"{{{cbc}}}DocumentCurrencyCode").addnext(order)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_success_inbound_documents_become_matched_and_coded_exports(sandbox, client):
    vendor = next(v for v in truth(sandbox, "rutter", "vendors") if v.get("tax_number"))
    vat = "".join(ch for ch in vendor["tax_number"].upper() if ch.isalnum())
    masterdata(client, f"""<PartyList><Party><Metadata><Number>{vendor['id']}</Number><Name1>Leverancier</Name1>
        <PartyRegistrationNumbers><PartyRegistrationNumber><Number>{vat}</Number><Scheme>VAT</Scheme>
        </PartyRegistrationNumber></PartyRegistrationNumbers></Metadata><Type><Name>Supplier</Name></Type></Party>
        </PartyList>""")
    masterdata(client, f"""<PurchaseOrderMasterDataList><PurchaseOrderMasterData><PurchaseOrderHeader>
        <DocumentReference>PO-T-1</DocumentReference><DocumentDate>2024-04-01</DocumentDate>
        <DocumentType>PurchaseOrder</DocumentType><TotalNetAmount>120.00</TotalNetAmount>
        <TotalVatAmount>0</TotalVatAmount><TotalGrossAmount>120.00</TotalGrossAmount>
        <TotalDiscountAmount>0</TotalDiscountAmount><SupplierNumber>{vendor['id']}</SupplierNumber>
        <BuyerNumber>C-1</BuyerNumber></PurchaseOrderHeader><PurchaseOrderLines>
        <PurchaseOrderLine><LineID>1</LineID><ExtraReference>A</ExtraReference>
          <ArticleDescription>Item 1</ArticleDescription><LineAmount>100.00</LineAmount><GLAccount>4300</GLAccount>
        </PurchaseOrderLine><PurchaseOrderLine><LineID>2</LineID><ExtraReference>B</ExtraReference>
          <ArticleDescription>Item 2</ArticleDescription><LineAmount>20.00</LineAmount><GLAccount>4600</GLAccount>
        </PurchaseOrderLine>
        </PurchaseOrderLines></PurchaseOrderMasterData></PurchaseOrderMasterDataList>""")
    xml = with_order_reference(ubl(supplier=vendor["id"], supplier_vat=vat), "PO-T-1")
    send(client, xml, IN, "PINV-1")
    send(client, ubl(), IN, "PINV-2")  # supplier V-1: no party, so Routty rejects it and exports nothing
    items = waiting(client)["items"]
    assert [i["correlationId"] for i in items][:1] == ["PINV-1"] and len(items) == 4  # + the three specials
    assert waiting(client)["totalCount"] == 4 and waiting(client, GLOBEX)["totalCount"] == 0  # made once
    root = download(client, items[0])
    assert EXPORT_XSD.validate(root), EXPORT_XSD.error_log
    pi = root.find("PurchaseInvoice")
    assert pi.findtext("PurchaseInvoiceHeader/Supplier/Number") == vendor["id"]
    assert pi.findtext("PurchaseInvoiceHeader/ExternalReference1") == "PINV-1"
    assert [ln.findtext("OrderLineId") for ln in pi.iterfind("PurchaseInvoiceLines/PurchaseInvoiceLine")] == ["1", "2"]
    assert pi.xpath("PurchaseInvoiceCodingLines/PurchaseInvoiceCodingLine/GlAccount/text()") == ["4300", "4600"]
    [exception] = pi.iterfind("MatchingExceptions/MatchingException")
    assert exception.findtext("ExceptionCode") == "PriceDifference"
    assert exception.findtext("LineId") == pi.findtext("PurchaseInvoiceLines/PurchaseInvoiceLine[2]/Id")
    assert pi.findtext("MatchedPurchaseOrders/PurchaseOrder/PurchaseOrderHeader/DocumentReference") == "PO-T-1"
    assert root.findtext("Attachments/Attachment/Type") == "Original"
    sandbox.admin("POST", "routty/exports/settings", json={"from_documents": False}).raise_for_status()
    send(client, ubl(supplier=vendor["id"], supplier_vat=vat).replace(b"INV-1", b"INV-9"), IN, "PINV-3")
    assert waiting(client)["totalCount"] == 4
