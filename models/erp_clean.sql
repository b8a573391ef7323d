-- description = "The ERP export without duplicate rows."
-- inputs = ["erp"]
-- key = ["product_id"]

SELECT DISTINCT product_id, onsale_web, price, stock_quantity, stock_status
FROM erp
ORDER BY product_id
