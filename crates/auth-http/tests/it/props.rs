//! Properties of every parser that reads what a client sends. Each one must
//! never panic whatever the input, accept what RFC 6749, RFC 7239 and
//! RFC 7396 allow, give back exactly what was encoded, and refuse the rest.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use auth_domain::client::{default_client_name, DEFAULT_ACCESS_TOKEN_TTL_MINUTES};
use auth_domain::{
    Client, ClientAuthMethod, ClientId, ClientSettings, ClientType, ScopeSet, SecretSlots,
};
use auth_http::admin::clients::ClientPatch;
use auth_http::client_auth::{parse_basic_value, parse_form};
use auth_service::forwarded::{
    resolve, EffectiveRequest, ForwardedHeaders, Forwarding, TrustedProxies,
};
use base64::Engine as _;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Any text without U+FFFD, which the form parser reserves for "was not UTF-8".
fn text() -> impl Strategy<Value = String> {
    any::<String>().prop_map(|s| s.replace('\u{fffd}', ""))
}

// --- Basic authorization header (RFC 6749 §2.3.1) ---

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn basic_credentials_encoded_per_rfc6749_decode_to_themselves(id in text(), secret in text()) {
        prop_assume!(!id.is_empty());
        let header = b64(format!("{}:{}", form_encode(&id), form_encode(&secret)).as_bytes());
        prop_assert_eq!(parse_basic_value(&header), Some((id.clone(), secret.clone())));
        // Whitespace around the token is tolerated.
        prop_assert_eq!(parse_basic_value(&format!("  {header} ")), Some((id, secret)));
    }

    #[test]
    fn any_basic_value_parses_or_is_refused_without_panicking(value in any::<String>()) {
        if let Some((id, _)) = parse_basic_value(&value) {
            prop_assert!(!id.is_empty());
        }
    }

    #[test]
    fn decoded_basic_bytes_without_a_colon_are_refused(raw in "[^:]{0,64}") {
        prop_assert_eq!(parse_basic_value(&b64(raw.as_bytes())), None);
    }

    #[test]
    fn an_empty_client_id_is_refused(secret in text()) {
        prop_assert_eq!(parse_basic_value(&b64(format!(":{}", form_encode(&secret)).as_bytes())), None);
    }

    #[test]
    fn basic_bytes_that_are_not_utf8_are_refused(
        id in "[a-z]{1,10}",
        bad in prop::sample::select(vec![vec![0xffu8], vec![0xc3], vec![0xe2, 0x82], vec![0xed, 0xa0, 0x80], vec![0xf8, 0x88, 0x80, 0x80]]),
        in_id in any::<bool>(),
    ) {
        let mut raw = Vec::new();
        raw.extend_from_slice(id.as_bytes());
        if in_id {
            raw.extend_from_slice(&bad);
            raw.extend_from_slice(b":secret");
        } else {
            raw.extend_from_slice(b":");
            raw.extend_from_slice(&bad);
        }
        prop_assert_eq!(parse_basic_value(&b64(&raw)), None);
    }

    #[test]
    fn percent_escapes_that_decode_to_invalid_utf8_or_are_cut_short_are_refused(
        id in "[a-z]{1,10}",
        escape in prop::sample::select(vec!["%ff", "%c3", "%", "%4", "%zz", "%%41"]),
    ) {
        prop_assert_eq!(parse_basic_value(&b64(format!("{id}:x{escape}").as_bytes())), None);
        prop_assert_eq!(parse_basic_value(&b64(format!("{id}{escape}:x").as_bytes())), None);
    }

    #[test]
    fn text_that_is_not_base64_is_refused(value in "[^A-Za-z0-9+/= \t]{1,40}") {
        prop_assert_eq!(parse_basic_value(&value), None);
    }
}

// --- Form bodies (application/x-www-form-urlencoded) ---

fn distinct_params() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(
        text().prop_filter("non-empty key", |k| !k.is_empty()),
        text(),
        0..8,
    )
}

fn serialize(pairs: &[(String, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn a_serialized_form_parses_to_the_same_parameters(params in distinct_params(), order in any::<prop::sample::Index>()) {
        let mut pairs: Vec<(String, String)> = params.clone().into_iter().collect();
        if !pairs.is_empty() {
            let at = order.index(pairs.len());
            pairs.rotate_left(at);
        }
        let parsed = parse_form(serialize(&pairs).as_bytes());
        prop_assert_eq!(parsed.ok(), Some(params));
    }

    #[test]
    fn a_parameter_given_twice_is_refused(
        params in distinct_params(),
        key in text().prop_filter("non-empty key", |k| !k.is_empty()),
        first in text(),
        second in text(),
    ) {
        let mut pairs: Vec<(String, String)> = params.into_iter().filter(|(k, _)| *k != key).collect();
        pairs.insert(0, (key.clone(), first));
        pairs.push((key, second));
        prop_assert!(parse_form(serialize(&pairs).as_bytes()).is_err());
    }

    #[test]
    fn any_body_parses_or_is_refused_without_panicking(body in prop::collection::vec(any::<u8>(), 0..256)) {
        match parse_form(&body) {
            Ok(form) => {
                prop_assert!(std::str::from_utf8(&body).is_ok());
                for (k, v) in &form {
                    prop_assert!(!k.is_empty());
                    let replaced = k.contains(char::REPLACEMENT_CHARACTER) || v.contains(char::REPLACEMENT_CHARACTER);
                    prop_assert!(!replaced, "{:?}={:?}", k, v);
                }
            }
            Err(e) => prop_assert_eq!(e.status().as_u16(), 400),
        }
    }

    #[test]
    fn percent_escapes_of_invalid_utf8_are_refused(
        key in "[a-z_]{1,10}",
        escape in prop::sample::select(vec!["%ff", "%c3", "%c3%28", "%ed%a0%80", "%80"]),
        in_key in any::<bool>(),
    ) {
        let body = if in_key { format!("{key}{escape}=v") } else { format!("{key}=v{escape}") };
        prop_assert!(parse_form(body.as_bytes()).is_err(), "{:?}", body);
    }
}

// --- Forwarding headers (see docs/reference/proxy.md, RFC 7239) ---

const FORWARDING: [&str; 5] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
];

/// Header bytes as a client could send them: visible ASCII, space, tab and
/// obs-text, anything `HeaderValue` accepts.
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            8 => 0x20u8..=0x7e,
            1 => Just(b'\t'),
            1 => 0x80u8..=0xff,
        ],
        0..48,
    )
}

/// Text shaped like forwarding headers, so that parsing gets deep.
fn forwarding_text() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::sample::select(vec![
            "for=",
            "proto=",
            "host=",
            "by=",
            "https",
            "http",
            "HTTPS",
            "ftp",
            "203.0.113.7",
            "10.0.0.1",
            "127.0.0.1",
            "[2001:db8::1]",
            "[::1]",
            "\"",
            "\\",
            ";",
            ",",
            " ",
            ":",
            "443",
            "8443",
            "0",
            "65536",
            "unknown",
            "_hidden",
            "evil.example",
            "a.example",
            "/",
            "@",
            "=",
            "é",
        ]),
        0..12,
    )
    .prop_map(|v| v.concat().into_bytes())
}

fn forwarding_headers() -> impl Strategy<Value = Vec<(usize, Vec<u8>)>> {
    prop::collection::vec(
        (
            0..FORWARDING.len(),
            prop_oneof![header_bytes(), forwarding_text()],
        ),
        0..6,
    )
}

/// The header lines of `map` as [`resolve`] takes them.
fn lines(map: &HeaderMap) -> impl Iterator<Item = (&str, &[u8])> {
    map.iter().map(|(n, v)| (n.as_str(), v.as_bytes()))
}

fn header_map(host: &str, headers: &[(usize, Vec<u8>)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert(
        HeaderName::from_static("host"),
        HeaderValue::from_str(host).unwrap(),
    );
    for (i, value) in headers {
        if let Ok(v) = HeaderValue::from_bytes(value) {
            map.append(HeaderName::from_static(FORWARDING[*i]), v);
        }
    }
    map
}

fn untrusted_peer() -> impl Strategy<Value = IpAddr> {
    (1u8..=254).prop_map(|n| IpAddr::V4(Ipv4Addr::new(203, 0, 113, n)))
}

fn trusted_peer() -> impl Strategy<Value = IpAddr> {
    (1u8..=254, 0u8..=255).prop_map(|(a, b)| IpAddr::V4(Ipv4Addr::new(10, a, b, 1)))
}

/// A host an issuer URL can safely be built from: `name[:port]` of
/// letters, digits, `-`, `.`, `_`, or `[v6][:port]`.
fn safe_host(host: &str) -> bool {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((inner, after)) = rest.split_once(']') else {
            return false;
        };
        if inner.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            p => ("v6", p.strip_prefix(':')),
        }
    } else {
        match host.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (host, None),
        }
    };
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    let port_ok = port.is_none_or(|p| {
        p.parse::<u16>().is_ok_and(|n| n > 0) && p.bytes().all(|b| b.is_ascii_digit())
    });
    name_ok && port_ok
}

fn without_forwarding(
    peer: IpAddr,
    own: &str,
    host: &str,
    forwarding: &Forwarding,
) -> EffectiveRequest {
    resolve(peer, own, lines(&header_map(host, &[])), forwarding)
}

/// Loopback and 10.0.0.0/8 trusted (an ingress on the cluster network,
/// named explicitly), with the proxies writing `family`.
fn behind_ingress(family: ForwardedHeaders) -> Forwarding {
    Forwarding::new(
        TrustedProxies::parse("10.0.0.0/8, 127.0.0.0/8, ::1").unwrap(),
        family,
    )
}

fn family() -> impl Strategy<Value = ForwardedHeaders> {
    prop_oneof![
        Just(ForwardedHeaders::XForwarded),
        Just(ForwardedHeaders::Forwarded)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn an_untrusted_peer_cannot_change_anything(
        peer in untrusted_peer(),
        https in any::<bool>(),
        headers in forwarding_headers(),
        family in family(),
    ) {
        let forwarding = behind_ingress(family);
        let own = if https { "https" } else { "http" };
        let host = "auth.example:8080";
        let got = resolve(peer, own, lines(&header_map(host, &headers)), &forwarding);
        prop_assert_eq!(got, without_forwarding(peer, own, host, &forwarding));
    }

    #[test]
    fn by_default_a_peer_on_the_cluster_network_cannot_change_anything(
        peer in trusted_peer(),
        https in any::<bool>(),
        headers in forwarding_headers(),
    ) {
        let forwarding = Forwarding::default();
        let own = if https { "https" } else { "http" };
        let host = "auth.example:8080";
        let got = resolve(peer, own, lines(&header_map(host, &headers)), &forwarding);
        prop_assert_eq!(got, without_forwarding(peer, own, host, &forwarding));
    }

    #[test]
    fn whatever_a_trusted_peer_sends_the_result_is_well_formed(
        peer in trusted_peer(),
        headers in forwarding_headers(),
        family in family(),
    ) {
        let forwarding = behind_ingress(family);
        let got = resolve(peer, "http", lines(&header_map("auth.example", &headers)), &forwarding);
        prop_assert!(got.scheme == "http" || got.scheme == "https", "{:?}", got);
        prop_assert!(safe_host(&got.host), "unsafe host {:?} from {:?}", got.host, headers);
        prop_assert_eq!(got.peer, peer);
        prop_assert_eq!(got.origin(), format!("{}://{}", got.scheme, got.host));
    }

    #[test]
    fn x_forwarded_proto_from_a_trusted_peer_counts_only_when_http_or_https(
        peer in trusted_peer(),
        value in prop_oneof![
            prop::sample::select(vec!["http", "https", "HTTPS", "Http", "ftp", "https ", "javascript", "http,https", "https, http", ""]).prop_map(str::to_owned),
            "[ -~]{0,12}",
        ],
    ) {
        let forwarding = behind_ingress(ForwardedHeaders::XForwarded);
        let mut headers = header_map("auth.example", &[]);
        headers.insert(HeaderName::from_static("x-forwarded-proto"), HeaderValue::from_str(&value).unwrap());
        let got = resolve(peer, "http", lines(&headers), &forwarding);
        let left_most = value.split(',').map(str::trim).find(|v| !v.is_empty()).unwrap_or("");
        let want = if left_most.eq_ignore_ascii_case("https") { "https" } else { "http" };
        prop_assert_eq!(got.scheme, want, "{:?}", value);
    }

    #[test]
    fn only_the_configured_family_sets_the_scheme(peer in trusted_peer(), forwarded_https in any::<bool>(), own_https in any::<bool>(), family in family()) {
        let forwarding = behind_ingress(family);
        let (f, x) = if forwarded_https { ("https", "http") } else { ("http", "https") };
        let own = if own_https { "https" } else { "http" };
        let mut headers = header_map("auth.example", &[]);
        headers.insert(HeaderName::from_static("forwarded"), HeaderValue::from_str(&format!("proto={f}")).unwrap());
        headers.insert(HeaderName::from_static("x-forwarded-proto"), HeaderValue::from_str(x).unwrap());
        let want = match family {
            ForwardedHeaders::Forwarded => f,
            ForwardedHeaders::XForwarded => x,
        };
        prop_assert_eq!(resolve(peer, own, lines(&headers), &forwarding).scheme, want);
    }

    #[test]
    fn entries_a_client_prepends_to_x_forwarded_for_never_choose_the_source(
        peer in trusted_peer(),
        spoofed in prop::collection::vec("[ -+\\--~]{0,20}", 0..5),
        spoofed_forwarded in forwarding_text(),
        client in untrusted_peer(),
        proxies in prop::collection::vec(trusted_peer(), 0..3),
        client_port in prop::option::of(1u16..),
    ) {
        let forwarding = behind_ingress(ForwardedHeaders::XForwarded);
        // What the client sent, then what each trusted proxy appended.
        let mut items: Vec<String> = spoofed;
        items.push(match client_port {
            Some(p) => format!("{client}:{p}"),
            None => client.to_string(),
        });
        items.extend(proxies.iter().map(IpAddr::to_string));
        let mut headers = header_map("auth.example", &[]);
        headers.insert(HeaderName::from_static("x-forwarded-for"), HeaderValue::from_str(&items.join(", ")).unwrap());
        // A `Forwarded` header the client wrote, which these proxies pass
        // through untouched.
        if let Ok(v) = HeaderValue::from_bytes(&spoofed_forwarded) {
            headers.append(HeaderName::from_static("forwarded"), v);
        }
        prop_assert_eq!(resolve(peer, "http", lines(&headers), &forwarding).source, client);
    }

    #[test]
    fn forwarded_elements_on_a_client_line_never_choose_the_source(
        peer in trusted_peer(),
        spoofed in forwarding_text(),
        spoofed_xff in "[ -~]{0,40}",
        client in untrusted_peer(),
        proxies in prop::collection::vec(trusted_peer(), 0..3),
    ) {
        let forwarding = behind_ingress(ForwardedHeaders::Forwarded);
        let mut headers = header_map("auth.example", &[]);
        if let Ok(v) = HeaderValue::from_bytes(&spoofed) {
            headers.append(HeaderName::from_static("forwarded"), v);
        }
        // The first trusted proxy saw `client` as its peer and wrote its own
        // line; every later proxy appended one element for its peer.
        let mut chain = vec![format!("for={client};proto=https")];
        chain.extend(proxies.iter().map(|p| format!("for={p}")));
        headers.append(HeaderName::from_static("forwarded"), HeaderValue::from_str(&chain.join(", ")).unwrap());
        // An X-Forwarded-For the client wrote, passed through untouched.
        headers.insert(HeaderName::from_static("x-forwarded-for"), HeaderValue::from_str(&spoofed_xff).unwrap());
        prop_assert_eq!(resolve(peer, "http", lines(&headers), &forwarding).source, client);
    }

    #[test]
    fn a_chain_of_trusted_addresses_gives_the_left_most(peer in trusted_peer(), chain in prop::collection::vec(trusted_peer(), 1..5)) {
        let forwarding = behind_ingress(ForwardedHeaders::XForwarded);
        let mut headers = header_map("auth.example", &[]);
        let list: Vec<String> = chain.iter().map(IpAddr::to_string).collect();
        headers.insert(HeaderName::from_static("x-forwarded-for"), HeaderValue::from_str(&list.join(",")).unwrap());
        prop_assert_eq!(resolve(peer, "http", lines(&headers), &forwarding).source, chain[0]);
    }
}

// --- JSON merge patch of a client (RFC 7396, docs/reference/admin-api.md PATCH /clients/{id}) ---

/// One member of a generated patch.
#[derive(Debug, Clone)]
enum Member {
    Absent,
    Null,
    Valid(Value),
    Invalid(Value),
}

fn member(
    valid: BoxedStrategy<Value>,
    invalid: BoxedStrategy<Value>,
) -> impl Strategy<Value = Member> {
    prop_oneof![
        3 => Just(Member::Absent),
        2 => Just(Member::Null),
        4 => valid.prop_map(Member::Valid),
        1 => invalid.prop_map(Member::Invalid),
    ]
}

fn scope_token() -> impl Strategy<Value = String> {
    "[!#-\\[\\]-~]{1,8}"
}

fn name_member() -> impl Strategy<Value = Member> {
    member(
        "[A-Za-z0-9][A-Za-z0-9 :._-]{0,30}"
            .prop_map(Value::from)
            .boxed(),
        prop_oneof![
            Just(json!("")),
            Just(json!("   ")),
            Just(json!("a\nb")),
            Just(json!("tab\there")),
            Just(json!(7)),
            Just(json!(["x"])),
            "[a-z]{256,260}".prop_map(Value::from),
        ]
        .boxed(),
    )
}

fn method_member() -> impl Strategy<Value = Member> {
    member(
        prop::sample::select(vec!["client_secret_basic", "client_secret_post"])
            .prop_map(Value::from)
            .boxed(),
        prop_oneof![
            Just(json!("none")),
            Just(json!("private_key_jwt")),
            Just(json!("CLIENT_SECRET_POST")),
            Just(json!(true))
        ]
        .boxed(),
    )
}

fn scope_member() -> impl Strategy<Value = Member> {
    member(
        prop::collection::vec(scope_token(), 0..4)
            .prop_map(|t| Value::from(t.join(" ")))
            .boxed(),
        prop_oneof![
            Just(json!("a  b")),
            Just(json!(" a")),
            Just(json!("a\"b")),
            Just(json!("caf\u{e9}")),
            Just(json!(["read"]))
        ]
        .boxed(),
    )
}

fn ttl_member() -> impl Strategy<Value = Member> {
    member(
        (1u32..=1440).prop_map(Value::from).boxed(),
        prop_oneof![
            Just(json!(0)),
            Just(json!(1441)),
            Just(json!(-5)),
            Just(json!("30")),
            Just(json!(1.5)),
            Just(json!(u64::MAX))
        ]
        .boxed(),
    )
}

fn base_client() -> impl Strategy<Value = Client> {
    (
        "[!-~]{1,20}",
        "[A-Za-z ]{1,20}",
        any::<bool>(),
        prop::collection::vec(scope_token(), 0..3),
        1u32..=1440,
    )
        .prop_map(|(id, name, post, scope, ttl)| Client {
            id: ClientId::parse(&id).unwrap(),
            client_type: ClientType::Confidential,
            settings: ClientSettings {
                client_name: name,
                auth_method: if post {
                    ClientAuthMethod::ClientSecretPost
                } else {
                    ClientAuthMethod::ClientSecretBasic
                },
                scope: ScopeSet::parse(&scope.join(" ")).unwrap(),
                access_token_ttl_minutes: ttl,
            },
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
        })
}

type Patch = [(&'static str, Member); 4];

fn patch() -> impl Strategy<Value = Patch> {
    (name_member(), method_member(), scope_member(), ttl_member()).prop_map(|(n, m, s, t)| {
        [
            ("clientName", n),
            ("clientAuthenticationMethod", m),
            ("scope", s),
            ("accessTokenTtlMinutes", t),
        ]
    })
}

fn body_of(patch: &Patch) -> Vec<u8> {
    let mut map = Map::new();
    for (name, m) in patch {
        match m {
            Member::Absent => {}
            Member::Null => {
                map.insert((*name).to_owned(), Value::Null);
            }
            Member::Valid(v) | Member::Invalid(v) => {
                map.insert((*name).to_owned(), v.clone());
            }
        }
    }
    serde_json::to_vec(&Value::Object(map)).unwrap()
}

/// What RFC 7396 and docs/reference/admin-api.md say the patched settings are.
fn model(client: &Client, patch: &Patch) -> ClientSettings {
    let mut s = client.settings.clone();
    for (name, m) in patch {
        match (*name, m) {
            (_, Member::Absent | Member::Invalid(_)) => {}
            ("clientName", Member::Null) => s.client_name = default_client_name(&client.id),
            ("clientName", Member::Valid(v)) => s.client_name = v.as_str().unwrap().to_owned(),
            ("clientAuthenticationMethod", Member::Null) => {
                s.auth_method = ClientAuthMethod::ClientSecretBasic
            }
            ("clientAuthenticationMethod", Member::Valid(v)) => {
                s.auth_method = v.as_str().unwrap().parse().unwrap()
            }
            ("scope", Member::Null) => s.scope = ScopeSet::default(),
            ("scope", Member::Valid(v)) => s.scope = ScopeSet::parse(v.as_str().unwrap()).unwrap(),
            ("accessTokenTtlMinutes", Member::Null) => {
                s.access_token_ttl_minutes = DEFAULT_ACCESS_TOKEN_TTL_MINUTES
            }
            ("accessTokenTtlMinutes", Member::Valid(v)) => {
                s.access_token_ttl_minutes = u32::try_from(v.as_u64().unwrap()).unwrap()
            }
            _ => unreachable!(),
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn a_merge_patch_keeps_absent_resets_null_and_replaces_values(client in base_client(), patch in patch()) {
        let result = ClientPatch::apply(&body_of(&patch), &client);
        let invalid: Vec<&str> = patch.iter().filter(|(_, m)| matches!(m, Member::Invalid(_))).map(|(n, _)| *n).collect();
        match result {
            Ok(settings) => {
                prop_assert!(invalid.is_empty(), "accepted invalid {:?}", invalid);
                prop_assert_eq!(settings, model(&client, &patch));
            }
            Err(problem) => {
                prop_assert_eq!(problem.status().as_u16(), 400);
                // The 400 names one of the fields at fault.
                let field = problem.field().map(str::to_owned);
                prop_assert!(field.as_deref().is_some_and(|f| invalid.contains(&f)), "{:?} for {:?}", field, invalid);
            }
        }
    }

    #[test]
    fn applying_a_merge_patch_twice_changes_nothing_more(client in base_client(), patch in patch()) {
        let body = body_of(&patch);
        if let Ok(once) = ClientPatch::apply(&body, &client) {
            let mut patched = client.clone();
            patched.settings = once.clone();
            prop_assert_eq!(ClientPatch::apply(&body, &patched).unwrap(), once);
        }
    }

    #[test]
    fn unknown_members_and_the_client_id_are_refused_by_name(
        client in base_client(),
        patch in patch(),
        extra in prop_oneof![Just("clientId".to_owned()), Just("clientSecret".to_owned()), Just("scopes".to_owned()), "[a-zA-Z]{1,12}"],
    ) {
        prop_assume!(!["clientName", "clientAuthenticationMethod", "scope", "accessTokenTtlMinutes"].contains(&extra.as_str()));
        let mut value: Value = serde_json::from_slice(&body_of(&patch)).unwrap();
        value.as_object_mut().unwrap().insert(extra.clone(), json!("x"));
        let problem = ClientPatch::apply(&serde_json::to_vec(&value).unwrap(), &client).unwrap_err();
        prop_assert_eq!(problem.status().as_u16(), 400);
        let invalid_first = patch.iter().any(|(_, m)| matches!(m, Member::Invalid(_)));
        if !invalid_first {
            prop_assert_eq!(problem.field(), Some(extra.as_str()));
        }
    }

    #[test]
    fn any_body_is_a_patch_or_a_400_without_panicking(client in base_client(), body in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..128),
        "[\\[\\]{}\",:0-9a-zA-Z \\\\nul]{0,64}".prop_map(String::into_bytes),
    ]) {
        if let Err(problem) = ClientPatch::apply(&body, &client) {
            prop_assert_eq!(problem.status().as_u16(), 400);
            prop_assert!(!problem.detail().contains(['\r', '\n']));
        }
    }

    #[test]
    fn json_that_is_not_an_object_is_refused(client in base_client(), value in prop_oneof![
        Just(json!(null)), Just(json!([])), Just(json!("x")), Just(json!(1)), Just(json!(true)), Just(json!([{"scope": "a"}])),
    ]) {
        let problem = ClientPatch::apply(&serde_json::to_vec(&value).unwrap(), &client).unwrap_err();
        prop_assert_eq!(problem.status().as_u16(), 400);
    }
}
