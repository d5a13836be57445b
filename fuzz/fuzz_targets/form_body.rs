//! `application/x-www-form-urlencoded` bodies of the token, introspection
//! and revocation endpoints: no panic; an accepted body came from UTF-8,
//! holds every parameter once, and serialises back to the same parameters.
#![no_main]

use auth_http::client_auth::parse_form;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(form) = parse_form(data) else {
        return;
    };
    assert!(
        std::str::from_utf8(data).is_ok(),
        "a body that is not UTF-8 was accepted"
    );
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &form {
        assert!(!k.is_empty());
        assert!(!k.contains('\u{fffd}') && !v.contains('\u{fffd}'));
        s.append_pair(k, v);
    }
    let again = parse_form(s.finish().as_bytes()).expect("a re-serialised form parses");
    assert_eq!(again, form);
});
