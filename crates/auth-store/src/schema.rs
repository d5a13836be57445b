//! The tables of `migrations/{sqlite,postgres}`, in the column types both
//! backends share (`MultiConnection` supports no others).

diesel::table! {
    service_accounts (id) {
        id -> Text,
        name -> Text,
        description -> Text,
        active -> Bool,
        roles_json -> Text,
        permissions_json -> Text,
        groups_json -> Text,
        attributes_json -> Text,
    }
}

diesel::table! {
    clients (id) {
        id -> Text,
        client_type -> Text,
        client_name -> Text,
        auth_method -> Text,
        scope -> Nullable<Text>,
        access_token_ttl_minutes -> Integer,
        redirect_uris_json -> Text,
        post_logout_redirect_uris_json -> Text,
        service_account_id -> Nullable<Text>,
        created_at -> BigInt,
        current_hash -> Nullable<Text>,
        current_created_at -> Nullable<BigInt>,
        current_expires_at -> Nullable<BigInt>,
        previous_hash -> Nullable<Text>,
        previous_created_at -> Nullable<BigInt>,
        previous_expires_at -> Nullable<BigInt>,
        previous_grace_expires_at -> Nullable<BigInt>,
        secrets_version -> BigInt,
        incarnation -> Text,
    }
}

diesel::table! {
    catalog_permissions (name) {
        name -> Text,
        description -> Text,
    }
}

diesel::table! {
    catalog_roles (name) {
        name -> Text,
        description -> Text,
        permissions_json -> Text,
    }
}

diesel::table! {
    catalog_groups (name) {
        name -> Text,
        description -> Text,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        private_key -> Binary,
        public_jwk -> Text,
        created_at -> BigInt,
        retired_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    revoked_tokens (jti) {
        jti -> Text,
        client_id -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        at -> BigInt,
        actor -> Text,
        action -> Text,
        target_type -> Text,
        target_id -> Text,
        outcome -> Text,
    }
}

diesel::joinable!(clients -> service_accounts (service_account_id));

diesel::allow_tables_to_appear_in_same_query!(clients, service_accounts);
