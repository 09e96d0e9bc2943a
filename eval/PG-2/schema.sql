CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2) NOT NULL, stock int NOT NULL DEFAULT 1000);
INSERT INTO products SELECT g, 'product-' || g, 10 + (g % 500), 1000 FROM generate_series(1, 60000) g;
CREATE TABLE orders (id bigserial PRIMARY KEY, product int NOT NULL, qty int NOT NULL, price numeric(10,2) NOT NULL, at timestamptz NOT NULL DEFAULT now());
CREATE INDEX orders_product ON orders (product);
CREATE FUNCTION notify_price_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('price_changed', NEW.id::text); RETURN NEW; END $$;
CREATE TRIGGER products_price_notify AFTER UPDATE OF price ON products FOR EACH ROW WHEN (OLD.price IS DISTINCT FROM NEW.price) EXECUTE FUNCTION notify_price_change();
