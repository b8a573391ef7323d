-- description = """
-- Each wine's price z-score over the fusion rows: (price - mean) / sample standard deviation."""
-- tags = ["pricing"]
-- inputs = ["fusion"]
-- key = ["product_id"]

WITH stats AS (
    SELECT AVG(price) AS mean_price, STDDEV_SAMP(price) AS sd_price
    FROM fusion
)
SELECT f.product_id,
       f.post_title,
       f.price,
       f.total_sales,
       ROUND(f.price * f.total_sales, 2) AS ca,
       (f.price - s.mean_price) / s.sd_price AS z_score
FROM fusion AS f
CROSS JOIN stats AS s
ORDER BY z_score DESC, f.product_id
