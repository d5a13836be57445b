//! The domain's string grammars: ISO-8601 durations (configuration),
//! RFC 6749 §3.3 scope strings and client ids (requests, seed files, admin
//! API). No panic or overflow; what is accepted displays back to itself.
#![no_main]

use auth_domain::{parse_duration, ClientId, ScopeSet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_duration(text) {
        Ok(d) => assert!(
            text.to_ascii_uppercase().contains('P'),
            "{text:?} gave {d:?}"
        ),
        Err(e) => assert_eq!(e.input, text),
    }
    if let Ok(scope) = ScopeSet::parse(text) {
        let shown = scope.to_string();
        assert_eq!(
            ScopeSet::parse(&shown).expect("a displayed scope parses"),
            scope
        );
        assert!(!shown.contains(['"', '\\', '\t', '\r', '\n', '\0']));
    }
    if let Ok(id) = ClientId::parse(text) {
        assert_eq!(id.as_str(), text);
        assert!(text.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    }
});
