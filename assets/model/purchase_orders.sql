-- Routty purchase orders from Rutter purchase orders, one row per order with its lines as a list.
-- The buyer is the tenant's own company (Rutter company_info). Rutter gives PO totals without VAT:
-- TotalVatAmount is 0 and the gross equals the net (documented in README). Orders deleted at the
-- source leave the model, and so are deleted in Routty.
WITH buyer AS (
    SELECT tenant_id, id AS buyer_number, COALESCE(legal_name, name) AS buyer_name
    FROM staging.rutter_company_info WHERE deleted_at IS NULL
),
lines AS (
    SELECT tenant_id, purchase_order_id,
           list({'line_id': CAST(line_number AS VARCHAR),
                 'extra_reference': COALESCE(item_id, CAST(line_number AS VARCHAR)),
                 'article_number_buyer': item_id, 'description': description, 'quantity': quantity,
                 'price': unit_amount, 'line_amount': total_amount, 'gl_account': account_id,
                 'cost_center': department_id, 'vat_code': tax_rate_id} ORDER BY line_number) AS lines
    FROM staging.rutter_purchase_orders_lines GROUP BY ALL
)
SELECT po.tenant_id, COALESCE(NULLIF(TRIM(po.document_number), ''), po.id) AS document_reference,
       po.id AS extra_reference, po.issue_date AS document_date, 'PurchaseOrder' AS document_type,
       po.currency_code AS currency, po.total_amount AS total_net_amount, 0::DECIMAL(18,2) AS total_vat_amount,
       po.total_amount AS total_gross_amount, 0::DECIMAL(18,2) AS total_discount_amount,
       po.vendor_id AS supplier_number, v.vendor_name AS supplier_name,
       NULLIF(UPPER(regexp_replace(v.tax_number, '[^A-Za-z0-9]', '', 'g')), '') AS supplier_registration_number,
       b.buyer_number, b.buyer_name, po.memo AS header_text1, po.status AS document_status,
       COALESCE(l.lines, []) AS lines
FROM staging.rutter_purchase_orders po
LEFT JOIN staging.rutter_vendors v ON v.tenant_id = po.tenant_id AND v.id = po.vendor_id
LEFT JOIN buyer b ON b.tenant_id = po.tenant_id
LEFT JOIN lines l ON l.tenant_id = po.tenant_id AND l.purchase_order_id = po.id
WHERE po.deleted_at IS NULL
