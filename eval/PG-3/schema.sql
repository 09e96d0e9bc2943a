CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance bigint NOT NULL DEFAULT 0);
INSERT INTO accounts SELECT g, 'owner-' || g, 1000 FROM generate_series(1, 2000) g;
CREATE TABLE events (id bigserial PRIMARY KEY, account int NOT NULL, delta int NOT NULL, at timestamptz NOT NULL DEFAULT now());
CREATE INDEX events_account ON events (account);
CREATE TABLE jobs (id bigserial PRIMARY KEY, kind text NOT NULL, payload text NOT NULL, status text NOT NULL DEFAULT 'queued', created_at timestamptz NOT NULL DEFAULT now(), done_at timestamptz);
CREATE INDEX jobs_queued ON jobs (id) WHERE status = 'queued';
