//! The rules a presented access token must pass, shared by the server (its
//! [`crate::KeyRing`], no leeway) and by resource servers that hold only the
//! published keys ([`PublicKey`], with a clock leeway of their choosing):
//! one definition, so the two can never disagree on what "valid" means.

use std::fmt;

use base64::Engine as _;
use josekit::jwk::Jwk;
use josekit::jws::{self, EdDSA, JwsVerifier, ES256, RS256};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::alg::SigningAlg;
use crate::claims::AccessTokenClaims;
use crate::error::{TokenError, VerifyError};
use crate::keys::{ACCESS_TOKEN_TYPE, MAX_ISSUED_AHEAD, MAX_TOKEN_LIFETIME};

/// The largest clock leeway a verifier may allow: beyond it, an expired
/// token would stay usable long enough to matter.
pub const MAX_LEEWAY: time::Duration = time::Duration::minutes(5);

/// What a token is checked against besides its signature.
#[derive(Debug, Clone, Copy)]
pub struct Validation<'a> {
    /// `iss` must equal this when given.
    pub issuer: Option<&'a str>,
    /// `aud` must equal this when given.
    pub audience: Option<&'a str>,
    /// Clock difference tolerated on `exp`, `nbf` and `iat`; callers clamp
    /// it to [`MAX_LEEWAY`].
    pub leeway: time::Duration,
}

impl Validation<'_> {
    /// The server's own rules: the issuer when configured, no leeway (the
    /// replicas share the database's keys and their clocks agree).
    pub const fn server(issuer: Option<&str>) -> Validation<'_> {
        Validation {
            issuer,
            audience: None,
            leeway: time::Duration::ZERO,
        }
    }
}

/// Checks a compact JWS with `verifier` (whose algorithm is the key's, so
/// a header naming another algorithm fails), then `typ` = `at+jwt`, `exp`
/// and `nbf` within the leeway, `exp - iat` at most [`MAX_TOKEN_LIFETIME`],
/// `iat` at most [`MAX_ISSUED_AHEAD`] (or the leeway, when larger) ahead,
/// and the issuer and audience asked for.
pub fn verify_access_token(
    token: &str,
    verifier: &dyn JwsVerifier,
    now: OffsetDateTime,
    rules: &Validation<'_>,
) -> Result<AccessTokenClaims, VerifyError> {
    let (payload, header) =
        jws::deserialize_compact(token, verifier).map_err(|_| VerifyError::BadSignature)?;
    if !is_access_token_type(header.token_type()) {
        return Err(VerifyError::WrongType);
    }
    let claims: AccessTokenClaims =
        serde_json::from_slice(&payload).map_err(|_| VerifyError::MalformedClaims)?;
    let now_nanos = now.unix_timestamp_nanos();
    let leeway = rules.leeway.whole_nanoseconds().max(0);
    if seconds_to_nanos(claims.exp) + leeway <= now_nanos {
        return Err(VerifyError::Expired);
    }
    if seconds_to_nanos(claims.nbf) - leeway > now_nanos {
        return Err(VerifyError::NotYetValid);
    }
    if i128::from(claims.exp) - i128::from(claims.iat)
        > i128::from(MAX_TOKEN_LIFETIME.whole_seconds())
    {
        return Err(VerifyError::LifetimeTooLong);
    }
    let ahead = MAX_ISSUED_AHEAD.whole_nanoseconds().max(leeway);
    if seconds_to_nanos(claims.iat) > now_nanos + ahead {
        return Err(VerifyError::IssuedInFuture);
    }
    if rules.issuer.is_some_and(|expected| claims.iss != expected) {
        return Err(VerifyError::WrongIssuer);
    }
    if rules
        .audience
        .is_some_and(|expected| claims.aud != expected)
    {
        return Err(VerifyError::WrongAudience);
    }
    Ok(claims)
}

fn seconds_to_nanos(seconds: i64) -> i128 {
    i128::from(seconds) * 1_000_000_000
}

/// RFC 9068 §4 names `at+jwt`; RFC 7515 §4.1.9 lets the `application/`
/// prefix be dropped or kept and compares media types case-insensitively.
fn is_access_token_type(typ: Option<&str>) -> bool {
    let Some(typ) = typ else { return false };
    let lower = typ.to_ascii_lowercase();
    lower == ACCESS_TOKEN_TYPE || lower == "application/at+jwt"
}

/// The `kid` of a compact JWS's header, read before any key is chosen:
/// `None` unless the token has three parts and a JSON object header with a
/// string `kid`.
pub fn header_kid(token: &str) -> Option<String> {
    let mut parts = token.split('.');
    let header = parts.next()?;
    if parts.count() != 2 {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()?;
    let header: Map<String, Value> = serde_json::from_slice(&bytes).ok()?;
    match header.get("kid") {
        Some(Value::String(kid)) => Some(kid.clone()),
        _ => None,
    }
}

/// One published key of the server, as a resource server holds it: its id,
/// the algorithm the JWK declares (the only one a token signed by it may
/// use) and a verifier.
pub struct PublicKey {
    kid: String,
    alg: SigningAlg,
    verifier: Box<dyn JwsVerifier>,
}

impl PublicKey {
    /// A key from one entry of the server's JWKS. The entry must name a
    /// `kid` and an `alg` this server signs with, not be limited to another
    /// `use` than `sig`, and hold a public key of that algorithm.
    pub fn from_jwk(jwk: &Map<String, Value>) -> Result<Self, TokenError> {
        let invalid = |why: &str| TokenError::InvalidJwk(why.to_owned());
        let kid = match jwk.get("kid") {
            Some(Value::String(kid)) if !kid.is_empty() => kid.clone(),
            _ => return Err(invalid("the key has no kid")),
        };
        let alg: SigningAlg = match jwk.get("alg") {
            Some(Value::String(alg)) => alg.parse()?,
            _ => return Err(invalid("the key names no alg")),
        };
        if jwk.get("use").is_some_and(|u| u != "sig") {
            return Err(invalid("the key is not a signature key"));
        }
        let parsed = Jwk::from_map(jwk.clone()).map_err(|_| invalid("the key is malformed"))?;
        let wrong = |_| invalid("the key does not fit its alg");
        let verifier: Box<dyn JwsVerifier> = match alg {
            SigningAlg::Rs256 => Box::new(RS256.verifier_from_jwk(&parsed).map_err(wrong)?),
            SigningAlg::Es256 => Box::new(ES256.verifier_from_jwk(&parsed).map_err(wrong)?),
            SigningAlg::EdDsa => Box::new(EdDSA.verifier_from_jwk(&parsed).map_err(wrong)?),
        };
        Ok(Self { kid, alg, verifier })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    /// [`verify_access_token`] with this key. The caller picked the key by
    /// the token's `kid` ([`header_kid`]).
    pub fn verify(
        &self,
        token: &str,
        now: OffsetDateTime,
        rules: &Validation<'_>,
    ) -> Result<AccessTokenClaims, VerifyError> {
        verify_access_token(token, self.verifier.as_ref(), now, rules)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use josekit::jws::JwsHeader;
    use time::Duration;

    use super::*;
    use crate::{generate_key, KeyEncryption, KeyRing};

    const ISSUER: &str = "https://auth.example.test";

    fn t0() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
    }

    fn ring(alg: SigningAlg) -> KeyRing {
        let enc = KeyEncryption::new(None).unwrap();
        let key = generate_key(alg, t0(), &enc).unwrap();
        let stored = auth_domain::StoredSigningKey::from(key);
        KeyRing::load(&[stored], &enc, t0(), Duration::DAY).unwrap()
    }

    fn claims(iat: i64, lifetime: i64) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: ISSUER.into(),
            sub: "svc".into(),
            aud: "my-service".into(),
            client_id: "my-service".into(),
            iat,
            nbf: iat,
            exp: iat + lifetime,
            jti: "j".into(),
            scope: None,
            roles: None,
            permissions: None,
            groups: None,
            attributes: None,
        }
    }

    fn published(ring: &KeyRing) -> PublicKey {
        let jwk = ring.jwks()["keys"][0].as_object().unwrap();
        PublicKey::from_jwk(jwk).unwrap()
    }

    #[test]
    fn a_published_key_verifies_the_rings_tokens_for_every_algorithm() {
        for alg in [SigningAlg::Rs256, SigningAlg::Es256, SigningAlg::EdDsa] {
            let ring = ring(alg);
            let key = published(&ring);
            assert_eq!(key.alg(), alg);
            assert_eq!(key.kid(), ring.active_kid());
            let c = claims(t0().unix_timestamp(), 600);
            let token = ring.sign(&c).unwrap();
            assert_eq!(header_kid(&token).as_deref(), Some(ring.active_kid()));
            let rules = Validation {
                issuer: Some(ISSUER),
                audience: Some("my-service"),
                leeway: Duration::ZERO,
            };
            assert_eq!(key.verify(&token, t0(), &rules), Ok(c));
            let other_aud = Validation {
                audience: Some("other"),
                ..rules
            };
            assert_eq!(
                key.verify(&token, t0(), &other_aud),
                Err(VerifyError::WrongAudience)
            );
        }
    }

    #[test]
    fn leeway_widens_exp_nbf_and_iat_by_exactly_its_length() {
        let ring = ring(SigningAlg::EdDsa);
        let key = published(&ring);
        let iat = t0().unix_timestamp();
        let token = ring.sign(&claims(iat, 600)).unwrap();
        let exp = t0() + Duration::seconds(600);
        let rules = |leeway| Validation {
            issuer: None,
            audience: None,
            leeway,
        };
        let minute = rules(Duration::MINUTE);
        assert!(key
            .verify(&token, exp + Duration::seconds(59), &minute)
            .is_ok());
        assert_eq!(
            key.verify(&token, exp + Duration::MINUTE, &minute),
            Err(VerifyError::Expired)
        );
        assert_eq!(
            key.verify(&token, exp, &rules(Duration::ZERO)),
            Err(VerifyError::Expired)
        );
        assert!(key
            .verify(&token, t0() - Duration::seconds(59), &minute)
            .is_ok());
        assert_eq!(
            key.verify(&token, t0() - Duration::seconds(61), &minute),
            Err(VerifyError::NotYetValid)
        );
        // iat 4 minutes ahead, nbf in the past: only a leeway over 4 minutes
        // accepts it.
        let mut ahead = claims(iat + 240, 600);
        ahead.nbf = iat - 10;
        let ahead = ring.sign(&ahead).unwrap();
        assert_eq!(
            key.verify(&ahead, t0(), &minute),
            Err(VerifyError::IssuedInFuture)
        );
        assert!(key.verify(&ahead, t0(), &rules(MAX_LEEWAY)).is_ok());
    }

    #[test]
    fn jwks_entries_that_are_not_usable_keys_are_refused() {
        let ring = ring(SigningAlg::Es256);
        let good = ring.jwks()["keys"][0].as_object().unwrap().clone();
        let with = |k: &str, v: Option<Value>| {
            let mut m = good.clone();
            match v {
                Some(v) => m.insert(k.into(), v),
                None => m.remove(k),
            };
            PublicKey::from_jwk(&m).map(|_| ())
        };
        assert!(with("use", Some("sig".into())).is_ok());
        for (member, value) in [
            ("kid", None),
            ("kid", Some(Value::from(7))),
            ("alg", None),
            ("alg", Some("HS256".into())),
            ("alg", Some("RS256".into())),
            ("alg", Some("none".into())),
            ("use", Some("enc".into())),
            ("x", None),
        ] {
            assert!(with(member, value.clone()).is_err(), "{member} {value:?}");
        }
        // A key's own alg decides: a token whose header names another fails
        // even when its signature is the key's.
        let key = published(&ring);
        let mut header = JwsHeader::new();
        header.set_token_type("at+jwt");
        header.set_key_id(ring.active_kid());
        header.set_algorithm("ES384");
        let token = ring.sign(&claims(t0().unix_timestamp(), 60)).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let swapped = format!(
            "{}.{}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(serde_json::to_vec(header.claims_set()).unwrap()),
            parts[1],
            parts[2]
        );
        assert_eq!(
            key.verify(&swapped, t0(), &Validation::server(None)),
            Err(VerifyError::BadSignature)
        );
        assert!(!format!("{key:?}").contains(&good["x"].to_string()));
    }
}
