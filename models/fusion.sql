-- description = """
-- ERP ⋈ LIAISON on product_id, then ⋈ WEB on id_web = sku. Both keys are read as text, so a sku
-- Excel stored as the number 15298 matches the text "15298", and "13127-1" still matches."""
-- inputs = ["erp_clean", "liaison_clean", "web_dedup"]
-- key = ["product_id"]

SELECT e.product_id,
       w.sku,
       w.post_title,
       e.price,
       w.total_sales,
       e.stock_quantity,
       e.stock_status,
       e.onsale_web
FROM erp_clean AS e
JOIN liaison_clean AS l ON l.product_id = e.product_id
JOIN web_dedup AS w ON TRIM(w.sku) = TRIM(l.id_web)
ORDER BY e.product_id
