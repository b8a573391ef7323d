-- description = "Every other wine: price z-score of 2 or less (or undefined)."
-- tags = ["pricing"]
-- inputs = ["price_zscore"]
-- key = ["product_id"]

SELECT *
FROM price_zscore
WHERE z_score IS NULL OR z_score <= 2
ORDER BY z_score DESC, product_id
