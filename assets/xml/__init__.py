"""Field rules shared by every builder of Routty XML (masterdata lists and invoices): fields.py. The
XSDs they are checked against are Routty's published contract: resources/contracts/xsd/, loaded once
by resources/contracts/schemas.py (the sandbox validates with the same files)."""
