"""Invoices into Routty through its input API: sales invoices from the books and received invoices
from Peppol, as UBL (ubl), queued in a ledger (ledger), uploaded (upload) and followed (status, sensors)."""

GROUP = "invoices"
