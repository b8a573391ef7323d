-- description = "The ERP → web mapping without duplicate rows."
-- inputs = ["liaison"]
-- key = ["product_id"]
--
-- [[checks]]
-- name = "test-nettoyage-liaison"
-- kind = "row_count"
-- message = "LIAISON: {actual} lignes au lieu de {expected}"
--
-- [[checks]]
-- name = "liaison-product-id-unique"
-- kind = "unique"
-- columns = ["product_id"]
-- message = "LIAISON: {failing} product_id en double après nettoyage"

SELECT DISTINCT product_id, id_web
FROM liaison
ORDER BY product_id
