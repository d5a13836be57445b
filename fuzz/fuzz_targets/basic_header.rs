//! `Authorization: Basic …` after the scheme (RFC 6749 §2.3.1): whatever
//! the bytes, the parser answers without panicking, never yields an empty
//! client id, and what it yields encodes back to itself.
#![no_main]

use auth_http::client_auth::parse_basic_value;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;

fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        // As decoded credentials, bytes that are not UTF-8 are refused.
        let encoded = base64::engine::general_purpose::STANDARD.encode(data);
        assert_eq!(parse_basic_value(&encoded), None);
        return;
    };
    for candidate in [
        text.to_owned(),
        base64::engine::general_purpose::STANDARD.encode(data),
    ] {
        if let Some((id, secret)) = parse_basic_value(&candidate) {
            assert!(!id.is_empty(), "an empty client id was accepted");
            let again = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                form_encode(&id),
                form_encode(&secret)
            ));
            assert_eq!(parse_basic_value(&again), Some((id, secret)));
        }
    }
});
