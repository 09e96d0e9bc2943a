\set a random(0, 2) * 20000 + 1
UPDATE products SET price = price * 1.01 WHERE id BETWEEN :a AND :a + 19999;
