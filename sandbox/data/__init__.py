"""Seeded, deterministic sandbox data with the mess real books contain.

Everything depends only on (size, seed). The same company can appear in several systems (a supplier
in Rutter is a contact in B2Brouter and sometimes a customer in Jortt), as it does in real bookkeeping.
What the rest of the sandbox uses is imported from here.
"""

from sandbox.data.common import unix_ms
from sandbox.data.countries import EU, IBAN_LENGTHS, iban_is_valid
from sandbox.data.dataset import Dataset, SandboxCompany, build_dataset
from sandbox.data.jortt import money_value
from sandbox.data.money import cents, vat_breakdown
from sandbox.data.rutter import RutterConnection
from sandbox.data.rutter_books import TAX_RATES

__all__ = ["EU", "IBAN_LENGTHS", "TAX_RATES", "Dataset", "RutterConnection", "SandboxCompany", "build_dataset",
           "cents", "iban_is_valid", "money_value", "unix_ms", "vat_breakdown"]
