DROP TABLE audit_events;
DROP TABLE revoked_tokens;
DROP TABLE signing_keys;
DROP TABLE catalog_groups;
DROP TABLE catalog_roles;
DROP TABLE catalog_permissions;
DROP TABLE clients;
DROP TABLE service_accounts;
