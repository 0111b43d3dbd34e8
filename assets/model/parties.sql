-- Routty parties, one row per party and tenant, from every source that knows one:
--   suppliers  ← Rutter vendors
--   customers  ← Jortt customers and Rutter customers (the AR side)
--   companies  ← the tenant's own legal entity: Rutter company_info, Jortt organization
-- The billing address wins over any other. Archived or deleted at the source → Active=false: the
-- party is deactivated, never deleted, so documents in Routty that name it still resolve.
-- Party type names (Supplier, Customer, Company) are ASSUMED: the seed leaves them open.
WITH rutter_parties AS (
    SELECT tenant_id, source, id, name, alt_name, phone, email, payment_terms, tax_number, registration_number,
           party_type, active,
           COALESCE(list_filter(addresses, lambda a: a->>'type' = 'billing')[1], addresses[1]) AS address
    FROM (
        SELECT tenant_id, 'rutter.vendors' AS source, id, vendor_name AS name, display_name AS alt_name, phone, email,
               payment_terms_id AS payment_terms, tax_number, registration_number, 'Supplier' AS party_type,
               COALESCE(status, 'active') <> 'archived' AND deleted_at IS NULL AS active,
               CAST(addresses AS JSON[]) AS addresses
        FROM staging.rutter_vendors
        UNION ALL
        SELECT tenant_id, 'rutter.customers', id, customer_name, NULL, phone, email, NULL, tax_number, registration_number,
               'Customer', COALESCE(status, 'active') <> 'archived' AND deleted_at IS NULL,
               CAST(addresses AS JSON[])
        FROM staging.rutter_customers
        UNION ALL
        SELECT tenant_id, 'rutter.company_info', id, COALESCE(legal_name, name), NULL, NULL, NULL, NULL, tax_number,
               registration_number, 'Company', deleted_at IS NULL, CAST(addresses AS JSON[])
        FROM staging.rutter_company_info
    )
),
all_parties AS (
    SELECT tenant_id, source, id AS number, TRIM(COALESCE(NULLIF(TRIM(name), ''), alt_name)) AS name1,
           CASE WHEN NULLIF(TRIM(name), '') IS NOT NULL AND TRIM(alt_name) <> TRIM(name) THEN TRIM(alt_name) END AS name2,
           address->>'address_line_1' AS address1, address->>'address_line_2' AS address2,
           address->>'postal_code' AS postal_code, address->>'city' AS city, address->>'region' AS state,
           address->>'country' AS country_code, phone AS telephone,
           email AS email_address, payment_terms, tax_number AS vat_number, registration_number AS coc_number,
           party_type, active
    FROM rutter_parties
    UNION ALL
    SELECT tenant_id, 'jortt.customers', id, TRIM(customer_name), NULL, address_street, NULL, address_postal_code,
           address_city, NULL, address_country_code, NULL, email, CAST(payment_term AS VARCHAR), vat_number,
           coc_number, 'Customer', NOT COALESCE(archived, FALSE) AND deleted_at IS NULL
    FROM staging.jortt_customers
    UNION ALL
    SELECT tenant_id, 'jortt.organization', id, TRIM(company_name), NULL, address_street, NULL, address_postal_code,
           address_city, NULL, address_country_code, NULL, NULL, NULL, tax_registration_number,
           chamber_of_commerce_number, 'Company', deleted_at IS NULL
    FROM staging.jortt_organization
)
SELECT tenant_id, source, number, name1, name2, address1, address2, postal_code, city, state,
       UPPER(TRIM(country_code)) AS country_code, telephone, email_address, payment_terms,
       -- VAT numbers arrive as people type them ("nl 8123.45.678 b01"): keep letters and digits only
       NULLIF(UPPER(regexp_replace(vat_number, '[^A-Za-z0-9]', '', 'g')), '') AS vat_number,
       NULLIF(TRIM(coc_number), '') AS coc_number, party_type, active
FROM all_parties
