\set aid random(1, 2000)
\set delta random(-500, 500)
BEGIN;
UPDATE accounts SET balance = balance + :delta WHERE id = :aid;
INSERT INTO events (account, delta) VALUES (:aid, :delta);
INSERT INTO jobs (kind, payload) VALUES ('receipt-mail', 'account ' || :aid || ' delta ' || :delta);
COMMIT;
SELECT owner, balance FROM accounts WHERE id = :aid;
