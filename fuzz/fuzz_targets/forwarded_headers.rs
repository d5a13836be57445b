//! Forwarding headers (see docs/reference/proxy.md, RFC 7239). The input is a peer selector
//! byte and header lines `NAME:VALUE` separated by newlines. Whatever they
//! hold, with either header family: no panic; the scheme is `http` or
//! `https`; the host can go into an issuer URL unescaped; and an untrusted
//! peer changes nothing.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use auth_service::forwarded::{resolve, ForwardedHeaders, Forwarding, TrustedProxies};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 6] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "host",
];

fn host_is_safe(host: &str) -> bool {
    host.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':' | b'[' | b']'))
        && !host.is_empty()
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    // Raw bytes, control characters and all: the rules must cope with
    // whatever a server hands them, not only what actix would accept.
    let mut headers: Vec<(&str, &[u8])> = Vec::new();
    for line in rest.split(|b| *b == b'\n') {
        let Some((&which, value)) = line.split_first() else {
            continue;
        };
        headers.push((NAMES[usize::from(which) % NAMES.len()], value));
    }
    let host_only: Vec<(&str, &[u8])> = headers
        .iter()
        .copied()
        .filter(|(name, _)| *name == "host")
        .collect();
    // The cluster network trusted too, as for an ingress named explicitly,
    // so that the 10.0.0.x peers below exercise the trusted path.
    let Ok(trusted) = TrustedProxies::parse("127.0.0.0/8, ::1, 10.0.0.0/8") else {
        return;
    };
    let family = if selector & 4 == 0 {
        ForwardedHeaders::XForwarded
    } else {
        ForwardedHeaders::Forwarded
    };
    let forwarding = Forwarding::new(trusted.clone(), family);
    let peer = if selector & 1 == 0 {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, selector))
    } else {
        IpAddr::V4(Ipv4Addr::new(203, 0, 113, selector))
    };
    let own = if selector & 2 == 0 { "http" } else { "https" };
    let got = resolve(peer, own, headers.iter().copied(), &forwarding);
    assert!(got.scheme == "http" || got.scheme == "https");
    assert!(host_is_safe(&got.host), "unsafe host {:?}", got.host);
    assert_eq!(got.peer, peer);
    if !trusted.contains(peer) {
        assert_eq!(got, resolve(peer, own, host_only, &forwarding));
    }
});
