-- description = "Web rows that carry a sku: one product row and one image row per wine."
-- inputs = ["web"]
-- key = ["sku", "post_type"]
--
-- [[checks]]
-- name = "test-nettoyage-web-clean"
-- kind = "row_count"
-- message = "WEB: {actual} lignes au lieu de {expected}"
--
-- [[checks]]
-- name = "web-sku-renseigne"
-- kind = "not_null"
-- columns = ["sku"]
--
-- [[checks]]
-- name = "web-ventes-sans-sku"
-- kind = "sql"
-- severity = "warn"
-- sql = "SELECT post_title, total_sales FROM web WHERE sku IS NULL AND total_sales > 0 ORDER BY total_sales DESC, post_title"
-- message = "WEB: {failing} ligne(s) avec des ventes mais sans sku, écartée(s) du rapport"

SELECT *
FROM web
WHERE sku IS NOT NULL
