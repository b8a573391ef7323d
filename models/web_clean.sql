-- description = "Web rows that carry a sku: one product row and one image row per wine."
-- inputs = ["web"]
-- key = ["sku", "post_type"]

SELECT *
FROM web
WHERE sku IS NOT NULL
