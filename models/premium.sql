-- description = "Premium wines: price z-score above 2."
-- tags = ["pricing"]
-- inputs = ["price_zscore"]
-- key = ["product_id"]
--
-- [[checks]]
-- name = "test-premium"
-- kind = "row_count"
-- message = "PREMIUM: {actual} vins au lieu de {expected}"
--
-- [[checks]]
-- name = "premium-recalcule"
-- kind = "expression"
-- actual = "COUNT(*)"
-- expected = "(SELECT COUNT(*) FROM fusion WHERE price > (SELECT AVG(price) + 2 * STDDEV_SAMP(price) FROM fusion))"
-- message = "PREMIUM: {actual} vins mais {expected} ont un prix au-delà de moyenne + 2 écarts-types"

SELECT *
FROM price_zscore
WHERE z_score > 2
ORDER BY z_score DESC, product_id
