-- description = "The ERP export without duplicate rows."
-- inputs = ["erp"]
-- key = ["product_id"]
--
-- [[checks]]
-- name = "test-nettoyage-erp"
-- kind = "row_count"
-- message = "ERP: {actual} lignes au lieu de {expected}"
--
-- [[checks]]
-- name = "erp-product-id-unique"
-- kind = "unique"
-- columns = ["product_id"]
-- message = "ERP: {failing} product_id en double après nettoyage"
--
-- [[checks]]
-- name = "erp-stock-status"
-- kind = "accepted_values"
-- column = "stock_status"
-- values = ["instock", "outofstock"]
--
-- [[checks]]
-- name = "erp-prix-ou-stock-negatif"
-- kind = "sql"
-- severity = "warn"
-- sql = "SELECT product_id, price, stock_quantity FROM erp_clean WHERE price < 0 OR stock_quantity < 0 ORDER BY product_id"
-- message = "ERP: {failing} produit(s) avec un prix ou un stock négatif"

SELECT DISTINCT product_id, onsale_web, price, stock_quantity, stock_status
FROM erp
ORDER BY product_id
