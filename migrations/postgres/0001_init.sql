-- ICC Facturas central server schema, version 1 (PostgreSQL).
-- Never edit this file once merged: add a new migration instead.

CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    username      TEXT        NOT NULL,
    password_hash TEXT        NOT NULL,
    role          TEXT        NOT NULL CHECK (role IN ('admin', 'gerente', 'contabilidad', 'admin_obra')),
    obras         TEXT[]      NOT NULL DEFAULT '{}',
    disabled      BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_by_name ON users (lower(username));

-- Refresh tokens, stored as SHA-256 hashes. Each login starts a family; every refresh
-- marks the token used and issues the next one in the family. A used token presented again
-- means it was stolen: the whole family is revoked.
CREATE TABLE refresh_tokens (
    id         UUID        PRIMARY KEY,
    family     UUID        NOT NULL,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash BYTEA       NOT NULL UNIQUE,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family);

-- Failed logins per key (`ip:ADDR` or `user:NAME`) in the current window, shared by every
-- server instance.
CREATE TABLE login_failures (
    key          TEXT        PRIMARY KEY,
    window_start TIMESTAMPTZ NOT NULL,
    failures     INTEGER     NOT NULL
);

-- Every operation ever accepted, once (op_id), in server order (seq: the pull cursor).
CREATE TABLE ops (
    seq         BIGSERIAL   PRIMARY KEY,
    op_id       UUID        NOT NULL UNIQUE,
    entity      TEXT        NOT NULL,
    entity_id   TEXT        NOT NULL,
    field       TEXT        NOT NULL,
    value       JSONB       NOT NULL,
    hlc         TEXT        NOT NULL,
    base_hlc    TEXT,
    obra        TEXT,
    device_id   TEXT        NOT NULL,
    user_name   TEXT        NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX ops_by_obra ON ops (obra, seq);

-- The winning value of every field (last writer by HLC).
CREATE TABLE fields (
    entity    TEXT   NOT NULL,
    entity_id TEXT   NOT NULL,
    field     TEXT   NOT NULL,
    value     JSONB  NOT NULL,
    hlc       TEXT   NOT NULL,
    op_seq    BIGINT NOT NULL REFERENCES ops (seq),
    PRIMARY KEY (entity, entity_id, field)
);

-- The obra each entity belongs to, as the server knows it (authorization).
CREATE TABLE entity_obras (
    entity    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    obra      TEXT,
    PRIMARY KEY (entity, entity_id)
);

-- Values that lost to a concurrent edit of the same field. `seq` orders them in the pull
-- stream with the ops (from the same sequence).
CREATE TABLE conflicts (
    id           BIGSERIAL   PRIMARY KEY,
    seq          BIGINT      NOT NULL,
    entity       TEXT        NOT NULL,
    entity_id    TEXT        NOT NULL,
    field        TEXT        NOT NULL,
    winner_value JSONB       NOT NULL,
    winner_hlc   TEXT        NOT NULL,
    loser_value  JSONB       NOT NULL,
    loser_hlc    TEXT        NOT NULL,
    loser_user   TEXT        NOT NULL,
    obra         TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    resolved_by  TEXT,
    resolved_at  TIMESTAMPTZ
);
CREATE INDEX conflicts_by_seq ON conflicts (seq);
