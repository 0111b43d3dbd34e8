-- Routty parties from the sources' staging tables, one row per party and tenant.
-- Rutter vendors are suppliers; the billing address wins over any other; archived or deleted at
-- the source → inactive (Routty keeps the party, so documents that name it still resolve).
WITH vendors AS (
    SELECT v.*,
           from_json(v.addresses, '[{"type": "VARCHAR", "address_line_1": "VARCHAR", "address_line_2": "VARCHAR",
                                     "city": "VARCHAR", "region": "VARCHAR", "postal_code": "VARCHAR",
                                     "country": "VARCHAR"}]') AS address_list
    FROM staging.rutter_vendors v
)
SELECT
    tenant_id,
    'rutter.vendors'                                                   AS source,
    id                                                                 AS number,
    COALESCE(NULLIF(TRIM(vendor_name), ''), NULLIF(TRIM(display_name), '')) AS name1,
    CASE WHEN NULLIF(TRIM(vendor_name), '') IS NOT NULL
              AND TRIM(display_name) <> TRIM(vendor_name) THEN TRIM(display_name) END AS name2,
    address.address_line_1                                             AS address1,
    address.address_line_2                                             AS address2,
    address.postal_code                                                AS postal_code,
    address.city                                                       AS city,
    address.region                                                     AS state,
    UPPER(TRIM(address.country))                                       AS country_code,
    phone                                                              AS telephone,
    email                                                              AS email_address,
    payment_terms_id                                                   AS payment_terms,
    NULLIF(TRIM(tax_number), '')                                       AS vat_number,
    NULLIF(TRIM(registration_number), '')                              AS coc_number,
    'Supplier'                                                         AS party_type,
    COALESCE(status, 'active') <> 'archived' AND deleted_at IS NULL  AS active
FROM (
    SELECT *, COALESCE(list_filter(address_list, lambda a: a.type = 'billing')[1], address_list[1]) AS address
    FROM vendors
)
