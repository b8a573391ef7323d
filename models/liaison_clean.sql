-- description = "The ERP → web mapping without duplicate rows."
-- inputs = ["liaison"]
-- key = ["product_id"]

SELECT DISTINCT product_id, id_web
FROM liaison
ORDER BY product_id
