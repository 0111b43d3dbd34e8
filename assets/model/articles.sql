-- Routty articles from Rutter items. Number is the item's code (Routty allows 32 characters; the
-- id is a 36-character UUID, so an item without a code is rejected at the XML stage, never
-- truncated). Archived items leave the model, and so are deleted in Routty. UnitPrice is the
-- purchase price (bill_item), the one invoices from suppliers are matched against.
SELECT tenant_id, COALESCE(NULLIF(TRIM(code), ''), id) AS number, name AS description, type,
       TRY_CAST(json_extract_string(bill_item, '$.unit_price') AS DECIMAL(18,4)) AS unit_price
FROM staging.rutter_items
WHERE COALESCE(status, 'active') <> 'archived' AND deleted_at IS NULL
