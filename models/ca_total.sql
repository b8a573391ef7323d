-- description = "Total revenue of the month, with the number of products and bottles sold."
-- tags = ["finance"]
-- inputs = ["ca"]
-- key = []
--
-- [[checks]]
-- name = "test-ca"
-- kind = "expression"
-- actual = "MAX(ca_total)"
-- tolerance = 0.01
-- message = "CA: {actual:fr}€ au lieu de {expected:fr}€"
--
-- [[checks]]
-- name = "ca-recalcule"
-- kind = "expression"
-- actual = "MAX(ca_total)"
-- expected = "(SELECT SUM(price * total_sales) FROM fusion)"
-- tolerance = 0.01
-- message = "CA: {actual:fr}€ mais Σ prix × ventes de la fusion = {expected:fr}€"

SELECT ROUND(SUM(ca), 2) AS ca_total,
       COUNT(*) AS products,
       SUM(total_sales) AS bottles_sold
FROM ca
