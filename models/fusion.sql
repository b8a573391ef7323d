-- description = """
-- ERP ⋈ LIAISON on product_id, then ⋈ WEB on id_web = sku. Both keys are read as text, so a sku
-- Excel stored as the number 15298 matches the text "15298", and "13127-1" still matches."""
-- inputs = ["erp_clean", "liaison_clean", "web_dedup"]
-- key = ["product_id"]
--
-- [[checks]]
-- name = "test-fusion"
-- kind = "row_count"
-- message = "FUSION: {actual} lignes au lieu de {expected}"
--
-- [[checks]]
-- name = "fusion-egale-web-dedup"
-- kind = "row_count"
-- same_as = "web_dedup"
-- message = "FUSION: {actual} lignes mais WEB DEDUP en a {expected}: des sku web sont sans correspondance"
--
-- [[checks]]
-- name = "fusion-product-id-unique"
-- kind = "unique"
-- columns = ["product_id"]
-- message = "FUSION: {failing} product_id en double: la jointure a multiplié des lignes"
--
-- [[checks]]
-- name = "fusion-prix-renseigne"
-- kind = "not_null"
-- columns = ["price", "total_sales"]
--
-- [[checks]]
-- name = "en-vente-absent-du-web"
-- kind = "sql"
-- severity = "warn"
-- sql = """
-- SELECT e.product_id, e.price, e.stock_status FROM erp_clean AS e
-- WHERE e.onsale_web = 1 AND e.product_id NOT IN (SELECT product_id FROM fusion)
-- ORDER BY e.product_id"""
-- message = "{failing} produit(s) en vente sur le web selon l'ERP mais absent(s) de l'export web"

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
