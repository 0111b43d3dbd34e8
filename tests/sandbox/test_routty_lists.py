"""The Routty simulator checks every masterdata list type with its own field rules, keeps what succeeded
per list type (GET /_sandbox/routty/store), deletes each type, and refuses uploads over its size limit."""

import time

import pytest

from sandbox import credentials as cred

ROUTTY = {"Authorization": f"ApiKey {cred.ROUTTY_API_KEY}", "content-type": "application/xml"}
UPLOAD = "/routty/connector-api/masterdata"

PARTIES = """<PartyList>
  <Party><Metadata><Number>V-1</Number><Name1>Acme B.V.</Name1>
    <PartyBankAccounts><PartyBankAccount><AccountNumber>417164300</AccountNumber><IBAN>NL91ABNA0417164300</IBAN>
    </PartyBankAccount></PartyBankAccounts></Metadata>
    <Type><Name>Supplier</Name></Type></Party>
  <Party><Metadata><Number>V-2</Number><Name1>Zweite GmbH</Name1></Metadata><Type><Name>Supplier</Name></Type></Party>
</PartyList>"""

BANK_ACCOUNTS = """<PartyBankAccountList>
  <Party><Metadata><Number>V-2</Number><Name1>Zweite GmbH</Name1>
    <PartyBankAccounts><PartyBankAccount>
      <AccountNumber>0532013000</AccountNumber><IBAN>DE89370400440532013000</IBAN><BIC>COBADEFFXXX</BIC>
      <Currency>EUR</Currency>
    </PartyBankAccount></PartyBankAccounts></Metadata>
    <Type><Name>Supplier</Name></Type></Party>
</PartyBankAccountList>"""

PURCHASE_ORDERS = """<PurchaseOrderMasterDataList>
  <PurchaseOrderMasterData>
    <PurchaseOrderHeader>
      <DocumentReference>PO-1</DocumentReference><DocumentDate>2024-03-01</DocumentDate>
      <DocumentType>Order</DocumentType><TotalNetAmount>100.00</TotalNetAmount><TotalVatAmount>21</TotalVatAmount>
      <TotalGrossAmount>121.00</TotalGrossAmount><TotalDiscountAmount>0</TotalDiscountAmount>
      <SupplierNumber>V-1</SupplierNumber><BuyerNumber>C-1</BuyerNumber><StartDate>2024-03-01</StartDate>
    </PurchaseOrderHeader>
    <PurchaseOrderLines>
      <PurchaseOrderLine><LineID>10</LineID><ExtraReference>X</ExtraReference><Quantity>3.4</Quantity>
        <Price>11.123456</Price><DiscountRate>20.0000</DiscountRate><GLAccount>4000</GLAccount>
        <MatchType>0</MatchType></PurchaseOrderLine>
      <PurchaseOrderLine><LineId>20</LineId><ExtraReference>Y</ExtraReference><GlAccount>4010</GlAccount>
      </PurchaseOrderLine>
    </PurchaseOrderLines>
  </PurchaseOrderMasterData>
</PurchaseOrderMasterDataList>"""

GOODS_RECEIPTS = """<GoodsReceiptMasterDataList>
  <GoodsReceiptMasterData>
    <GoodsReceiptHeader><DocumentReference>GR-1</DocumentReference><DocumentDate>2024-03-05</DocumentDate>
      <SupplierNumber>V-1</SupplierNumber><BuyerNumber>C-1</BuyerNumber></GoodsReceiptHeader>
    <GoodsReceiptLines><GoodsReceiptLine><LineID>1</LineID><AcceptedQuantity>3.4</AcceptedQuantity>
    </GoodsReceiptLine></GoodsReceiptLines>
  </GoodsReceiptMasterData>
</GoodsReceiptMasterDataList>"""

ACCOUNTING = """<AccountingMasterDataList>
  <AccountingMasterData type="GLAccount"><Value>4000</Value><Description>Purchases</Description>
    <Field10>f10</Field10></AccountingMasterData>
  <AccountingMasterData type="CostCenter"><Value>CC-1</Value></AccountingMasterData>
</AccountingMasterDataList>"""

ARTICLES = """<ArticleList>
  <Article><CorporateGroupID>CG-1</CorporateGroupID><Number>A-1</Number><GTIN>08712345678906</GTIN>
    <UnitPrice>0.1234</UnitPrice></Article>
  <Article><Number>A-2</Number></Article>
</ArticleList>"""


def post(client, body: str | bytes, **headers):
    content = body.encode() if isinstance(body, str) else body
    return client.post(UPLOAD, content=content, headers={**ROUTTY, **headers})


def upload_and_wait(client, body: str) -> dict:
    status_id = post(client, body).json()["statusId"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status = client.get(f"{UPLOAD}/status/{status_id}", headers=ROUTTY).json()
        if status["status"] != "Pending":
            return status
        time.sleep(0.05)
    raise AssertionError("upload stayed Pending")


def store(sandbox) -> dict:
    return sandbox.admin("GET", "routty/store").json()


@pytest.fixture(autouse=True)
def instant(sandbox):
    """No processing delay here (the Pending phase is tested in test_sandbox.py); reset restores it."""
    sandbox.admin("POST", "routty/settings", json={"processing_delay": 0}).raise_for_status()


@pytest.fixture
def loaded(sandbox, client):
    """Every list type uploaded (parties first: bank accounts need a known party)."""
    for body in (PARTIES, BANK_ACCOUNTS, PURCHASE_ORDERS, GOODS_RECEIPTS, ACCOUNTING, ARTICLES):
        status = upload_and_wait(client, body)
        assert status["status"] == "Success", status
    return store(sandbox)


def test_every_list_type_succeeds_and_lands_in_the_store(sandbox, loaded):
    assert set(loaded) == {"parties", "bank_accounts", "purchase_orders", "goods_receipts", "accounting", "articles"}
    assert loaded["parties"]["V-1"]["Metadata"]["Name1"] == "Acme B.V."
    assert loaded["parties"]["V-2"]["Type"] == {"Name": "Supplier"}
    # the PartyList's own bank account and the one of the PartyBankAccountList, each under its party
    assert loaded["bank_accounts"]["V-1"]["NL91ABNA0417164300"]["AccountNumber"] == "417164300"
    assert loaded["bank_accounts"]["V-2"]["DE89370400440532013000"] == {
        "AccountNumber": "0532013000", "IBAN": "DE89370400440532013000", "BIC": "COBADEFFXXX", "Currency": "EUR"}
    order = loaded["purchase_orders"]["PO-1"]
    assert order["PurchaseOrderHeader"]["TotalGrossAmount"] == "121.00"
    lines = order["PurchaseOrderLines"]["PurchaseOrderLine"]
    # the seed example's spellings LineId / GlAccount are accepted and stored under the tables' names
    assert [(line["LineID"], line["GLAccount"]) for line in lines] == [("10", "4000"), ("20", "4010")]
    assert loaded["goods_receipts"]["GR-1"]["GoodsReceiptLines"]["GoodsReceiptLine"][0]["AcceptedQuantity"] == "3.4"
    assert loaded["accounting"]["GLAccount:4000"] == {"type": "GLAccount", "Value": "4000",
                                                      "Description": "Purchases", "Field10": "f10"}
    assert set(loaded["accounting"]) == {"GLAccount:4000", "CostCenter:CC-1"}
    assert loaded["articles"]["A-1"]["UnitPrice"] == "0.1234" and set(loaded["articles"]) == {"A-1", "A-2"}
    partners = {p["number"]: p for p in sandbox.admin("GET", "routty/partners").json()["partners"]}
    assert partners["V-2"]["ibans"] == ["DE89370400440532013000"]
    roots = [u["root"] for u in sandbox.admin("GET", "routty/masterdata").json()["uploads"]]
    assert roots == ["PartyList", "PartyBankAccountList", "PurchaseOrderMasterDataList",
                     "GoodsReceiptMasterDataList", "AccountingMasterDataList", "ArticleList"]


# (valid document, text to replace, replacement, error code, words the message must hold: record and field)
BREAKS = [
    (BANK_ACCOUNTS, "<BIC>COBADEFFXXX<", "<BIC>COBADEFF1<", "InvalidBic", ["'V-2'", "BIC"]),
    (BANK_ACCOUNTS, "<Currency>EUR<", "<Currency>euro<", "MaxLengthExceeded", ["'V-2'", "Currency"]),
    (BANK_ACCOUNTS, "<AccountNumber>0532013000</AccountNumber>", "", "RequiredFieldMissing",
     ["'V-2'", "PartyBankAccount[1]/AccountNumber"]),
    (PURCHASE_ORDERS, "<TotalNetAmount>100.00<", "<TotalNetAmount>3,4<", "InvalidDecimal",
     ["'PO-1'", "PurchaseOrderHeader/TotalNetAmount"]),
    (PURCHASE_ORDERS, "<TotalVatAmount>21<", "<TotalVatAmount>21.005<", "DecimalScaleExceeded",
     ["'PO-1'", "TotalVatAmount"]),
    (PURCHASE_ORDERS, "<Price>11.123456<", "<Price>11.1234567<", "DecimalScaleExceeded",
     ["'PO-1'", "PurchaseOrderLine[1]/Price"]),
    (PURCHASE_ORDERS, "<DiscountRate>20.0000<", "<DiscountRate>100<", "DecimalPrecisionExceeded",
     ["'PO-1'", "DiscountRate"]),
    (PURCHASE_ORDERS, "<DocumentDate>2024-03-01<", "<DocumentDate>2019-12-31T22:22:22<", "InvalidDate",
     ["'PO-1'", "DocumentDate"]),
    (PURCHASE_ORDERS, "<StartDate>2024-03-01<", "<StartDate>2024-02-30<", "InvalidDate", ["'PO-1'", "StartDate"]),
    (PURCHASE_ORDERS, "<MatchType>0<", "<MatchType>zero<", "InvalidInteger", ["'PO-1'", "MatchType"]),
    (PURCHASE_ORDERS, "<SupplierNumber>V-1</SupplierNumber>", "", "RequiredFieldMissing",
     ["'PO-1'", "PurchaseOrderHeader/SupplierNumber"]),
    (PURCHASE_ORDERS, "<ExtraReference>Y</ExtraReference>", "", "RequiredFieldMissing",
     ["'PO-1'", "PurchaseOrderLine[2]/ExtraReference"]),
    (PURCHASE_ORDERS, "<LineId>20</LineId>", "<LineId>10</LineId>", "DuplicateLineId", ["'PO-1'", "LineID", "'10'"]),
    (PURCHASE_ORDERS, "<DocumentType>Order<", "<DocumentType>" + "O" * 65 + "<", "MaxLengthExceeded",
     ["'PO-1'", "DocumentType", "65"]),
    (PURCHASE_ORDERS.replace("</PurchaseOrderMasterDataList>", PURCHASE_ORDERS.split(">", 1)[1]),
     "", "", "DuplicateDocumentReference", ["'PO-1'"]),
    (GOODS_RECEIPTS, "<AcceptedQuantity>3.4<", "<AcceptedQuantity>3,4<", "InvalidDecimal",
     ["'GR-1'", "AcceptedQuantity"]),
    (ACCOUNTING, ' type="CostCenter"', "", "RequiredFieldMissing", ["AccountingMasterData #2", "type"]),
    (ACCOUNTING, "<Value>4000<", "<Value>" + "4" * 51 + "<", "MaxLengthExceeded", ["AccountingMasterData", "Value"]),
    (ACCOUNTING, "<Field10>f10</Field10>", "<Field11>f11</Field11>", "UnknownElement",
     ["'GLAccount:4000'", "Field11"]),
    (ARTICLES, "<Number>A-2<", "<Number>" + "A" * 33 + "<", "MaxLengthExceeded", ["Article", "Number", "32"]),
    (ARTICLES, "<UnitPrice>0.1234<", "<UnitPrice>0.12345<", "DecimalScaleExceeded", ["'A-1'", "UnitPrice"]),
    (ARTICLES, "<Number>A-2<", "<Number>A-1<", "DuplicateArticle", ["'A-1'"]),
]


@pytest.mark.parametrize("body, old, new, code, words", BREAKS,
                         ids=[f"{b.split('>', 1)[0][1:]}-{c}-{i}" for i, (b, _, _, c, _) in enumerate(BREAKS)])
def test_a_rule_break_fails_naming_record_and_field(client, body, old, new, code, words):
    upload_and_wait(client, PARTIES)  # the bank account list needs its parties
    assert body.count(old) >= 1
    status = upload_and_wait(client, body.replace(old, new, 1))
    assert status["status"] == "Failed"
    assert any(e["code"] == code and all(w in e["message"] for w in words) and e["line"]
               for e in status["errors"]), status["errors"]


def test_a_failed_upload_changes_nothing_in_the_store(sandbox, client):
    status = upload_and_wait(client, ARTICLES.replace("<UnitPrice>0.1234<", "<UnitPrice>x<"))
    assert status["errors"][0]["code"] == "InvalidDecimal"
    assert store(sandbox)["articles"] == {}


@pytest.mark.parametrize("root", ["PartyList", "PartyBankAccountList"])
def test_bad_iban_checksum_is_invalid_iban(sandbox, client, root):
    upload_and_wait(client, PARTIES)
    body = (PARTIES if root == "PartyList" else BANK_ACCOUNTS).replace("NL91ABNA0417164300", "NL92ABNA0417164300")
    body = body.replace("DE89370400440532013000", "DE88370400440532013000")
    status = upload_and_wait(client, body)
    assert status["status"] == "Failed"
    assert any(e["code"] == "InvalidIban" and "checksum" in e["message"] and "IBAN" in e["message"]
               for e in status["errors"]), status
    assert upload_and_wait(client, BANK_ACCOUNTS.replace("DE89370400440532013000", "DE89 3704 0044 0532 0130 00"))[
        "errors"][0]["code"] == "InvalidIban"


def test_bank_accounts_need_a_known_party(client):
    status = upload_and_wait(client, BANK_ACCOUNTS)
    assert status["status"] == "Failed" and status["errors"][0]["code"] == "UnknownParty"
    assert "'V-2'" in status["errors"][0]["message"]


def test_a_party_may_come_once_per_bank_account(sandbox, client):
    upload_and_wait(client, PARTIES)
    second = BANK_ACCOUNTS.replace("</PartyBankAccountList>", BANK_ACCOUNTS.split(">", 1)[1]).replace(
        "DE89370400440532013000", "GB82WEST12345698765432", 1)
    assert upload_and_wait(client, second)["status"] == "Success"
    assert set(store(sandbox)["bank_accounts"]["V-2"]) == {"GB82WEST12345698765432", "DE89370400440532013000"}


def test_an_iban_given_twice_in_a_list_fails(client):
    twice = PARTIES.replace("<Name1>Zweite GmbH</Name1>", "<Name1>Zweite GmbH</Name1><PartyBankAccounts>"
                            "<PartyBankAccount><AccountNumber>1</AccountNumber><IBAN>NL91ABNA0417164300</IBAN>"
                            "</PartyBankAccount></PartyBankAccounts>")
    errors = upload_and_wait(client, twice)["errors"]
    assert [e["code"] for e in errors] == ["DuplicateIban"] and "'V-2'" in errors[0]["message"]


def test_upload_over_the_size_limit_is_413(sandbox, client):
    settings = sandbox.admin("POST", "routty/settings", json={"max_upload_bytes": 600}).json()
    assert settings["max_upload_bytes"] == 600
    big = ARTICLES.replace("</ArticleList>", "<!--" + "x" * 600 + "--></ArticleList>")
    refused = post(client, big)
    assert refused.status_code == 413
    assert refused.json()["errors"][0]["code"] == "PayloadTooLarge" and "600" in refused.json()["errors"][0]["message"]
    # without a content-length (chunked) the limit holds while reading
    chunked = client.post(UPLOAD, content=iter([big.encode()[:400], big.encode()[400:]]), headers=ROUTTY)
    assert chunked.status_code == 413 and chunked.json()["errors"][0]["code"] == "PayloadTooLarge"
    assert post(client, ARTICLES).status_code == 200  # under the limit
    assert sandbox.admin("POST", "routty/settings", json={"max_upload_bytes": 0}).status_code == 400
    assert sandbox.admin("POST", "routty/settings", json={}).json()["max_upload_bytes"] == 600


def test_the_default_size_limit_is_10_mb(sandbox):
    assert sandbox.admin("POST", "routty/settings", json={}).json()["max_upload_bytes"] == 10 * 1024 * 1024


DELETES = [
    ("Party", ["V-1", "V-9"], "parties"),
    ("PartyBankAccount", ["V-2:DE89370400440532013000", "V-2:NL91ABNA0417164300"], "bank_accounts"),
    ("PurchaseOrder", ["PO-1", "PO-9"], "purchase_orders"),
    ("GoodsReceipt", ["GR-1", "GR-9"], "goods_receipts"),
    ("AccountingMasterData", ["GLAccount:4000", "GLAccount:9999"], "accounting"),
    ("Article", ["A-1", "A-9"], "articles"),
]


@pytest.mark.parametrize("kind, numbers, part", DELETES, ids=[d[0] for d in DELETES])
def test_delete_each_type(sandbox, client, loaded, kind, numbers, part):
    answer = client.post(f"{UPLOAD}/delete", json={"type": kind, "numbers": numbers},
                         headers={**ROUTTY, "x-correlation-id": "del-1"}).json()
    assert answer["deleted"] == numbers[:1] and answer["notFound"] == numbers[1:]
    assert client.get(f"{UPLOAD}/status/{answer['statusId']}", headers=ROUTTY).json()["status"] == "Success"
    after = store(sandbox)
    if kind == "PartyBankAccount":  # V-2 had one account: the party goes from the bank account store
        assert "V-2" not in after["bank_accounts"] and "V-1" in after["bank_accounts"]
        partners = {p["number"]: p for p in sandbox.admin("GET", "routty/partners").json()["partners"]}
        assert partners["V-2"]["ibans"] == []
    else:
        assert numbers[0] not in after[part] and len(after[part]) == len(loaded[part]) - 1
    if kind == "Party":  # the party's bank accounts go with it
        assert "V-1" not in after["bank_accounts"]
    deletion = sandbox.admin("GET", "routty/partners").json()["deletions"][0]
    assert deletion["type"] == kind and deletion["deleted"] == numbers[:1] and deletion["correlation_id"] == "del-1"


def test_delete_of_an_unknown_type_is_400(client):
    answer = client.post(f"{UPLOAD}/delete", json={"type": "Invoice", "numbers": ["1"]}, headers=ROUTTY)
    assert answer.status_code == 400 and answer.json()["errors"][0]["code"] == "InvalidRequest"
