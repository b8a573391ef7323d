-- description = """
-- One row per sku: the one with the largest total_sales. Ties go to the product row,
-- then to the smallest guid, so the choice never depends on row order."""
-- inputs = ["web_clean"]
-- key = ["sku"]
--
-- [[checks]]
-- name = "test-nettoyage-web-dedup"
-- kind = "row_count"
-- message = "WEB DEDUP: {actual} lignes au lieu de {expected}"
--
-- [[checks]]
-- name = "web-dedup-sku-unique"
-- kind = "unique"
-- columns = ["sku"]
-- message = "WEB DEDUP: {failing} sku en double"

SELECT * EXCLUDE (rank_in_sku)
FROM (
    SELECT *,
           ROW_NUMBER() OVER (
               PARTITION BY sku
               ORDER BY total_sales DESC NULLS LAST,
                        CASE WHEN post_type = 'product' THEN 0 ELSE 1 END,
                        guid
           ) AS rank_in_sku
    FROM web_clean
)
WHERE rank_in_sku = 1
ORDER BY sku
