-- Instants are BIGINT milliseconds since the Unix epoch (UTC); lists and
-- attribute maps are JSON text. The SQLite migration of the same name
-- has the same tables, columns and constraints.

CREATE TABLE service_accounts (
    id               TEXT    NOT NULL PRIMARY KEY,
    name             TEXT    NOT NULL,
    description      TEXT    NOT NULL,
    active           BOOLEAN NOT NULL,
    roles_json       TEXT    NOT NULL,
    permissions_json TEXT    NOT NULL,
    groups_json      TEXT    NOT NULL,
    attributes_json  TEXT    NOT NULL
);

CREATE TABLE clients (
    id                             TEXT    NOT NULL PRIMARY KEY,
    client_type                    TEXT    NOT NULL CHECK (client_type IN ('confidential', 'public')),
    client_name                    TEXT    NOT NULL,
    auth_method                    TEXT    NOT NULL,
    scope                          TEXT,
    access_token_ttl_minutes       INTEGER NOT NULL,
    redirect_uris_json             TEXT    NOT NULL,
    post_logout_redirect_uris_json TEXT    NOT NULL,
    service_account_id             TEXT    REFERENCES service_accounts (id) ON DELETE SET NULL,
    created_at                     BIGINT  NOT NULL,
    current_hash                   TEXT,
    current_created_at             BIGINT,
    current_expires_at             BIGINT,
    previous_hash                  TEXT,
    previous_created_at            BIGINT,
    previous_expires_at            BIGINT,
    previous_grace_expires_at      BIGINT,
    secrets_version                BIGINT  NOT NULL DEFAULT 0
);

CREATE INDEX clients_service_account_id ON clients (service_account_id);

CREATE TABLE catalog_permissions (
    name        TEXT NOT NULL PRIMARY KEY,
    description TEXT NOT NULL
);

CREATE TABLE catalog_roles (
    name             TEXT NOT NULL PRIMARY KEY,
    description      TEXT NOT NULL,
    permissions_json TEXT NOT NULL
);

CREATE TABLE catalog_groups (
    name        TEXT NOT NULL PRIMARY KEY,
    description TEXT NOT NULL
);

CREATE TABLE signing_keys (
    kid         TEXT   NOT NULL PRIMARY KEY,
    alg         TEXT   NOT NULL,
    private_key BYTEA  NOT NULL,
    public_jwk  TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);

-- At most one active (unretired) key, whatever races the code loses.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((retired_at IS NULL)) WHERE retired_at IS NULL;

CREATE TABLE revoked_tokens (
    jti        TEXT   NOT NULL PRIMARY KEY,
    client_id  TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);

CREATE TABLE audit_events (
    id          BIGSERIAL PRIMARY KEY,
    at          BIGINT  NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    target_type TEXT    NOT NULL,
    target_id   TEXT    NOT NULL,
    outcome     TEXT    NOT NULL
);

CREATE INDEX audit_events_target ON audit_events (target_id, at);
CREATE INDEX audit_events_at ON audit_events (at);
