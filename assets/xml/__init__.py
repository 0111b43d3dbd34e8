"""Shared by every stage that reads or writes Routty's XML: the XSDs (xsd/), their one cached loader
(schemas.py) and the field rules (fields.py). Masterdata lists, invoices, exports and the sandbox
import these, never each other."""
