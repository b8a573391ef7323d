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

-- The ranking runs on a narrow projection (sku, the tie-breakers and a row number) and the
-- winning rows are then joined back: sorting the 28-column rows, long excerpts included, costs
-- far more than sorting five columns.
WITH numbered AS (
    SELECT *, ROW_NUMBER() OVER () AS row_in_export
    FROM web_clean
),
winners AS (
    SELECT row_in_export
    FROM (
        SELECT row_in_export,
               ROW_NUMBER() OVER (
                   PARTITION BY sku
                   ORDER BY total_sales DESC NULLS LAST,
                            CASE WHEN post_type = 'product' THEN 0 ELSE 1 END,
                            guid
               ) AS rank_in_sku
        FROM numbered
    )
    WHERE rank_in_sku = 1
)
SELECT n.* EXCLUDE (row_in_export)
FROM numbered AS n
JOIN winners AS w ON n.row_in_export = w.row_in_export
ORDER BY n.sku
