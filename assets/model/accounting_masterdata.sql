-- Routty accounting masterdata (analytical coding values), one row per (type, value):
--   GlAccount    ← Rutter accounts (nominal code, else id) and Jortt ledger accounts
--   VatCode      ← the tax rates used on Rutter purchase lines, the VAT percentages of Jortt invoices
--   Currency     ← every currency the books use
--   PaymentTerms ← vendors' payment terms and Jortt customers' payment terms (days)
-- `type` is the coding field the value validates; the name Routty gets is decided in one place,
-- assets/masterdata/lists/accounting_masterdata.py (ASSUMED names, configurable). Inactive accounts and Jortt ledger
-- accounts that cannot be selected are left out, so Routty offers only what can be booked on.
SELECT DISTINCT tenant_id, type, value, description FROM (
    SELECT tenant_id, 'GlAccount' AS type, COALESCE(NULLIF(TRIM(nominal_code), ''), id) AS value, name AS description
    FROM staging.rutter_accounts WHERE COALESCE(status, 'active') = 'active' AND deleted_at IS NULL
    UNION ALL
    SELECT tenant_id, 'GlAccount', id, name FROM staging.jortt_ledger_accounts
    WHERE COALESCE(selectable, TRUE) AND deleted_at IS NULL
    UNION ALL
    SELECT tenant_id, 'VatCode', tax_rate_id, NULL FROM staging.rutter_purchase_orders_lines WHERE tax_rate_id IS NOT NULL
    UNION ALL
    SELECT tenant_id, 'VatCode', tax_rate_id, NULL FROM staging.rutter_bills_lines WHERE tax_rate_id IS NOT NULL
    UNION ALL
    SELECT tenant_id, 'VatCode', CAST(vat_percentage AS VARCHAR), CAST(vat_percentage AS VARCHAR) || '%'
    FROM staging.jortt_invoices_lines WHERE vat_percentage IS NOT NULL
    UNION ALL
    SELECT tenant_id, 'Currency', UPPER(unnest(currency_codes)), NULL FROM staging.rutter_vendors
    UNION ALL
    SELECT tenant_id, 'Currency', UPPER(currency_code), NULL FROM staging.rutter_purchase_orders WHERE currency_code IS NOT NULL
    UNION ALL
    SELECT tenant_id, 'PaymentTerms', payment_terms_id, NULL FROM staging.rutter_vendors WHERE payment_terms_id IS NOT NULL
    UNION ALL
    SELECT tenant_id, 'PaymentTerms', CAST(payment_term AS VARCHAR), CAST(payment_term AS VARCHAR) || ' days'
    FROM staging.jortt_customers WHERE payment_term IS NOT NULL
)
WHERE value IS NOT NULL
