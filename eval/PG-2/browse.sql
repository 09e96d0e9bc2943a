\set a random(1, 59900)
SELECT id, name, price, stock FROM products WHERE id BETWEEN :a AND :a + 20 ORDER BY price;
SELECT product, sum(qty) FROM orders WHERE product = :a GROUP BY product;
