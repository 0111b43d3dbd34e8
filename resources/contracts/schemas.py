"""Routty's published XSDs and UBL 2.1's, loaded once per process. The sandbox validates with the
same files, so client and simulator can never disagree on a format."""

from functools import cache
from pathlib import Path

from lxml import etree

XSD_DIR = Path(__file__).with_name("xsd")


@cache
def schema(name: str) -> etree.XMLSchema:
    """The schema `xsd/<name>.xsd`: a masterdata list type ("PartyList"), "RouttyExportDocument",
    "RouttyFeedbackDocuments", or a UBL document ("ubl/UBL-Invoice-2.1")."""
    return etree.XMLSchema(etree.parse(str(XSD_DIR / f"{name}.xsd")))
