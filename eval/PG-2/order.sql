\set pid random(1, 60000)
\set qty random(1, 3)
BEGIN;
UPDATE products SET stock = stock - :qty WHERE id = :pid;
INSERT INTO orders (product, qty, price) SELECT :pid, :qty, price FROM products WHERE id = :pid;
COMMIT;
