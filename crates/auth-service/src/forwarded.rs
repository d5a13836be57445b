//! The effective scheme, host and source of a request behind proxies
//! (see docs/reference/proxy.md).
//!
//! Forwarding headers are honoured only when the TCP peer is a trusted proxy
//! (`APP_FORWARDED_TRUSTED_PROXIES`, loopback by default); from anyone else
//! they are ignored entirely. Of the two header families, only the one named
//! by `APP_FORWARDED_HEADERS` counts ([`ForwardedHeaders`]): the
//! `X-Forwarded-Proto`/`-Host`/`-Port`/`-For` family (the default) or RFC
//! 7239 `Forwarded`. The other family is ignored entirely, for the scheme,
//! the host and the source alike: proxies such as nginx, Envoy and cloud
//! load balancers append the caller's address to `X-Forwarded-For` but pass
//! a `Forwarded` header the caller wrote through untouched (and the other
//! way round for a proxy that writes `Forwarded`), so honouring both would
//! let a caller choose its own source and escape the failure throttle.
//! [`resolve`] is the whole rule set as a pure function over the header
//! lines as `(name, value)` pairs: no actix type appears here, so the rules
//! are tested, fuzzed and reused without a server. The actix middleware that
//! runs it once per request lives in `auth-http` (`proxy.rs`).
//!
//! Choices the standards leave open, made here:
//! - Empty list elements (`a, , b`) are skipped, as RFC 9110 §5.6.1 asks of
//!   recipients; so "left-most value" means the left-most non-empty one.
//! - With the `forwarded` family, only the left-most `Forwarded` element
//!   supplies `proto` and `host` (a port belongs in `host=`;
//!   `X-Forwarded-Port` is ignored with the rest of its family). An element
//!   that is malformed (a pair without `=`, a bad quoted string, a parameter
//!   given twice) supplies nothing, and counts as unparsable in the `for=`
//!   walk.
//! - In the source walk, `unknown` and obfuscated (`_name`) identifiers, and
//!   elements without `for=`, are skipped. An unparsable entry stops the
//!   walk: the source is then the last address successfully walked past (a
//!   trusted proxy), or the TCP peer if there is none. Garbage can only sit to
//!   the right of the first untrusted address when a trusted proxy wrote it,
//!   so this never lets a client choose its own source.
//! - The port that is the default for the effective scheme (`:80` for http,
//!   `:443` for https) is dropped from the host, as Spring does, so that an
//!   issuer derived from it is `https://auth.example.com`, never
//!   `https://auth.example.com:443`.
//! - Addresses are reported in canonical form: an IPv4-mapped IPv6 peer
//!   (`::ffff:10.0.0.1`, from a dual-stack socket) is the IPv4 address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

const HOST: &str = "host";
const FORWARDED: &str = "forwarded";
const X_FORWARDED_FOR: &str = "x-forwarded-for";
const X_FORWARDED_PROTO: &str = "x-forwarded-proto";
const X_FORWARDED_HOST: &str = "x-forwarded-host";
const X_FORWARDED_PORT: &str = "x-forwarded-port";

/// The host reported when a request names none and the caller of
/// [`resolve`] could not supply the address the connection arrived on.
pub const FALLBACK_HOST: &str = "localhost";

/// The peers whose forwarding headers are honoured
/// (`APP_FORWARDED_TRUSTED_PROXIES`).
#[derive(Clone, Debug)]
pub enum TrustedProxies {
    /// `*`: every peer. Only for a server that no client can reach directly.
    Any,
    Cidrs(Vec<IpNet>),
}

impl TrustedProxies {
    /// Parses a comma-separated list of CIDRs or bare IP addresses, or `*`
    /// alone. Whitespace around items is ignored, and so are empty items; an
    /// empty or blank string trusts no peer at all.
    pub fn parse(s: &str) -> Result<Self, String> {
        let trimmed = s.trim();
        if trimmed == "*" {
            return Ok(Self::Any);
        }
        let mut nets = Vec::new();
        for item in trimmed.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if item == "*" {
                return Err(format!(
                    "trusted proxy {item:?} must stand alone, not in a list with other entries"
                ));
            }
            let net = if item.contains('/') {
                IpNet::from_str(item).ok()
            } else {
                IpAddr::from_str(item).ok().map(IpNet::from)
            };
            match net {
                Some(net) => nets.push(unmap_net(net)),
                None => {
                    return Err(format!(
                        "invalid trusted proxy {item:?}: expected a CIDR such as 10.0.0.0/8, \
                         an IP address, or `*` alone"
                    ))
                }
            }
        }
        Ok(Self::Cidrs(nets))
    }

    /// Loopback only (`127.0.0.0/8`, `::1`): a mesh sidecar such as Istio's
    /// Envoy. Private ranges are not trusted by default, because then any pod
    /// on the cluster network could claim a fresh source per request; an
    /// ingress on the cluster network must be named explicitly (e.g. by its
    /// pod CIDR).
    pub fn default_ranges() -> Self {
        Self::Cidrs(vec![
            IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8)),
            IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::LOCALHOST, 128)),
        ])
    }

    /// Trusts no peer: forwarding headers are always ignored.
    pub fn none() -> Self {
        Self::Cidrs(Vec::new())
    }

    /// Whether `ip` is trusted. An IPv4-mapped IPv6 address is checked as
    /// the IPv4 address it maps.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match self {
            Self::Any => true,
            Self::Cidrs(nets) => {
                let ip = ip.to_canonical();
                nets.iter().any(|net| net.contains(&ip))
            }
        }
    }
}

impl Default for TrustedProxies {
    fn default() -> Self {
        Self::default_ranges()
    }
}

/// Which family of forwarding headers the trusted proxy writes
/// (`APP_FORWARDED_HEADERS`); the other family is ignored entirely.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForwardedHeaders {
    /// `x-forwarded`: `X-Forwarded-Proto`, `-Host`, `-Port` and `-For`, as
    /// nginx, Envoy and most load balancers write them.
    #[default]
    XForwarded,
    /// `forwarded`: the RFC 7239 `Forwarded` header.
    Forwarded,
}

impl ForwardedHeaders {
    /// The setting's value naming this family.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::XForwarded => "x-forwarded",
            Self::Forwarded => "forwarded",
        }
    }
}

impl FromStr for ForwardedHeaders {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "x-forwarded" => Ok(Self::XForwarded),
            "forwarded" => Ok(Self::Forwarded),
            _ => Err(format!("{s:?} is not x-forwarded or forwarded")),
        }
    }
}

/// Whose forwarding headers count, and which of them: what the middleware
/// in `proxy.rs` is built with.
#[derive(Clone, Debug, Default)]
pub struct Forwarding {
    pub trusted: TrustedProxies,
    pub headers: ForwardedHeaders,
}

impl Forwarding {
    pub fn new(trusted: TrustedProxies, headers: ForwardedHeaders) -> Self {
        Self { trusted, headers }
    }

    /// Trusts no peer: forwarding headers are always ignored.
    pub fn none() -> Self {
        Self::new(TrustedProxies::none(), ForwardedHeaders::default())
    }
}

/// Rewrites an IPv4-mapped IPv6 range (`::ffff:10.0.0.0/104`) as the IPv4
/// range it denotes, because [`TrustedProxies::contains`] checks mapped
/// addresses as IPv4 and would otherwise never match it.
fn unmap_net(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net {
        if let (Some(v4), true) = (v6.addr().to_ipv4_mapped(), v6.prefix_len() >= 96) {
            if let Ok(v4net) = Ipv4Net::new(v4, v6.prefix_len() - 96) {
                return IpNet::V4(v4net);
            }
        }
    }
    net
}

/// What the request looks like from the client's side of the proxies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EffectiveRequest {
    /// `http` or `https`.
    pub scheme: String,
    /// `host[:port]` as the client addressed it (the scheme's default port
    /// omitted).
    pub host: String,
    /// The client: for throttling and logs.
    pub source: IpAddr,
    /// The TCP peer of this connection.
    pub peer: IpAddr,
}

impl EffectiveRequest {
    pub fn is_https(&self) -> bool {
        self.scheme == "https"
    }

    /// `{scheme}://{host}`, with no trailing slash: the issuer when
    /// `APP_ISSUER` is unset (see docs/reference/endpoints.md).
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }
}

/// Resolves the effective request; when the request names no valid host the
/// host is [`FALLBACK_HOST`]. See [`resolve_with_default_host`].
pub fn resolve<'h>(
    peer: IpAddr,
    own_scheme: &str,
    headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
    forwarding: &Forwarding,
) -> EffectiveRequest {
    resolve_with_default_host(peer, own_scheme, FALLBACK_HOST, headers, forwarding)
}

/// Resolves the effective request (see docs/reference/proxy.md). `own_scheme` is the
/// connection's own scheme; `default_host` is used when the `Host` header is
/// missing or does not look like `host[:port]` (the middleware passes the
/// address the connection arrived on). `headers` are the request's header
/// lines as `(name, value)`, a name given once per line; names match
/// case-insensitively.
pub fn resolve_with_default_host<'h>(
    peer: IpAddr,
    own_scheme: &str,
    default_host: &str,
    headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
    forwarding: &Forwarding,
) -> EffectiveRequest {
    let headers = Lines::gather(headers);
    let headers = &headers;
    let trusted = &forwarding.trusted;
    let peer = peer.to_canonical();
    let own_scheme = own_scheme.to_ascii_lowercase();
    let direct_host = headers
        .get_all(HOST)
        .next()
        .and_then(text)
        .map(str::trim)
        .filter(|h| is_host(h))
        .unwrap_or(default_host);

    if !trusted.contains(peer) {
        return EffectiveRequest {
            host: without_default_port(direct_host, &own_scheme),
            scheme: own_scheme,
            source: peer,
            peer,
        };
    }

    let (scheme, host, chain) = match forwarding.headers {
        ForwardedHeaders::XForwarded => {
            let scheme = left_most(headers, X_FORWARDED_PROTO)
                .and_then(scheme_of)
                .map_or_else(|| own_scheme.clone(), str::to_owned);
            let host = left_most(headers, X_FORWARDED_HOST)
                .filter(|h| is_host(h))
                .unwrap_or(direct_host);
            let host = match left_most(headers, X_FORWARDED_PORT).filter(|p| is_port(p)) {
                Some(port) => format!("{}:{port}", split_port(host).0),
                None => host.to_owned(),
            };
            let chain: Vec<Node> = list_items(headers, X_FORWARDED_FOR)
                .into_iter()
                .map(|item| item.map_or(Node::Unparsable, parse_node))
                .collect();
            (scheme, host, chain)
        }
        ForwardedHeaders::Forwarded => {
            let forwarded = forwarded_elements(headers);
            let first = forwarded
                .iter()
                .find(|e| !matches!(e, Element::Empty))
                .and_then(Element::params);
            let scheme = first
                .and_then(|p| p.proto.as_deref())
                .and_then(scheme_of)
                .map_or_else(|| own_scheme.clone(), str::to_owned);
            let host = first
                .and_then(|p| p.host.as_deref())
                .filter(|h| is_host(h))
                .unwrap_or(direct_host)
                .to_owned();
            let chain: Vec<Node> = forwarded.iter().map(Element::node).collect();
            (scheme, host, chain)
        }
    };

    EffectiveRequest {
        host: without_default_port(&host, &scheme),
        scheme,
        source: walk_source(&chain, peer, trusted),
        peer,
    }
}

/// Walks the chain right to left past trusted proxies (see docs/reference/proxy.md).
fn walk_source(chain: &[Node], peer: IpAddr, trusted: &TrustedProxies) -> IpAddr {
    let mut last_good = None;
    for node in chain.iter().rev() {
        match node {
            Node::Hidden => continue,
            Node::Unparsable => break,
            Node::Addr(ip) => {
                let ip = ip.to_canonical();
                if !trusted.contains(ip) {
                    return ip;
                }
                last_good = Some(ip);
            }
        }
    }
    last_good.unwrap_or(peer)
}

/// `http` or `https`, matched case-insensitively.
fn scheme_of(value: &str) -> Option<&'static str> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("http") {
        Some("http")
    } else if value.eq_ignore_ascii_case("https") {
        Some("https")
    } else {
        None
    }
}

/// The header lines [`resolve`] reads, gathered in one pass so that the
/// caller's headers are walked once whatever their number.
struct Lines<'h>(Vec<(&'h str, &'h [u8])>);

impl<'h> Lines<'h> {
    fn gather(headers: impl IntoIterator<Item = (&'h str, &'h [u8])>) -> Self {
        let relevant = [
            HOST,
            FORWARDED,
            X_FORWARDED_FOR,
            X_FORWARDED_PROTO,
            X_FORWARDED_HOST,
            X_FORWARDED_PORT,
        ];
        Self(
            headers
                .into_iter()
                .filter(|(name, _)| relevant.iter().any(|r| name.eq_ignore_ascii_case(r)))
                .collect(),
        )
    }

    /// The values of every line named `name`, in order.
    fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'h [u8]> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// A header value as text, when it is visible ASCII (tabs and spaces
/// allowed), as `http`'s `HeaderValue::to_str` accepts it: anything else is
/// unreadable here, exactly as it was when this read actix's header map.
fn text(value: &[u8]) -> Option<&str> {
    value
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
        .then(|| std::str::from_utf8(value).ok())
        .flatten()
}

/// The items of a comma-separated list header over all its lines, in order,
/// with empty items dropped; a line that is not visible ASCII is one `None`.
fn list_items<'h>(headers: &Lines<'h>, name: &str) -> Vec<Option<&'h str>> {
    let mut items = Vec::new();
    for line in headers.get_all(name) {
        match text(line) {
            Some(text) => items.extend(
                text.split(',')
                    .map(str::trim)
                    .filter(|i| !i.is_empty())
                    .map(Some),
            ),
            None => items.push(None),
        }
    }
    items
}

/// The left-most item of a list header, if it is readable.
fn left_most<'h>(headers: &Lines<'h>, name: &str) -> Option<&'h str> {
    list_items(headers, name).into_iter().next().flatten()
}

fn is_port(port: &str) -> bool {
    (1..=5).contains(&port.len())
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok_and(|p| p != 0)
}

/// Whether `value` looks like `host[:port]`: a DNS name or IPv4 address of
/// letters, digits, `-`, `.` and `_`, or a bracketed IPv6 address, then an
/// optional port 1–65535. Nothing else can reach an issuer URL.
pub fn is_host(value: &str) -> bool {
    if value.is_empty() || value.len() > 261 {
        return false;
    }
    let (name, port) = split_port(value);
    if port.is_some_and(|p| !is_port(p)) {
        return false;
    }
    if let Some(inner) = name.strip_prefix('[') {
        return inner
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<Ipv6Addr>().is_ok());
    }
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// Splits `host[:port]` (the host possibly a bracketed IPv6 address).
fn split_port(value: &str) -> (&str, Option<&str>) {
    let search_from = if value.starts_with('[') {
        value.find(']').unwrap_or(0)
    } else {
        0
    };
    match value[search_from..].find(':') {
        Some(i) => (
            &value[..search_from + i],
            Some(&value[search_from + i + 1..]),
        ),
        None => (value, None),
    }
}

fn without_default_port(host: &str, scheme: &str) -> String {
    match split_port(host) {
        (name, Some("80")) if scheme == "http" => name.to_owned(),
        (name, Some("443")) if scheme == "https" => name.to_owned(),
        _ => host.to_owned(),
    }
}

/// One entry of a forwarding chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Addr(IpAddr),
    /// `unknown`, obfuscated, or not given: skipped by the walk.
    Hidden,
    /// Stops the walk.
    Unparsable,
}

/// Parses a node as `X-Forwarded-For` and `Forwarded: for=` write them: an
/// IP address, `v4:port`, `[v6]` or `[v6]:port`, where the port may be
/// obfuscated; `unknown` or `_obfuscated` are hidden.
fn parse_node(value: &str) -> Node {
    let value = value.trim();
    if value.eq_ignore_ascii_case("unknown") || value.starts_with('_') {
        return Node::Hidden;
    }
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Node::Addr(ip);
    }
    let node_port_ok = |port: &str| {
        is_port(port)
            || port.strip_prefix('_').is_some_and(|obf| {
                !obf.is_empty()
                    && obf
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            })
    };
    if let Some(rest) = value.strip_prefix('[') {
        if let Some((inner, after)) = rest.split_once(']') {
            let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(node_port_ok);
            if let (Ok(ip), true) = (inner.parse::<Ipv6Addr>(), port_ok) {
                return Node::Addr(IpAddr::V6(ip));
            }
        }
        return Node::Unparsable;
    }
    if let Some((addr, port)) = value.split_once(':') {
        if let (Ok(ip), true) = (addr.parse::<Ipv4Addr>(), node_port_ok(port)) {
            return Node::Addr(IpAddr::V4(ip));
        }
    }
    Node::Unparsable
}

/// The parameters of one `Forwarded` element that matter here, unquoted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Params {
    r#for: Option<String>,
    proto: Option<String>,
    host: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Element {
    Empty,
    Malformed,
    Params(Params),
}

impl Element {
    fn params(&self) -> Option<&Params> {
        match self {
            Self::Params(p) => Some(p),
            _ => None,
        }
    }

    fn node(&self) -> Node {
        match self {
            Self::Malformed => Node::Unparsable,
            Self::Empty => Node::Hidden,
            Self::Params(p) => p.r#for.as_deref().map_or(Node::Hidden, parse_node),
        }
    }
}

/// Every `Forwarded` element over all header lines, in order (RFC 7239 §4).
fn forwarded_elements(headers: &Lines<'_>) -> Vec<Element> {
    let mut elements = Vec::new();
    for line in headers.get_all(FORWARDED) {
        let Some(text) = text(line) else {
            elements.push(Element::Malformed);
            continue;
        };
        match split_unquoted(text, b',') {
            Some(parts) => elements.extend(parts.into_iter().map(parse_element)),
            None => elements.push(Element::Malformed),
        }
    }
    elements
}

fn parse_element(text: &str) -> Element {
    if text.trim().is_empty() {
        return Element::Empty;
    }
    let Some(pairs) = split_unquoted(text, b';') else {
        return Element::Malformed;
    };
    let mut params = Params::default();
    let mut seen = Vec::new();
    for pair in pairs.into_iter().map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, value)) = pair.split_once('=') else {
            return Element::Malformed;
        };
        let name = name.trim().to_ascii_lowercase();
        let Some(value) = unquote(value.trim()) else {
            return Element::Malformed;
        };
        if name.is_empty() || !name.bytes().all(is_tchar) || seen.contains(&name) {
            return Element::Malformed;
        }
        match name.as_str() {
            "for" => params.r#for = Some(value),
            "proto" => params.proto = Some(value),
            "host" => params.host = Some(value),
            _ => {}
        }
        seen.push(name);
    }
    Element::Params(params)
}

/// A bare value or a quoted-string with its escapes undone. Bare values may
/// hold `:`, `[` and `]` although RFC 7239 asks for quotes there, because
/// proxies write `for=192.0.2.43:4711` and `host=a.example:8443`
/// unquoted; every value is validated after this anyway.
fn unquote(value: &str) -> Option<String> {
    let Some(inner) = value.strip_prefix('"') else {
        let bare = |b: u8| is_tchar(b) || matches!(b, b':' | b'[' | b']');
        return (!value.is_empty() && value.bytes().all(bare)).then(|| value.to_owned());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Splits on `sep` outside quoted strings; `None` when a quote is left open.
fn split_unquoted(text: &str, sep: u8) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, b) in text.bytes().enumerate() {
        if escaped {
            escaped = false;
        } else if in_quotes && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            in_quotes = !in_quotes;
        } else if b == sep && !in_quotes {
            parts.push(&text[start..i]);
            start = i + 1;
        }
    }
    if in_quotes {
        return None;
    }
    parts.push(&text[start..]);
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers<'h>(pairs: &'h [(&'h str, &'h str)]) -> Vec<(&'h str, &'h [u8])> {
        pairs.iter().map(|(n, v)| (*n, v.as_bytes())).collect()
    }

    /// Loopback and the private ranges, as for an ingress on the cluster
    /// network, with the header family `family`.
    fn behind_ingress(family: ForwardedHeaders) -> Forwarding {
        Forwarding::new(
            TrustedProxies::parse(
                "127.0.0.0/8, ::1, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7",
            )
            .unwrap(),
            family,
        )
    }

    /// A request from `peer` whose proxies write `X-Forwarded-*`.
    fn trusted_default(peer: &str, pairs: &[(&str, &str)]) -> EffectiveRequest {
        resolve(
            ip(peer),
            "http",
            headers(pairs),
            &behind_ingress(ForwardedHeaders::XForwarded),
        )
    }

    /// A request from `peer` whose proxies write `Forwarded`.
    fn via_forwarded(peer: &str, pairs: &[(&str, &str)]) -> EffectiveRequest {
        resolve(
            ip(peer),
            "http",
            headers(pairs),
            &behind_ingress(ForwardedHeaders::Forwarded),
        )
    }

    // --- TrustedProxies ---

    #[test]
    fn parse_accepts_cidrs_bare_ips_and_whitespace() {
        let t = TrustedProxies::parse(" 10.0.0.0/8 ,192.0.2.7,  2001:db8::/32 , ::1 ").unwrap();
        assert!(t.contains(ip("10.200.1.1")));
        assert!(t.contains(ip("192.0.2.7")));
        assert!(!t.contains(ip("192.0.2.8")));
        assert!(t.contains(ip("2001:db8::42")));
        assert!(t.contains(ip("::1")));
        assert!(!t.contains(ip("11.0.0.1")));
    }

    #[test]
    fn parse_star_trusts_everyone() {
        let t = TrustedProxies::parse(" * ").unwrap();
        assert!(t.contains(ip("203.0.113.9")));
        assert!(t.contains(ip("2001:db8::1")));
    }

    #[test]
    fn parse_errors_name_the_bad_item() {
        let err = TrustedProxies::parse("10.0.0.0/8, 10.0.0.300, ::1").unwrap_err();
        assert!(err.contains("\"10.0.0.300\""), "{err}");
        let err = TrustedProxies::parse("10.0.0.0/33").unwrap_err();
        assert!(err.contains("\"10.0.0.0/33\""), "{err}");
        let err = TrustedProxies::parse("10.0.0.0/8,*").unwrap_err();
        assert!(err.contains("\"*\""), "{err}");
        assert!(TrustedProxies::parse("localhost").is_err());
    }

    #[test]
    fn parse_blank_trusts_nobody() {
        let t = TrustedProxies::parse("  ").unwrap();
        assert!(!t.contains(ip("127.0.0.1")));
        let t = TrustedProxies::parse("10.0.0.1,").unwrap();
        assert!(t.contains(ip("10.0.0.1")));
    }

    #[test]
    fn default_ranges_are_loopback_only() {
        let t = TrustedProxies::default_ranges();
        for inside in ["127.0.0.1", "127.0.0.6", "127.255.0.3", "::1"] {
            assert!(t.contains(ip(inside)), "{inside} should be trusted");
        }
        for outside in [
            "10.0.0.5",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "fc00::1",
            "fd12:3456::1",
            "8.8.8.8",
            "::2",
            "fe80::1",
            "2001:db8::1",
        ] {
            assert!(!t.contains(ip(outside)), "{outside} should not be trusted");
        }
        let f = Forwarding::default();
        assert_eq!(f.headers, ForwardedHeaders::XForwarded);
        assert!(f.trusted.contains(ip("127.0.0.1")) && !f.trusted.contains(ip("10.0.0.5")));
    }

    #[test]
    fn header_family_setting() {
        assert_eq!(
            "x-forwarded".parse::<ForwardedHeaders>(),
            Ok(ForwardedHeaders::XForwarded)
        );
        assert_eq!(
            " Forwarded ".parse::<ForwardedHeaders>(),
            Ok(ForwardedHeaders::Forwarded)
        );
        for bad in ["", "both", "x-forwarded-for", "rfc7239"] {
            let err = bad.parse::<ForwardedHeaders>().unwrap_err();
            assert!(err.contains("x-forwarded or forwarded"), "{err}");
        }
        assert_eq!(ForwardedHeaders::Forwarded.as_str(), "forwarded");
    }

    #[test]
    fn ipv4_mapped_ipv6_is_checked_as_ipv4() {
        let t = TrustedProxies::default_ranges();
        assert!(t.contains(ip("::ffff:127.0.0.1")));
        assert!(!t.contains(ip("::ffff:10.0.0.5")));
        let mapped_range = TrustedProxies::parse("::ffff:192.0.2.0/120").unwrap();
        assert!(mapped_range.contains(ip("192.0.2.9")));
        assert!(mapped_range.contains(ip("::ffff:192.0.2.9")));
    }

    // --- resolve: untrusted peers ---

    #[test]
    fn untrusted_peer_headers_are_ignored_entirely() {
        let pairs = [
            ("host", "auth.internal:8080"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-port", "443"),
            ("x-forwarded-for", "198.51.100.1"),
            (
                "forwarded",
                "for=198.51.100.2;proto=https;host=evil.example",
            ),
        ];
        for e in [
            trusted_default("203.0.113.5", &pairs),
            via_forwarded("203.0.113.5", &pairs),
        ] {
            assert_eq!(
                e,
                EffectiveRequest {
                    scheme: "http".into(),
                    host: "auth.internal:8080".into(),
                    source: ip("203.0.113.5"),
                    peer: ip("203.0.113.5"),
                }
            );
        }
    }

    #[test]
    fn a_private_peer_is_untrusted_by_default() {
        let e = resolve(
            ip("10.0.0.5"),
            "http",
            headers(&[
                ("host", "auth.internal"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-for", "198.51.100.1"),
            ]),
            &Forwarding::default(),
        );
        assert_eq!(e.scheme, "http");
        assert_eq!(e.source, ip("10.0.0.5"));
    }

    #[test]
    fn no_headers_gives_own_scheme_host_header_and_peer() {
        let e = trusted_default("10.0.0.2", &[("host", "auth.example.com:8080")]);
        assert_eq!(e.scheme, "http");
        assert_eq!(e.host, "auth.example.com:8080");
        assert_eq!(e.source, ip("10.0.0.2"));
        assert_eq!(e.origin(), "http://auth.example.com:8080");
    }

    #[test]
    fn missing_or_invalid_host_header_falls_back() {
        let e = trusted_default("10.0.0.2", &[]);
        assert_eq!(e.host, FALLBACK_HOST);
        let e = resolve_with_default_host(
            ip("203.0.113.1"),
            "http",
            "127.0.0.1:8080",
            headers(&[("host", "evil.example/path")]),
            &Forwarding::default(),
        );
        assert_eq!(e.host, "127.0.0.1:8080");
    }

    // --- resolve: scheme ---

    #[test]
    fn x_forwarded_proto_from_trusted_peer_sets_scheme() {
        let e = trusted_default(
            "127.0.0.1",
            &[("host", "a.example"), ("x-forwarded-proto", "HTTPS")],
        );
        assert_eq!(e.scheme, "https");
        assert!(e.is_https());
    }

    #[test]
    fn left_most_proto_counts_across_lists_and_lines() {
        let e = trusted_default("10.0.0.1", &[("x-forwarded-proto", "https, http")]);
        assert_eq!(e.scheme, "https");
        let e = trusted_default(
            "10.0.0.1",
            &[
                ("x-forwarded-proto", "http"),
                ("x-forwarded-proto", "https"),
            ],
        );
        assert_eq!(e.scheme, "http");
        let e = trusted_default("10.0.0.1", &[("x-forwarded-proto", " , https")]);
        assert_eq!(e.scheme, "https");
    }

    #[test]
    fn scheme_other_than_http_or_https_is_ignored() {
        for bad in ["wss", "https2", "ftp", "https;", "h t t p s"] {
            let e = resolve(
                ip("10.0.0.1"),
                "https",
                headers(&[("x-forwarded-proto", bad)]),
                &behind_ingress(ForwardedHeaders::XForwarded),
            );
            assert_eq!(e.scheme, "https", "{bad} must be ignored");
        }
        // The left-most value counts even when it is the bad one.
        let e = trusted_default("10.0.0.1", &[("x-forwarded-proto", "ftp, https")]);
        assert_eq!(e.scheme, "http");
    }

    #[test]
    fn forwarded_proto_sets_scheme() {
        let e = via_forwarded(
            "10.0.0.1",
            &[("forwarded", "for=192.0.2.60;proto=HTTPS;by=203.0.113.43")],
        );
        assert_eq!(e.scheme, "https");
        let e = via_forwarded("10.0.0.1", &[("forwarded", "proto=\"https\"")]);
        assert_eq!(e.scheme, "https");
        let e = via_forwarded("10.0.0.1", &[("forwarded", "proto=ftp")]);
        assert_eq!(e.scheme, "http");
    }

    #[test]
    fn each_family_ignores_the_other_for_the_scheme() {
        let both = |f: &'static str, x: &'static str| [("forwarded", f), ("x-forwarded-proto", x)];
        assert_eq!(
            trusted_default("10.0.0.1", &both("proto=https", "http")).scheme,
            "http"
        );
        assert_eq!(
            trusted_default("10.0.0.1", &both("proto=http", "https")).scheme,
            "https"
        );
        assert_eq!(
            trusted_default("10.0.0.1", &[("forwarded", "proto=https")]).scheme,
            "http"
        );
        assert_eq!(
            via_forwarded("10.0.0.1", &both("proto=https", "http")).scheme,
            "https"
        );
        assert_eq!(
            via_forwarded("10.0.0.1", &both("proto=http", "https")).scheme,
            "http"
        );
        assert_eq!(
            via_forwarded("10.0.0.1", &[("x-forwarded-proto", "https")]).scheme,
            "http"
        );
    }

    #[test]
    fn only_the_left_most_forwarded_element_supplies_proto_and_host() {
        let e = via_forwarded(
            "10.0.0.1",
            &[
                ("host", "internal"),
                (
                    "forwarded",
                    "for=192.0.2.1, for=10.0.0.9;proto=https;host=b.example",
                ),
            ],
        );
        assert_eq!(e.scheme, "http");
        assert_eq!(e.host, "internal");
    }

    // --- resolve: host and port ---

    #[test]
    fn forwarded_host_and_port() {
        let e = trusted_default(
            "10.0.0.1",
            &[
                ("host", "auth-server:8080"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "auth.example.com"),
                ("x-forwarded-port", "8443"),
            ],
        );
        assert_eq!(e.origin(), "https://auth.example.com:8443");
    }

    #[test]
    fn x_forwarded_port_replaces_the_host_header_port() {
        let e = trusted_default(
            "10.0.0.1",
            &[("host", "auth:8080"), ("x-forwarded-port", "9090")],
        );
        assert_eq!(e.host, "auth:9090");
        let e = trusted_default(
            "10.0.0.1",
            &[("host", "[2001:db8::1]:8080"), ("x-forwarded-port", "9090")],
        );
        assert_eq!(e.host, "[2001:db8::1]:9090");
        for bad in ["0", "65536", "80a", "-1", "+80"] {
            let e = trusted_default(
                "10.0.0.1",
                &[("host", "auth:8080"), ("x-forwarded-port", bad)],
            );
            assert_eq!(e.host, "auth:8080", "port {bad} must be ignored");
        }
    }

    #[test]
    fn default_port_of_the_effective_scheme_is_dropped() {
        let e = trusted_default(
            "10.0.0.1",
            &[
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "auth.example.com"),
                ("x-forwarded-port", "443"),
            ],
        );
        assert_eq!(e.origin(), "https://auth.example.com");
        let e = trusted_default("203.0.113.1", &[("host", "auth.example.com:80")]);
        assert_eq!(e.origin(), "http://auth.example.com");
        let e = trusted_default(
            "10.0.0.1",
            &[
                ("host", "auth.example.com:80"),
                ("x-forwarded-proto", "https"),
            ],
        );
        assert_eq!(e.origin(), "https://auth.example.com:80");
    }

    #[test]
    fn left_most_forwarded_host_counts() {
        let e = trusted_default(
            "10.0.0.1",
            &[
                ("x-forwarded-host", "a.example, b.example"),
                ("x-forwarded-host", "c.example"),
            ],
        );
        assert_eq!(e.host, "a.example");
    }

    #[test]
    fn each_family_ignores_the_other_for_the_host() {
        let pairs = [
            ("host", "internal:8080"),
            ("forwarded", "host=\"a.example:8443\";proto=https"),
            ("x-forwarded-host", "b.example"),
            ("x-forwarded-port", "9443"),
            ("x-forwarded-proto", "https"),
        ];
        assert_eq!(
            via_forwarded("10.0.0.1", &pairs).origin(),
            "https://a.example:8443"
        );
        assert_eq!(
            trusted_default("10.0.0.1", &pairs).origin(),
            "https://b.example:9443"
        );
        // X-Forwarded-Port belongs to its family: ignored with `forwarded`.
        let e = via_forwarded(
            "10.0.0.1",
            &[("host", "internal:8080"), ("x-forwarded-port", "9443")],
        );
        assert_eq!(e.host, "internal:8080");
    }

    #[test]
    fn invalid_forwarded_hosts_are_ignored() {
        for bad in [
            "evil.example/path",
            "user@evil.example",
            "a b",
            "evil.example:99999",
            "evil.example:",
            "[not-v6]",
            "a\"b",
            "",
        ] {
            let e = trusted_default(
                "10.0.0.1",
                &[("host", "good.example"), ("x-forwarded-host", bad)],
            );
            assert_eq!(e.host, "good.example", "{bad:?} must be ignored");
        }
        // A bad `Forwarded` host falls back to `Host`, never to the other
        // family.
        let e = via_forwarded(
            "10.0.0.1",
            &[
                ("host", "good.example"),
                ("forwarded", "host=\"a/b\""),
                ("x-forwarded-host", "other.example"),
            ],
        );
        assert_eq!(e.host, "good.example");
    }

    #[test]
    fn valid_host_forms() {
        for good in [
            "a",
            "a.example",
            "a-b.example:1",
            "192.0.2.1:65535",
            "[::1]",
            "[2001:db8::1]:8443",
            "my_host",
        ] {
            assert!(is_host(good), "{good}");
        }
        for bad in [
            "[::1", "::1", "a:b", "a:80:90", "a\tb", "a\u{1}b", "exämple",
        ] {
            assert!(!is_host(bad), "{bad:?}");
        }
    }

    // --- resolve: source ---

    #[test]
    fn source_is_the_first_untrusted_address_from_the_right() {
        let e = trusted_default(
            "10.0.0.1",
            &[(
                "x-forwarded-for",
                "198.51.100.7, 203.0.113.9, 10.0.0.3, 192.168.1.1",
            )],
        );
        assert_eq!(e.source, ip("203.0.113.9"));
        assert_eq!(e.peer, ip("10.0.0.1"));
    }

    #[test]
    fn spoofed_left_entries_do_not_choose_the_source() {
        // The client sent `X-Forwarded-For: 10.0.0.5`, the proxy appended the
        // client's real address.
        let e = trusted_default(
            "127.0.0.1",
            &[("x-forwarded-for", "10.0.0.5, 203.0.113.20")],
        );
        assert_eq!(e.source, ip("203.0.113.20"));
    }

    #[test]
    fn all_trusted_gives_the_left_most() {
        let e = trusted_default("127.0.0.1", &[("x-forwarded-for", "10.1.1.1, 10.2.2.2")]);
        assert_eq!(e.source, ip("10.1.1.1"));
    }

    #[test]
    fn star_trusts_the_whole_chain() {
        let e = resolve(
            ip("203.0.113.1"),
            "http",
            headers(&[("x-forwarded-for", "198.51.100.1, 198.51.100.2")]),
            &Forwarding::new(TrustedProxies::Any, ForwardedHeaders::XForwarded),
        );
        assert_eq!(e.source, ip("198.51.100.1"));
    }

    #[test]
    fn x_forwarded_for_over_several_lines_is_one_list() {
        let e = trusted_default(
            "127.0.0.1",
            &[
                ("x-forwarded-for", "198.51.100.7"),
                ("x-forwarded-for", "10.0.0.9"),
            ],
        );
        assert_eq!(e.source, ip("198.51.100.7"));
    }

    #[test]
    fn unparsable_entry_stops_the_walk_at_the_last_good_one() {
        let e = trusted_default(
            "127.0.0.1",
            &[("x-forwarded-for", "198.51.100.7, garbage, 10.0.0.9")],
        );
        assert_eq!(e.source, ip("10.0.0.9"));
        let e = trusted_default("127.0.0.1", &[("x-forwarded-for", "198.51.100.7, garbage")]);
        assert_eq!(e.source, ip("127.0.0.1"));
    }

    #[test]
    fn x_forwarded_for_with_ports_and_brackets() {
        let e = trusted_default("127.0.0.1", &[("x-forwarded-for", "198.51.100.7:5123")]);
        assert_eq!(e.source, ip("198.51.100.7"));
        let e = trusted_default("127.0.0.1", &[("x-forwarded-for", "[2001:db8::7]:5123")]);
        assert_eq!(e.source, ip("2001:db8::7"));
        let e = trusted_default("127.0.0.1", &[("x-forwarded-for", "2001:db8::8")]);
        assert_eq!(e.source, ip("2001:db8::8"));
    }

    #[test]
    fn forwarded_for_with_quoting_ipv6_and_ports() {
        let e = via_forwarded(
            "10.0.0.1",
            &[(
                "forwarded",
                "for=\"[2001:db8:cafe::17]:4711\", for=10.0.0.8",
            )],
        );
        assert_eq!(e.source, ip("2001:db8:cafe::17"));
        let e = via_forwarded(
            "10.0.0.1",
            &[("forwarded", "For=\"192.0.2.43:_port\";proto=https")],
        );
        assert_eq!(e.source, ip("192.0.2.43"));
        assert_eq!(e.scheme, "https");
        // Unquoted ports and hosts with ports, as some proxies write them.
        let e = via_forwarded(
            "10.0.0.1",
            &[("forwarded", "for=192.0.2.44:4711;host=a.example:8443")],
        );
        assert_eq!(e.source, ip("192.0.2.44"));
        assert_eq!(e.host, "a.example:8443");
        let e = via_forwarded("10.0.0.1", &[("forwarded", "for=\"\\[2001:db8::9\\]\"")]);
        assert_eq!(
            e.source,
            ip("2001:db8::9"),
            "escapes inside quotes are undone"
        );
    }

    #[test]
    fn forwarded_unknown_and_obfuscated_are_skipped() {
        let e = via_forwarded(
            "10.0.0.1",
            &[(
                "forwarded",
                "for=198.51.100.3, for=unknown, for=_hidden, for=10.0.0.4",
            )],
        );
        assert_eq!(e.source, ip("198.51.100.3"));
        let e = via_forwarded("10.0.0.1", &[("forwarded", "for=unknown")]);
        assert_eq!(e.source, ip("10.0.0.1"));
    }

    #[test]
    fn only_the_configured_family_supplies_the_source() {
        // What nginx or Envoy forwards when the caller wrote its own
        // `Forwarded` header: the proxy appended the real address to
        // X-Forwarded-For and passed the caller's header through.
        let pairs = [
            ("forwarded", "for=198.51.100.3"),
            ("x-forwarded-for", "198.51.100.99"),
        ];
        assert_eq!(
            trusted_default("10.0.0.1", &pairs).source,
            ip("198.51.100.99")
        );
        assert_eq!(via_forwarded("10.0.0.1", &pairs).source, ip("198.51.100.3"));
        // A header of the other family alone leaves the peer as the source.
        assert_eq!(
            trusted_default("10.0.0.1", &[("forwarded", "for=198.51.100.3")]).source,
            ip("10.0.0.1")
        );
        assert_eq!(
            via_forwarded("10.0.0.1", &[("x-forwarded-for", "198.51.100.99")]).source,
            ip("10.0.0.1")
        );
        // A `Forwarded` header without `for=` names no source.
        assert_eq!(
            via_forwarded(
                "10.0.0.1",
                &[
                    ("forwarded", "proto=https"),
                    ("x-forwarded-for", "198.51.100.99")
                ]
            )
            .source,
            ip("10.0.0.1")
        );
    }

    #[test]
    fn malformed_forwarded_elements() {
        // A duplicated parameter makes the element malformed: no proto, and
        // the walk stops there.
        let e = via_forwarded(
            "10.0.0.1",
            &[(
                "forwarded",
                "for=198.51.100.3, for=10.0.0.5;for=10.0.0.6, for=10.0.0.7",
            )],
        );
        assert_eq!(e.source, ip("10.0.0.7"));
        let e = via_forwarded("10.0.0.1", &[("forwarded", "proto=https;proto=https")]);
        assert_eq!(e.scheme, "http");
        // An unterminated quote spoils the line.
        let e = via_forwarded(
            "10.0.0.1",
            &[("forwarded", "for=\"198.51.100.3;proto=https")],
        );
        assert_eq!(e.scheme, "http");
        assert_eq!(e.source, ip("10.0.0.1"));
        // Commas and semicolons inside quotes do not split.
        let e = via_forwarded(
            "10.0.0.1",
            &[("forwarded", "host=\"a.example\";ext=\"x,y;z\";proto=https")],
        );
        assert_eq!(e.origin(), "https://a.example");
    }

    #[test]
    fn lines_that_are_not_visible_ascii_are_unreadable() {
        // An unreadable line stops the walk like any unparsable entry.
        let e = trusted_default(
            "127.0.0.1",
            &[
                ("x-forwarded-for", "198.51.100.7"),
                ("x-forwarded-for", "é"),
            ],
        );
        assert_eq!(e.source, ip("127.0.0.1"));
        let e = trusted_default("10.0.0.1", &[("x-forwarded-proto", "https\u{1}")]);
        assert_eq!(e.scheme, "http");
        let e = via_forwarded("10.0.0.1", &[("forwarded", "proto=https;x=\u{7f}")]);
        assert_eq!(e.scheme, "http");
        // A tab is visible enough, as in any header value.
        let e = trusted_default("10.0.0.1", &[("x-forwarded-proto", "\thttps")]);
        assert_eq!(e.scheme, "https");
    }

    #[test]
    fn header_names_match_whatever_their_case() {
        let e = trusted_default(
            "10.0.0.1",
            &[("Host", "a.example"), ("X-Forwarded-Proto", "https")],
        );
        assert_eq!(e.origin(), "https://a.example");
    }

    #[test]
    fn mapped_addresses_are_reported_as_ipv4() {
        let e = trusted_default(
            "::ffff:10.0.0.1",
            &[("x-forwarded-for", "::ffff:198.51.100.1")],
        );
        assert_eq!(e.peer, ip("10.0.0.1"));
        assert_eq!(e.source, ip("198.51.100.1"));
    }
}
