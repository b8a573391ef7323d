-- description = "Total revenue of the month, with the number of products and bottles sold."
-- inputs = ["ca"]
-- key = []

SELECT ROUND(SUM(ca), 2) AS ca_total,
       COUNT(*) AS products,
       SUM(total_sales) AS bottles_sold
FROM ca
