-- Login hardening and device identity (issue #18).
-- Never edit this file once merged: add a new migration instead.

-- The id each laptop database stamps its ops with (the HLC's device), bound to the one
-- account that first used it. The server issues these ids at login; a device row stays when
-- its laptop gets a new id (after a backup restore), so the ops it made stay valid.
CREATE TABLE devices (
    device_id  TEXT        PRIMARY KEY,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX devices_by_user ON devices (user_id);

-- Devices that pushed before ids were issued, bound to the account that pushed first.
INSERT INTO devices (device_id, user_id)
SELECT DISTINCT ON (o.device_id) o.device_id, u.id
FROM ops o
JOIN users u ON lower(u.username) = lower(o.user_name)
WHERE o.device_id ~ '^[A-Za-z0-9_]{1,64}$'
ORDER BY o.device_id, o.seq
ON CONFLICT (device_id) DO NOTHING;

-- A family of refresh tokens belongs to one device (NULL: opened before device ids).
-- `replaced_by` is the token a refresh issued in exchange, so a refresh whose answer was
-- lost can be told from a copied token (the successor was never used). `superseded` marks
-- a successor withdrawn that way: it is revoked alone, not its family.
ALTER TABLE refresh_tokens
    ADD COLUMN device_id   TEXT,
    ADD COLUMN replaced_by UUID,
    ADD COLUMN superseded  BOOLEAN NOT NULL DEFAULT FALSE;

-- Addresses an account signed in from with its password. Failures of that account from
-- other addresses never lock it out of these.
CREATE TABLE known_addresses (
    user_id   BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    address   TEXT        NOT NULL,
    last_seen TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, address)
);

-- Login attempts are now counted per account and address (`acct:NAME@ADDR`), per address
-- (`ip:ADDR`) and per account from addresses it never signed in from (`acct-all:NAME`); the
-- old per-name keys let anyone lock out any account.
DELETE FROM login_failures WHERE key LIKE 'user:%';
