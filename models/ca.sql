-- description = "Revenue (chiffre d'affaires) per product, largest first."
-- tags = ["finance"]
-- inputs = ["fusion"]
-- key = ["product_id"]
--
-- [[checks]]
-- name = "ca-produits-de-l-erp"
-- kind = "relationships"
-- column = "product_id"
-- to = "erp_clean"

SELECT product_id,
       post_title,
       price,
       total_sales,
       ROUND(price * total_sales, 2) AS ca
FROM fusion
ORDER BY ca DESC, product_id
