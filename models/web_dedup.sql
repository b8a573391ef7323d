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

-- The winner of each sku is chosen on a narrow projection (an aggregate keeping the row number of
-- the first row in the tie-break order), then its row is joined back: sorting or windowing the
-- 28-column rows, long excerpts included, costs far more.
WITH numbered AS (
    SELECT *, ROW_NUMBER() OVER () AS row_in_export
    FROM web_clean
),
winners AS (
    SELECT first_value(row_in_export ORDER BY total_sales DESC NULLS LAST,
                                              CASE WHEN post_type = 'product' THEN 0 ELSE 1 END,
                                              guid) AS row_in_export
    FROM numbered
    GROUP BY sku
)
SELECT n.* EXCLUDE (row_in_export)
FROM numbered AS n
JOIN winners AS w ON n.row_in_export = w.row_in_export
ORDER BY n.sku
