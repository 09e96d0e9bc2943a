\set pid random(1, 60000)
UPDATE products SET price = price + 0.01 WHERE id = :pid;
