"""The masterdata XSDs (resources/contracts/xsd) hold the seed's field tables: complete samples validate, as a
whole and record by record (as xml_writer validates them), and each rule family rejects naming the field."""

import pytest
from lxml import etree

from resources.contracts.schemas import schema as schema_for

BANK_ACCOUNTS = """<?xml version="1.0" encoding="utf-8"?>
<PartyBankAccountList>
  <Party>
    <Metadata>
      <Number>V-1</Number><SiteCode>AMS</SiteCode><CorporateGroupID>CG-1</CorporateGroupID>
      <Name1>Café Müller &amp; Söhne</Name1><Name2>Inkoop</Name2><Address1>Keizersgracht 1</Address1>
      <Address2>3e etage</Address2><POBox>PB 12</POBox><PostalCode>1015 CJ</PostalCode><City>Amsterdam</City>
      <State>NH</State><Location>Centrum</Location><CountryCode>NL</CountryCode><Telephone>+31 20 123 4567</Telephone>
      <EmailAddress>ap@example.nl</EmailAddress><PaymentTerms>30</PaymentTerms><PaymentMethod>SEPA</PaymentMethod>
      <Dimension1>d1</Dimension1><Dimension2>d2</Dimension2><Dimension3>d3</Dimension3><Dimension4>d4</Dimension4>
      <Dimension5>d5</Dimension5><Dimension6>d6</Dimension6><Dimension7>d7</Dimension7><Dimension8>d8</Dimension8>
      <PartyRegistrationNumbers>
        <PartyRegistrationNumber><Number>NL123456789B01</Number><Scheme>VAT</Scheme></PartyRegistrationNumber>
      </PartyRegistrationNumbers>
      <PartyBankAccounts>
        <PartyBankAccount>
          <BankNumber>ABNA</BankNumber><AccountNumber>417164300</AccountNumber><IBAN>NL91ABNA0417164300</IBAN>
          <BIC>ABNANL2A</BIC><Currency>EUR</Currency>
          <Dimension1>b1</Dimension1><Dimension2>b2</Dimension2><Dimension3>b3</Dimension3><Dimension4>b4</Dimension4>
        </PartyBankAccount>
        <PartyBankAccount><AccountNumber>539007547034</AccountNumber><IBAN>BE68539007547034</IBAN></PartyBankAccount>
      </PartyBankAccounts>
    </Metadata>
    <Type><Name>Supplier</Name></Type>
    <Active>true</Active>
  </Party>
  <Party>
    <Metadata>
      <Number>V-2</Number><Name1>Zweite GmbH</Name1>
      <PartyBankAccounts>
        <PartyBankAccount>
          <AccountNumber>0532013000</AccountNumber><IBAN>DE89370400440532013000</IBAN><BIC>COBADEFFXXX</BIC>
        </PartyBankAccount>
      </PartyBankAccounts>
    </Metadata>
    <Type><Name>Supplier</Name></Type>
  </Party>
  <Party><!-- the same party again, for another account: only the IBAN is a key here -->
    <Metadata>
      <Number>V-1</Number><Name1>Café Müller</Name1>
      <PartyBankAccounts>
        <PartyBankAccount><AccountNumber>98765432</AccountNumber><IBAN>GB82WEST12345698765432</IBAN></PartyBankAccount>
      </PartyBankAccounts>
    </Metadata>
    <Type><Name>Supplier</Name></Type>
  </Party>
</PartyBankAccountList>"""

PO_LINE_FULL = """
        <PurchaseOrderLine>
          <LineID>10</LineID><ExtraReference>X-10</ExtraReference><ArticleNumberBuyer>B-1</ArticleNumberBuyer>
          <ArticleNumberSupplier>S-1</ArticleNumberSupplier><ArticleDescription>Bolts M8</ArticleDescription>
          <StandardArticleNumber>08712345678906</StandardArticleNumber><Quantity>3.4</Quantity><UnitCode>PCE</UnitCode>
          <GrossUnitPrice>12.5</GrossUnitPrice><Price>11.123456</Price><DiscountAmount>1.5</DiscountAmount>
          <DiscountRate>20.0000</DiscountRate><LineAmount>37.82</LineAmount><Status>open</Status>
          <GLAccount>4000</GLAccount><CostCenter>CC-1</CostCenter><VatCode>H21</VatCode>
          <Dimension1>d1</Dimension1><Dimension2>d2</Dimension2><Dimension3>d3</Dimension3><Dimension4>d4</Dimension4>
          <Dimension5>d5</Dimension5><Dimension6>d6</Dimension6><Dimension7>d7</Dimension7><Dimension8>d8</Dimension8>
          <StartDate>2024-01-01</StartDate><EndDate>2024-12-31</EndDate><InvoicedAmount>0</InvoicedAmount>
          <InvoicedQuantity>0</InvoicedQuantity><MatchType>0</MatchType><MatchQuantity>1</MatchQuantity>
        </PurchaseOrderLine>"""

PURCHASE_ORDERS = f"""<?xml version="1.0" encoding="utf-8"?>
<PurchaseOrderMasterDataList>
  <PurchaseOrderMasterData>
    <PurchaseOrderHeader>
      <DocumentReference>PO-1</DocumentReference><ExtraReference>REQ-1</ExtraReference>
      <DocumentDate>2024-03-01</DocumentDate>
      <DocumentType>Order</DocumentType><DocumentSubType>Standard</DocumentSubType>
      <Currency>EUR</Currency><TotalNetAmount>100.00</TotalNetAmount><TotalVatAmount>21.00</TotalVatAmount>
      <TotalGrossAmount>121.00</TotalGrossAmount><TotalDiscountAmount>0</TotalDiscountAmount>
      <SupplierNumber>V-1</SupplierNumber><SupplierName>Acme B.V.</SupplierName>
      <SupplierRegistrationNumber>NL123456789B01</SupplierRegistrationNumber>
      <SupplierIban>NL91ABNA0417164300</SupplierIban>
      <SupplierSiteCode>AMS</SupplierSiteCode><BuyerNumber>C-1</BuyerNumber><BuyerName>Buyer B.V.</BuyerName>
      <BuyerSiteCode>HQ</BuyerSiteCode><HeaderText1>Deliver to gate 2</HeaderText1><HeaderText2>-</HeaderText2>
      <StartDate>2024-03-01</StartDate><EndDate>2024-03-31</EndDate><DocumentStatus>open</DocumentStatus>
      <RequesterId>jdoe</RequesterId>
    </PurchaseOrderHeader>
    <PurchaseOrderLines>{PO_LINE_FULL}
        <PurchaseOrderLine><LineID>20</LineID><ExtraReference>X-20</ExtraReference></PurchaseOrderLine>
    </PurchaseOrderLines>
  </PurchaseOrderMasterData>
  <PurchaseOrderMasterData>
    <PurchaseOrderHeader>
      <DocumentReference>PO-2</DocumentReference><DocumentDate>2024-03-02</DocumentDate>
      <DocumentType>Order</DocumentType>
      <TotalNetAmount>-5.5</TotalNetAmount><TotalVatAmount>0</TotalVatAmount><TotalGrossAmount>-5.5</TotalGrossAmount>
      <TotalDiscountAmount>0.00</TotalDiscountAmount><SupplierNumber>V-2</SupplierNumber><BuyerNumber>C-1</BuyerNumber>
    </PurchaseOrderHeader>
  </PurchaseOrderMasterData>
</PurchaseOrderMasterDataList>"""

GOODS_RECEIPTS = """<?xml version="1.0" encoding="utf-8"?>
<GoodsReceiptMasterDataList>
  <GoodsReceiptMasterData>
    <GoodsReceiptHeader>
      <DocumentReference>GR-1</DocumentReference><ExtraReference>DN-1</ExtraReference>
      <DocumentDate>2024-03-05</DocumentDate>
      <DocumentType>Receipt</DocumentType><DocumentSubType>Standard</DocumentSubType><Currency>EUR</Currency>
      <OrderReference>PO-1</OrderReference><SupplierNumber>V-1</SupplierNumber><SupplierName>Acme B.V.</SupplierName>
      <SupplierRegistrationNumber>NL123456789B01</SupplierRegistrationNumber>
      <SupplierIban>NL91ABNA0417164300</SupplierIban>
      <SupplierSiteCode>AMS</SupplierSiteCode><BuyerNumber>C-1</BuyerNumber><BuyerName>Buyer B.V.</BuyerName>
      <BuyerSiteCode>HQ</BuyerSiteCode><HeaderText1>t1</HeaderText1><HeaderText2>t2</HeaderText2>
      <DocumentStatus>open</DocumentStatus>
    </GoodsReceiptHeader>
    <GoodsReceiptLines>
      <GoodsReceiptLine>
        <LineID>1</LineID><OrderReference>PO-1</OrderReference><OrderLineId>10</OrderLineId>
        <ExtraReference>X</ExtraReference>
        <ArticleNumberBuyer>B-1</ArticleNumberBuyer><ArticleNumberSupplier>S-1</ArticleNumberSupplier>
        <ArticleDescription>Bolts M8</ArticleDescription><StandardArticleNumber>08712345678906</StandardArticleNumber>
        <Quantity>3.4</Quantity><UnitCode>PCE</UnitCode><GrossUnitPrice>12.5</GrossUnitPrice><Price>11.123456</Price>
        <DiscountAmount>1.5</DiscountAmount><DiscountRate>20.0000</DiscountRate><LineAmount>37.82</LineAmount>
        <Status>open</Status><InvoicedAmount>0</InvoicedAmount><InvoicedQuantity>0</InvoicedQuantity>
        <AcceptedAmount>37.82</AcceptedAmount><AcceptedQuantity>3.4</AcceptedQuantity><MatchType>0</MatchType>
        <MatchQuantity>1</MatchQuantity>
      </GoodsReceiptLine>
      <GoodsReceiptLine><LineID>2</LineID></GoodsReceiptLine>
    </GoodsReceiptLines>
  </GoodsReceiptMasterData>
  <GoodsReceiptMasterData>
    <GoodsReceiptHeader>
      <DocumentReference>GR-2</DocumentReference><DocumentDate>2024-03-06</DocumentDate>
      <SupplierNumber>V-2</SupplierNumber><BuyerNumber>C-1</BuyerNumber>
    </GoodsReceiptHeader>
  </GoodsReceiptMasterData>
</GoodsReceiptMasterDataList>"""

ACCOUNTING = """<?xml version="1.0" encoding="utf-8"?>
<AccountingMasterDataList>
  <AccountingMasterData type="GLAccount">
    <Value>4000</Value><Description>Purchases</Description><CorporateGroupID>CG-1</CorporateGroupID>
    <Field1>f1</Field1><Field2>f2</Field2><Field3>f3</Field3><Field4>f4</Field4><Field5>f5</Field5>
    <Field6>f6</Field6><Field7>f7</Field7><Field8>f8</Field8><Field9>f9</Field9><Field10>f10</Field10>
  </AccountingMasterData>
  <AccountingMasterData type="CostCenter">
    <Value>CC-1</Value><Description>Sales</Description><CorporateGroupID>CG-1</CorporateGroupID>
  </AccountingMasterData>
</AccountingMasterDataList>"""

ARTICLES = """<?xml version="1.0" encoding="UTF-8"?>
<ArticleList>
  <Article>
    <CorporateGroupID>CG-1</CorporateGroupID><Number>A-1</Number><Description>Bolt M8 &amp; nut</Description>
    <Type>Stock</Type><GTIN>08712345678906</GTIN><UnitOfMeasurement>PCE</UnitOfMeasurement><UnitPrice>0.1234</UnitPrice>
  </Article>
  <Article><Number>A-2</Number><UnitPrice>12</UnitPrice></Article>
</ArticleList>"""

SAMPLES = {
    "PartyBankAccountList": (BANK_ACCOUNTS, "Party"),
    "PurchaseOrderMasterDataList": (PURCHASE_ORDERS, "PurchaseOrderMasterData"),
    "GoodsReceiptMasterDataList": (GOODS_RECEIPTS, "GoodsReceiptMasterData"),
    "AccountingMasterDataList": (ACCOUNTING, "AccountingMasterData"),
    "ArticleList": (ARTICLES, "Article"),
}


def parse(text: str):
    return etree.fromstring(text.encode())


@pytest.mark.parametrize("list_type", SAMPLES)
def test_complete_sample_validates_as_list_and_record_by_record(list_type):
    text, record_tag = SAMPLES[list_type]
    schema, root = schema_for(list_type), parse(text)
    assert schema.validate(root), schema.error_log
    records = list(root)
    assert records and all(r.tag == record_tag for r in records)
    for record in records:  # each record alone, as xml_writer validates it
        assert schema.validate(record), schema.error_log


# (list type, text to replace, replacement, word the error must name, caught by the record alone?)
INVALID = [
    # PartyBankAccountList
    ("PartyBankAccountList", "<AccountNumber>417164300<", "<AccountNumber>" + "9" * 51 + "<", "AccountNumber", True),
    ("PartyBankAccountList", "<IBAN>BE68539007547034</IBAN>", "", "IBAN", True),
    ("PartyBankAccountList", "NL91ABNA0417164300", "NL91 ABNA 0417 1643 00", "IBAN", True),
    ("PartyBankAccountList", "<BIC>ABNANL2A<", "<BIC>ABNANL2<", "BIC", True),
    ("PartyBankAccountList", "<Currency>EUR<", "<Currency>eur<", "Currency", True),
    ("PartyBankAccountList", "<Number>V-2</Number><Name1>Zweite GmbH</Name1>", "<Number>V-2</Number><Name1> </Name1>",
     "Name1", True),
    ("PartyBankAccountList", "DE89370400440532013000", "BE68539007547034", "UniqueIBAN", False),
    ("PartyBankAccountList", ("<PartyBankAccounts>\n        <PartyBankAccount><AccountNumber>98765432</AccountNumber>"
                              "<IBAN>GB82WEST12345698765432</IBAN></PartyBankAccount>\n      </PartyBankAccounts>"),
     "", "Metadata", True),
    # ^ required PartyBankAccounts missing: libxml2 lists only the first 10 expected names (all optional
    #   ones before it), so its message names the parent, Metadata, not PartyBankAccounts.
    ("PartyBankAccountList", "<AccountNumber>539007547034</AccountNumber><IBAN>BE68539007547034",
     "<AccountNumber>539007547034</AccountNumber><IBAN>NL91ABNA0417164300", "UniqueIBANInParty", True),
    # PurchaseOrderMasterDataList
    ("PurchaseOrderMasterDataList", "<DocumentReference>PO-1<", "<DocumentReference>" + "P" * 51 + "<",
     "DocumentReference", True),
    ("PurchaseOrderMasterDataList", "<SupplierNumber>V-2</SupplierNumber>", "", "SupplierNumber", True),
    ("PurchaseOrderMasterDataList", "<DocumentType>Order</DocumentType><DocumentSubType>",
     "<DocumentType>  </DocumentType><DocumentSubType>", "DocumentType", True),
    ("PurchaseOrderMasterDataList", "<TotalNetAmount>100.00<", "<TotalNetAmount>1.234<", "TotalNetAmount", True),
    ("PurchaseOrderMasterDataList", "<TotalGrossAmount>121.00<", "<TotalGrossAmount>12345678901234567.1<",
     "TotalGrossAmount", True),
    ("PurchaseOrderMasterDataList", "<Quantity>3.4<", "<Quantity>3,4<", "Quantity", True),
    ("PurchaseOrderMasterDataList", "<Price>11.123456<", "<Price>11.1234567<", "Price", True),
    ("PurchaseOrderMasterDataList", "<DiscountRate>20.0000<", "<DiscountRate>100<", "DiscountRate", True),
    ("PurchaseOrderMasterDataList", "<DocumentDate>2024-03-01<", "<DocumentDate>2019-12-31T22:22:22<",
     "DocumentDate", True),
    ("PurchaseOrderMasterDataList", "<EndDate>2024-12-31<", "<EndDate>2024-02-30<", "EndDate", True),
    ("PurchaseOrderMasterDataList", "<MatchType>0<", "<MatchType>0.5<", "MatchType", True),
    ("PurchaseOrderMasterDataList", "<LineID>20<", "<LineID>10<", "UniqueLineID", True),
    ("PurchaseOrderMasterDataList", "<LineID>20</LineID><ExtraReference>X-20</ExtraReference>", "<LineID>20</LineID>",
     "ExtraReference", True),
    ("PurchaseOrderMasterDataList", "<LineID>20</LineID>", "<LineId>20</LineId>", "LineId", True),
    ("PurchaseOrderMasterDataList", "<DocumentReference>PO-2<", "<DocumentReference>PO-1<",
     "UniqueDocumentReference", False),
    # GoodsReceiptMasterDataList
    ("GoodsReceiptMasterDataList", "<AcceptedQuantity>3.4<", "<AcceptedQuantity>3,4<", "AcceptedQuantity", True),
    ("GoodsReceiptMasterDataList", "<LineID>2</LineID>", "<OrderLineId>2</OrderLineId>", "LineID", True),
    ("GoodsReceiptMasterDataList", "<DocumentReference>GR-2<", "<DocumentReference>GR-1<",
     "UniqueDocumentReference", False),
    # AccountingMasterDataList
    ("AccountingMasterDataList", ' type="CostCenter"', "", "type", True),
    ("AccountingMasterDataList", ' type="CostCenter"', ' type=" "', "type", True),
    ("AccountingMasterDataList", "<Value>4000<", "<Value>" + "4" * 51 + "<", "Value", True),
    ("AccountingMasterDataList", "<Field10>f10<", "<Field10>" + "f" * 51 + "<", "Field10", True),
    ("AccountingMasterDataList", 'type="CostCenter">\n    <Value>CC-1', 'type="GLAccount">\n    <Value>4000',
     "UniqueTypeValueCorporateGroupID", False),
    # ArticleList
    ("ArticleList", "<Number>A-2<", "<Number>" + "A" * 33 + "<", "Number", True),
    ("ArticleList", "<Number>A-2</Number>", "", "Number", True),
    ("ArticleList", "<UnitPrice>0.1234<", "<UnitPrice>0.12345<", "UnitPrice", True),
    ("ArticleList", "<UnitPrice>12<", "<UnitPrice>3,4<", "UnitPrice", True),
    ("ArticleList", "<GTIN>08712345678906<", "<GTIN>087123456789061<", "GTIN", True),
    ("ArticleList", "<Number>A-2<", "<Number>A-1<", "UniqueNumber", False),
]


@pytest.mark.parametrize("list_type, old, new, names, record_level", INVALID,
                         ids=[f"{c[0]}-{c[3]}-{i}" for i, c in enumerate(INVALID)])
def test_rule_breaks_are_rejected_naming_the_field(list_type, old, new, names, record_level):
    text, _ = SAMPLES[list_type]
    assert text.count(old) == 1, f"the variant must change exactly one place: {old!r}"
    schema, root = schema_for(list_type), parse(text.replace(old, new))
    assert not schema.validate(root)
    assert any(names in e.message for e in schema.error_log), [e.message for e in schema.error_log]
    # A rule inside one record is caught when the record is validated alone (xml_writer's way);
    # a key across records only by the list (the builder must check those keys itself).
    alone = [schema.validate(record) for record in root]
    assert (not all(alone)) == record_level
