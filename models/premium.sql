-- description = "Premium wines: price z-score above 2."
-- inputs = ["price_zscore"]
-- key = ["product_id"]

SELECT *
FROM price_zscore
WHERE z_score > 2
ORDER BY z_score DESC, product_id
