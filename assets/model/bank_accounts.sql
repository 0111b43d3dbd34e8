-- Routty party bank accounts. Rutter vendors carry no bank details; B2Brouter contacts do, so a
-- supplier's IBAN comes from the B2Brouter contact with the same VAT number (letters and digits
-- compared). The tenant's own IBAN comes from its Jortt organization. AccountNumber is required
-- by Routty and no source has another account number: it carries the IBAN.
WITH parties AS (
    SELECT tenant_id, number, name1, vat_number, party_type, source FROM model.routty_parties
),
contact_ibans AS (
    SELECT tenant_id, UPPER(regexp_replace(tin_value, '[^A-Za-z0-9]', '', 'g')) AS vat_number,
           UPPER(REPLACE(iban, ' ', '')) AS iban, UPPER(currency) AS currency
    FROM staging.b2brouter_contacts
    WHERE iban IS NOT NULL AND deleted_at IS NULL AND COALESCE(is_provider, TRUE)
    QUALIFY row_number() OVER (PARTITION BY tenant_id, vat_number, iban ORDER BY updated_at DESC NULLS LAST) = 1
)
SELECT p.tenant_id, p.number, p.name1, p.party_type, c.iban, c.iban AS account_number, NULL AS bic, c.currency,
       p.number || ':' || c.iban AS record_key
FROM parties p JOIN contact_ibans c ON c.tenant_id = p.tenant_id AND c.vat_number = p.vat_number
WHERE p.party_type = 'Supplier'
UNION ALL
SELECT p.tenant_id, p.number, p.name1, p.party_type, UPPER(REPLACE(o.bank_account_iban, ' ', '')),
       UPPER(REPLACE(o.bank_account_iban, ' ', '')), NULL, 'EUR',
       p.number || ':' || UPPER(REPLACE(o.bank_account_iban, ' ', ''))
FROM parties p JOIN staging.jortt_organization o ON o.tenant_id = p.tenant_id AND o.id = p.number
WHERE p.source = 'jortt.organization' AND o.bank_account_iban IS NOT NULL AND o.deleted_at IS NULL
