//! `PATCH /clients/{clientId}` bodies (RFC 7396 merge patch, docs/reference/admin-api.md): any
//! bytes give patched settings or a 400 whose detail has no line breaks,
//! and an accepted patch applied again changes nothing more.
#![no_main]

use auth_domain::{Client, ClientId, ClientSettings, ClientType, SecretSlots};
use auth_http::admin::clients::ClientPatch;
use libfuzzer_sys::fuzz_target;

fn client() -> Client {
    let id = ClientId::parse("fuzz-client").expect("a valid id");
    Client {
        settings: ClientSettings::defaults_for(&id),
        id,
        client_type: ClientType::Confidential,
        redirect_uris: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        service_account_id: None,
        created_at: time::OffsetDateTime::UNIX_EPOCH,
        secrets: SecretSlots {
            current: None,
            previous: None,
        },
        secrets_version: 0,
        incarnation: String::new(),
    }
}

fuzz_target!(|data: &[u8]| {
    let base = client();
    match ClientPatch::apply(data, &base) {
        Ok(settings) => {
            let mut patched = base.clone();
            patched.settings = settings.clone();
            assert_eq!(
                ClientPatch::apply(data, &patched).expect("applies again"),
                settings
            );
        }
        Err(problem) => {
            assert_eq!(problem.status().as_u16(), 400);
            assert!(!problem.detail().contains(['\r', '\n']));
        }
    }
});
