-- Sales invoices as Routty receives them (UBL Invoice / CreditNote), one row per invoice and tenant,
-- with its lines as a list. Two sources; the document asset sends the one the tenant's books use:
--   jortt.invoices   ← Jortt (current or legacy API), customer = the Jortt customer
--   rutter.invoices  ← Rutter AR invoices, customer = the Rutter customer
-- Supplier = the tenant's own company as sent in the PartyList (Jortt organization first, then Rutter
-- company info), its IBAN from the bank accounts model. The customer is the party sent in masterdata
-- (NULL when it was not: the document asset rejects such an invoice instead of Routty failing it);
-- name and address are those printed on the invoice where the source keeps them.
-- Rutter gives lines a tax_rate_id, not a percentage: the percentage is the books' tax rate's
-- (rutter/tax_rates): effective_tax_rate (what compounding makes of it), else total_tax_rate, else the
-- sum of its components' rates; a compound tax without effective_tax_rate, a component without a rate
-- or a rate the list lacks leave it NULL, and the document builder rejects the invoice naming the line.
-- A Rutter invoice's header discount (total_discount) goes along; Jortt has none.
WITH company AS (
    SELECT p.*, b.iban
    FROM model.routty_parties p
    LEFT JOIN model.routty_bank_accounts b ON b.tenant_id = p.tenant_id AND b.number = p.number
    WHERE p.party_type = 'Company' AND p.active
    QUALIFY row_number() OVER (PARTITION BY p.tenant_id
                               ORDER BY p.source = 'jortt.organization' DESC, b.iban IS NOT NULL DESC, p.number) = 1
),
customers AS (
    SELECT * FROM model.routty_parties WHERE party_type = 'Customer'
),
jortt_lines AS (
    SELECT tenant_id, invoice_id,
           list({'description': description, 'quantity': number_of_units, 'unit_price': amount_per_unit,
                 'net_amount': total_amount_excl_vat, 'vat_percent': vat_percentage::DECIMAL(9, 4),
                 'tax_rate_id': NULL::VARCHAR, 'tax_rate_listed': NULL::BOOLEAN} ORDER BY line_number) AS lines
    FROM staging.jortt_invoices_lines
    GROUP BY ALL
),
jortt AS (
    SELECT i.tenant_id, 'jortt' AS source_system, i.id AS source_id, i.invoice_number AS number,
           i.invoice_status AS status, i.invoice_date AS issue_date, i.invoice_due_date AS due_date,
           COALESCE(i.currency, 'EUR') AS currency, c.invoice_number AS credited_number,
           c.invoice_date AS credited_issue_date, NULLIF(TRIM(i.customer_reference), '') AS buyer_reference,
           NULLIF(TRIM(i.reference), '') AS note, i.invoice_total AS total_net,
           i.invoice_total_incl_vat AS total_incl_vat, i.customer_id,
           NULLIF(TRIM(i.customer_company_name), '') AS printed_name, NULLIF(TRIM(i.customer_address_street), '') AS printed_street,
           NULLIF(TRIM(i.customer_address_postal_code), '') AS printed_postal_code,
           NULLIF(TRIM(i.customer_address_city), '') AS printed_city,
           NULLIF(UPPER(TRIM(i.customer_address_country_code)), '') AS printed_country,
           l.lines, NULL::DECIMAL(18, 4) AS total_discount
    FROM staging.jortt_invoices i
    LEFT JOIN staging.jortt_invoices c ON c.tenant_id = i.tenant_id AND c.id = i.credited_invoice_id
    LEFT JOIN jortt_lines l ON l.tenant_id = i.tenant_id AND l.invoice_id = i.id
    WHERE i.deleted_at IS NULL
),
rutter_components AS (
    SELECT tenant_id, tax_rate_id, CASE WHEN count(rate) = count(*) THEN sum(rate) END AS rate,
           bool_or(COALESCE(is_compound, FALSE)) AS compound
    FROM staging.rutter_tax_rates_components
    GROUP BY ALL
),
-- Rates that left the books (deleted_at) still state what the invoices that used them charged.
rutter_rates AS (
    SELECT t.tenant_id, t.id AS tax_rate_id,
           CAST(COALESCE(t.effective_tax_rate,
                         CASE WHEN NOT COALESCE(c.compound, FALSE) THEN COALESCE(t.total_tax_rate, c.rate) END)
                AS DECIMAL(9, 4)) AS percent
    FROM staging.rutter_tax_rates t
    LEFT JOIN rutter_components c ON c.tenant_id = t.tenant_id AND c.tax_rate_id = t.id
),
rutter_lines AS (
    SELECT l.tenant_id, l.invoice_id,
           list({'description': l.description, 'quantity': l.quantity, 'unit_price': l.unit_amount,
                 'net_amount': l.total_amount, 'vat_percent': r.percent, 'tax_rate_id': l.tax_rate_id,
                 'tax_rate_listed': r.tax_rate_id IS NOT NULL} ORDER BY l.line_number) AS lines
    FROM staging.rutter_invoices_lines l
    LEFT JOIN rutter_rates r ON r.tenant_id = l.tenant_id AND r.tax_rate_id = l.tax_rate_id
    GROUP BY ALL
),
rutter AS (
    SELECT i.tenant_id, 'rutter', i.id, i.document_number, i.status, i.issue_date, i.due_date, i.currency_code,
           NULL, NULL, NULL, NULLIF(TRIM(i.memo), ''), i.sub_total, i.total_amount, i.customer_id,
           NULL, NULL, NULL, NULL, NULL, l.lines, i.total_discount
    FROM staging.rutter_invoices i
    LEFT JOIN rutter_lines l ON l.tenant_id = i.tenant_id AND l.invoice_id = i.id
    WHERE i.deleted_at IS NULL
)
SELECT i.tenant_id, i.source_system, i.source_id, i.number, i.status, i.issue_date, i.due_date, i.currency,
       i.credited_number, i.credited_issue_date, i.buyer_reference, i.note, i.total_net, i.total_incl_vat,
       cu.number AS customer_number, COALESCE(i.printed_name, cu.name1) AS customer_name,
       COALESCE(i.printed_street, cu.address1) AS customer_street,
       COALESCE(i.printed_postal_code, cu.postal_code) AS customer_postal_code,
       COALESCE(i.printed_city, cu.city) AS customer_city, COALESCE(i.printed_country, cu.country_code) AS customer_country,
       cu.vat_number AS customer_vat, cu.coc_number AS customer_coc, cu.email_address AS customer_email,
       co.number AS supplier_number, co.name1 AS supplier_name, co.address1 AS supplier_street,
       co.postal_code AS supplier_postal_code, co.city AS supplier_city, co.country_code AS supplier_country,
       co.vat_number AS supplier_vat, co.coc_number AS supplier_coc, co.iban,
       COALESCE(i.lines, []) AS lines, i.total_discount
FROM (SELECT * FROM jortt UNION ALL SELECT * FROM rutter) i
LEFT JOIN customers cu ON cu.tenant_id = i.tenant_id AND cu.number = i.customer_id
    AND cu.source = CASE i.source_system WHEN 'jortt' THEN 'jortt.customers' ELSE 'rutter.customers' END
LEFT JOIN company co ON co.tenant_id = i.tenant_id
