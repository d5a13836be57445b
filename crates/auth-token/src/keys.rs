//! Signing keys: generation for storage, and the loaded [`KeyRing`] that
//! signs with the active key, verifies with any loaded key, and publishes
//! the JWKS (see docs/reference/endpoints.md).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use josekit::jws::{self, JwsHeader, JwsSigner, JwsVerifier};
use serde_json::{json, Value};
use time::OffsetDateTime;

use auth_domain::{truncate_ms, NewSigningKey, StoredSigningKey};

use crate::alg::SigningAlg;
use crate::claims::{random_id, AccessTokenClaims};
use crate::encryption::KeyEncryption;
use crate::error::{TokenError, VerifyError};
use crate::validate::{header_kid, verify_access_token, Validation};

/// The JWS `typ` of an RFC 9068 access token.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// The longest lifetime (`exp - iat`) a token of ours can have: the longest
/// `access_token_ttl_minutes` (1440). A longer one was not issued by us,
/// whatever its signature says.
pub const MAX_TOKEN_LIFETIME: time::Duration = time::Duration::hours(24);

/// How far in the future a token's `iat` may lie (clock skew between
/// replicas).
pub const MAX_ISSUED_AHEAD: time::Duration = time::Duration::seconds(60);

/// How long a key retired by rotation keeps verifying and stays in the
/// JWKS: the longest token lifetime plus the allowed clock skew, so every
/// token it signed has expired by then. After that it is neither published
/// nor accepted.
pub const RETIRED_KEY_WINDOW: time::Duration = time::Duration::seconds(24 * 3600 + 60);

/// Where a stored key stands at some instant (`auth-server keys list`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Signs new tokens (and verifies).
    Active,
    /// Retired by rotation less than the window ago: verifies, is published.
    Retired,
    /// Retired longer ago than the window: neither verifies nor is published.
    Expired,
}

impl KeyState {
    /// The state of a key retired at `retired_at` (`None`: the active key),
    /// at `now`, for a retirement window of `window`.
    pub fn of(
        retired_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
        window: time::Duration,
    ) -> Self {
        match retired_at {
            None => Self::Active,
            Some(retired) if now < retired + window => Self::Retired,
            Some(_) => Self::Expired,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Retired => "retired (still verifying)",
            Self::Expired => "expired",
        }
    }
}

/// A new key pair of `alg`, ready for `SigningKeyRepository::rotate` or
/// `ensure_active`: a random `kid`, the private key as PKCS#8 DER in its
/// stored form (encrypted when `enc` is enabled), and the public JWK with
/// `kid`, `alg` and `use` = `sig`.
pub fn generate_key(
    alg: SigningAlg,
    now: OffsetDateTime,
    enc: &KeyEncryption,
) -> Result<NewSigningKey, TokenError> {
    let kid = random_id()?;
    let (der, mut jwk) = alg.generate()?;
    jwk.set_key_id(&kid);
    jwk.set_algorithm(alg.as_str());
    jwk.set_key_use("sig");
    let private_key = enc.seal(alg.as_str(), &kid, &der)?;
    Ok(NewSigningKey {
        kid,
        alg: alg.as_str().to_owned(),
        private_key,
        public_jwk: Value::Object(jwk.as_ref().clone()).to_string(),
        created_at: truncate_ms(now),
    })
}

/// The loaded signing keys. Cheap to clone (one `Arc`); replace it as a
/// whole after a reload.
#[derive(Clone)]
pub struct KeyRing {
    inner: Arc<Inner>,
}

struct Inner {
    active_kid: String,
    active_alg: SigningAlg,
    signer: Box<dyn JwsSigner>,
    verifiers: HashMap<String, Verifier>,
    jwks: Value,
}

struct Verifier {
    verifier: Box<dyn JwsVerifier>,
    /// The end of a retired key's window (`None`: the active key). Checked
    /// at each verification, so a ring loaded a while ago stops accepting
    /// the key on time, not at the next reload.
    verifies_until: Option<OffsetDateTime>,
}

impl KeyRing {
    /// Decrypts and loads the stored keys that still verify. Exactly one
    /// key must be active (`retired_at` is `None`). A retired key verifies
    /// and is published while it is younger than `retired_window` (the
    /// server passes [`RETIRED_KEY_WINDOW`]); an older one is left out
    /// altogether, so it is neither published nor accepted. The JWKS is
    /// computed here, at `now`: the active key first, then the retired ones
    /// newest first.
    pub fn load(
        keys: &[StoredSigningKey],
        enc: &KeyEncryption,
        now: OffsetDateTime,
        retired_window: time::Duration,
    ) -> Result<KeyRing, TokenError> {
        let active: Vec<&StoredSigningKey> =
            keys.iter().filter(|k| k.retired_at.is_none()).collect();
        let active = match active.as_slice() {
            [one] => *one,
            [] => return Err(TokenError::NoActiveKey),
            several => {
                return Err(TokenError::SeveralActiveKeys {
                    kids: several.iter().map(|k| k.kid.clone()).collect(),
                })
            }
        };

        let mut verifiers: HashMap<String, Verifier> = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        let mut published: Vec<(Option<OffsetDateTime>, Value)> = Vec::new();
        let mut active_signer = None;

        for stored in keys {
            if !seen.insert(stored.kid.as_str()) {
                return Err(TokenError::DuplicateKid(stored.kid.clone()));
            }
            if KeyState::of(stored.retired_at, now, retired_window) == KeyState::Expired {
                continue;
            }
            let alg: SigningAlg = stored.alg.parse().map_err(|_| TokenError::KeyAlgorithm {
                kid: stored.kid.clone(),
                alg: stored.alg.clone(),
            })?;
            let der = enc.open(alg.as_str(), &stored.kid, &stored.private_key)?;
            let invalid = || TokenError::KeyInvalid {
                kid: stored.kid.clone(),
                alg: alg.as_str().to_owned(),
            };
            let loaded = alg.load(&der).ok_or_else(invalid)?;

            let mut jwk = loaded.public_jwk;
            jwk.set_key_id(&stored.kid);
            jwk.set_algorithm(alg.as_str());
            jwk.set_key_use("sig");
            published.push((stored.retired_at, Value::Object(jwk.as_ref().clone())));

            if stored.retired_at.is_none() {
                active_signer = Some((alg, loaded.signer));
            }
            verifiers.insert(
                stored.kid.clone(),
                Verifier {
                    verifier: loaded.verifier,
                    verifies_until: stored.retired_at.map(|r| r + retired_window),
                },
            );
        }

        // `None` (the active key) sorts last ascending, so reversing puts it
        // first, followed by the most recently retired.
        published.sort_by_key(|(retired_at, _)| (retired_at.is_none(), *retired_at));
        published.reverse();
        let jwks = json!({ "keys": published.into_iter().map(|(_, jwk)| jwk).collect::<Vec<_>>() });

        let (active_alg, signer) = active_signer.ok_or(TokenError::NoActiveKey)?;
        Ok(KeyRing {
            inner: Arc::new(Inner {
                active_kid: active.kid.clone(),
                active_alg,
                signer,
                verifiers,
                jwks,
            }),
        })
    }

    pub fn active_kid(&self) -> &str {
        &self.inner.active_kid
    }

    /// The algorithm of the active key (compare with `APP_SIGNING_ALG`).
    pub fn active_alg(&self) -> SigningAlg {
        self.inner.active_alg
    }

    /// Whether a key with this id is loaded (active or retired).
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.inner.verifiers.contains_key(kid)
    }

    /// `{"keys": [...]}` with public members only, the active key first.
    pub fn jwks(&self) -> &Value {
        &self.inner.jwks
    }

    /// The compact JWS of `claims`, signed by the active key, with header
    /// `alg`, `kid` and `typ` = `at+jwt`.
    pub fn sign(&self, claims: &AccessTokenClaims) -> Result<String, TokenError> {
        let payload = serde_json::to_vec(claims)
            .map_err(|e| TokenError::crypto("serialising the claims", e))?;
        let mut header = JwsHeader::new();
        header.set_token_type(ACCESS_TOKEN_TYPE);
        header.set_key_id(&self.inner.active_kid);
        jws::serialize_compact(&payload, &header, self.inner.signer.as_ref())
            .map_err(|e| TokenError::crypto("signing the access token", e))
    }

    /// Checks a token this server issued: the signature by the key its
    /// header names (with that key's algorithm only) while that key is
    /// active or inside its retirement window, `typ` = `at+jwt`, `exp >
    /// now`, `nbf <= now` (no leeway: the servers share the database's keys
    /// and their clocks agree), `exp - iat` at most [`MAX_TOKEN_LIFETIME`],
    /// `iat` at most [`MAX_ISSUED_AHEAD`] after `now`, and `iss` when
    /// `expected_issuer` is given. Revocation and the client are the
    /// caller's to check (they need the database).
    pub fn verify(
        &self,
        token: &str,
        now: OffsetDateTime,
        expected_issuer: Option<&str>,
    ) -> Result<AccessTokenClaims, VerifyError> {
        let kid = header_kid(token).ok_or(VerifyError::Malformed)?;
        let verifier = self
            .inner
            .verifiers
            .get(&kid)
            .ok_or(VerifyError::UnknownKid)?;
        if verifier.verifies_until.is_some_and(|until| until <= now) {
            return Err(VerifyError::RetiredKey);
        }
        verify_access_token(
            token,
            verifier.verifier.as_ref(),
            now,
            &Validation::server(expected_issuer),
        )
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<&str> = self.inner.verifiers.keys().map(String::as_str).collect();
        kids.sort_unstable();
        f.debug_struct("KeyRing")
            .field("active_kid", &self.inner.active_kid)
            .field("active_alg", &self.inner.active_alg)
            .field("kids", &kids)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use auth_domain::{ClientId, ClientSettings, ClientType, NewClient, ScopeSet, SecretSlots};
    use auth_domain::{Secret, ServiceAccount};
    use base64::Engine as _;
    use serde_json::Map;
    use time::Duration;

    use super::*;

    const ISSUER: &str = "https://auth.example.test";
    const ALGS: [SigningAlg; 3] = [SigningAlg::Rs256, SigningAlg::Es256, SigningAlg::EdDsa];
    const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

    fn t0() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
    }

    fn no_enc() -> KeyEncryption {
        KeyEncryption::new(None).unwrap()
    }

    fn enc(secret: &str) -> KeyEncryption {
        KeyEncryption::new(Some(&Secret::new(secret))).unwrap()
    }

    fn stored(key: NewSigningKey, retired_at: Option<OffsetDateTime>) -> StoredSigningKey {
        StoredSigningKey {
            kid: key.kid,
            alg: key.alg,
            private_key: key.private_key,
            public_jwk: key.public_jwk,
            created_at: key.created_at,
            retired_at,
        }
    }

    fn ring_of(alg: SigningAlg) -> KeyRing {
        let key = generate_key(alg, t0(), &no_enc()).unwrap();
        KeyRing::load(&[stored(key, None)], &no_enc(), t0(), Duration::DAY).unwrap()
    }

    fn claims_at(now: OffsetDateTime) -> AccessTokenClaims {
        let id = ClientId::parse("my-service").unwrap();
        let mut settings = ClientSettings::defaults_for(&id);
        settings.scope = ScopeSet::parse("read").unwrap();
        let mut client = NewClient {
            id,
            client_type: ClientType::Confidential,
            settings,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            created_at: t0(),
            secrets: SecretSlots::default(),
        }
        .into_client();
        client.service_account_id = Some("svc".into());
        let mut account = ServiceAccount::new("svc");
        account.roles = vec!["USER".into()];
        AccessTokenClaims::build(
            ISSUER,
            &client,
            &ScopeSet::parse("read").unwrap(),
            Some((&account, vec!["data.read".into()])),
            now,
        )
        .unwrap()
    }

    fn b64_json(part: &str) -> Value {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn b64(value: &Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
    }

    /// Signs `payload` with the ring's active key under a header of our
    /// choosing, to forge tokens that are validly signed but wrong otherwise.
    fn sign_raw(ring: &KeyRing, header: &JwsHeader, payload: &Value) -> String {
        jws::serialize_compact(
            payload.to_string().as_bytes(),
            header,
            ring.inner.signer.as_ref(),
        )
        .unwrap()
    }

    fn jwks_entry<'a>(ring: &'a KeyRing, kid: &str) -> Option<&'a Map<String, Value>> {
        ring.jwks()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_object().unwrap())
            .find(|k| k["kid"] == kid)
    }

    fn published_kids(ring: &KeyRing) -> Vec<String> {
        ring.jwks()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn every_algorithm_round_trips_with_an_at_jwt_header() {
        for alg in ALGS {
            let ring = ring_of(alg);
            assert_eq!(ring.active_alg(), alg);
            let claims = claims_at(t0());
            let token = ring.sign(&claims).unwrap();

            let header = b64_json(token.split('.').next().unwrap());
            assert_eq!(header["alg"], alg.as_str(), "{alg}");
            assert_eq!(header["kid"], ring.active_kid(), "{alg}");
            assert_eq!(header["typ"], "at+jwt", "{alg}");

            let now = t0() + Duration::seconds(10);
            assert_eq!(ring.verify(&token, now, Some(ISSUER)).unwrap(), claims);
            assert_eq!(ring.verify(&token, now, None).unwrap(), claims);
        }
    }

    #[test]
    fn jwks_publishes_the_kid_with_public_members_only() {
        for alg in ALGS {
            let ring = ring_of(alg);
            let keys = ring.jwks()["keys"].as_array().unwrap();
            assert_eq!(keys.len(), 1);
            let jwk = jwks_entry(&ring, ring.active_kid()).unwrap();
            assert_eq!(jwk["alg"], alg.as_str());
            assert_eq!(jwk["use"], "sig");
            for member in PRIVATE_MEMBERS {
                assert!(!jwk.contains_key(member), "{alg} JWKS has {member}");
            }
            let expected_kty = match alg {
                SigningAlg::Rs256 => "RSA",
                SigningAlg::Es256 => "EC",
                SigningAlg::EdDsa => "OKP",
            };
            assert_eq!(jwk["kty"], expected_kty);
            // The published key is the one that verifies: a token checks out
            // with a verifier built from the JWKS entry alone.
            let public = josekit::jwk::Jwk::from_map(jwk.clone()).unwrap();
            let verifier: Box<dyn JwsVerifier> = match alg {
                SigningAlg::Rs256 => Box::new(jws::RS256.verifier_from_jwk(&public).unwrap()),
                SigningAlg::Es256 => Box::new(jws::ES256.verifier_from_jwk(&public).unwrap()),
                SigningAlg::EdDsa => Box::new(jws::EdDSA.verifier_from_jwk(&public).unwrap()),
            };
            let token = ring.sign(&claims_at(t0())).unwrap();
            assert!(jws::deserialize_compact(&token, verifier.as_ref()).is_ok());
        }
    }

    #[test]
    fn stored_public_jwk_is_public_and_names_kid_alg_use() {
        for alg in ALGS {
            let key = generate_key(alg, t0(), &no_enc()).unwrap();
            let jwk: Map<String, Value> = serde_json::from_str(&key.public_jwk).unwrap();
            assert_eq!(jwk["kid"], key.kid.as_str());
            assert_eq!(jwk["alg"], alg.as_str());
            assert_eq!(jwk["use"], "sig");
            assert_eq!(key.alg, alg.as_str());
            for member in PRIVATE_MEMBERS {
                assert!(!jwk.contains_key(member), "{alg} stored JWK has {member}");
            }
        }
    }

    #[test]
    fn kids_are_random_and_distinct() {
        let a = generate_key(SigningAlg::EdDsa, t0(), &no_enc()).unwrap();
        let b = generate_key(SigningAlg::EdDsa, t0(), &no_enc()).unwrap();
        assert_ne!(a.kid, b.kid);
        assert_eq!(a.kid.len(), 22);
    }

    #[test]
    fn a_foreign_key_of_the_same_algorithm_does_not_verify() {
        for alg in ALGS {
            let ours = ring_of(alg);
            let theirs = ring_of(alg);
            let token = theirs.sign(&claims_at(t0())).unwrap();
            assert_eq!(
                ours.verify(&token, t0(), None),
                Err(VerifyError::UnknownKid),
                "{alg}"
            );

            // The same forger claiming our kid: the signature gives it away.
            let mut header = JwsHeader::new();
            header.set_token_type("at+jwt");
            header.set_key_id(ours.active_kid());
            let payload = serde_json::to_value(claims_at(t0())).unwrap();
            let forged = sign_raw(&theirs, &header, &payload);
            assert_eq!(
                ours.verify(&forged, t0(), None),
                Err(VerifyError::BadSignature),
                "{alg}"
            );
        }
    }

    #[test]
    fn a_tampered_payload_does_not_verify() {
        for alg in ALGS {
            let ring = ring_of(alg);
            let token = ring.sign(&claims_at(t0())).unwrap();
            let parts: Vec<&str> = token.split('.').collect();
            let mut payload = b64_json(parts[1]);
            payload["permissions"] = serde_json::json!(["client.write", "users.write"]);
            let tampered = format!("{}.{}.{}", parts[0], b64(&payload), parts[2]);
            assert_eq!(
                ring.verify(&tampered, t0(), None),
                Err(VerifyError::BadSignature),
                "{alg}"
            );
        }
    }

    #[test]
    fn another_algorithm_in_the_header_does_not_verify() {
        let ring = ring_of(SigningAlg::Es256);
        let token = ring.sign(&claims_at(t0())).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        for alg in ["none", "HS256", "RS256", "EdDSA"] {
            let mut header = b64_json(parts[0]);
            header["alg"] = Value::String(alg.into());
            let swapped = format!("{}.{}.{}", b64(&header), parts[1], parts[2]);
            assert_eq!(
                ring.verify(&swapped, t0(), None),
                Err(VerifyError::BadSignature),
                "{alg}"
            );
            let unsigned = format!("{}.{}.", b64(&header), parts[1]);
            assert_eq!(
                ring.verify(&unsigned, t0(), None),
                Err(VerifyError::BadSignature),
                "{alg} without signature"
            );
        }
    }

    #[test]
    fn expiry_is_exact() {
        for alg in ALGS {
            let ring = ring_of(alg);
            let claims = claims_at(t0());
            let token = ring.sign(&claims).unwrap();
            let exp = OffsetDateTime::from_unix_timestamp(claims.exp).unwrap();
            assert!(ring
                .verify(&token, exp - Duration::nanoseconds(1), None)
                .is_ok());
            assert_eq!(ring.verify(&token, exp, None), Err(VerifyError::Expired));
            assert_eq!(
                ring.verify(&token, exp + Duration::HOUR, None),
                Err(VerifyError::Expired)
            );
        }
    }

    #[test]
    fn a_token_is_not_valid_before_nbf() {
        for alg in ALGS {
            let ring = ring_of(alg);
            let claims = claims_at(t0());
            let token = ring.sign(&claims).unwrap();
            assert_eq!(
                ring.verify(&token, t0() - Duration::nanoseconds(1), None),
                Err(VerifyError::NotYetValid)
            );
            assert_eq!(
                ring.verify(&token, t0() - Duration::MINUTE, None),
                Err(VerifyError::NotYetValid)
            );
            assert!(ring.verify(&token, t0(), None).is_ok());
        }
    }

    #[test]
    fn the_issuer_is_checked_only_when_expected() {
        for alg in ALGS {
            let ring = ring_of(alg);
            let token = ring.sign(&claims_at(t0())).unwrap();
            assert_eq!(
                ring.verify(&token, t0(), Some("https://other.example.test")),
                Err(VerifyError::WrongIssuer)
            );
            assert_eq!(
                ring.verify(&token, t0(), Some("https://auth.example.test/")),
                Err(VerifyError::WrongIssuer)
            );
            assert!(ring.verify(&token, t0(), Some(ISSUER)).is_ok());
            assert!(ring.verify(&token, t0(), None).is_ok());
        }
    }

    #[test]
    fn the_type_must_be_at_jwt() {
        let ring = ring_of(SigningAlg::EdDsa);
        let payload = serde_json::to_value(claims_at(t0())).unwrap();
        for (typ, ok) in [
            (Some("JWT"), false),
            (Some("jwt"), false),
            (None, false),
            (Some("at+jwt"), true),
            (Some("application/at+jwt"), true),
            (Some("AT+JWT"), true),
        ] {
            let mut header = JwsHeader::new();
            header.set_key_id(ring.active_kid());
            if let Some(typ) = typ {
                header.set_token_type(typ);
            }
            let token = sign_raw(&ring, &header, &payload);
            let result = ring.verify(&token, t0(), None);
            if ok {
                assert!(result.is_ok(), "{typ:?}");
            } else {
                assert_eq!(result, Err(VerifyError::WrongType), "{typ:?}");
            }
        }
    }

    #[test]
    fn malformed_tokens_and_claims_are_told_apart() {
        let ring = ring_of(SigningAlg::EdDsa);
        let token = ring.sign(&claims_at(t0())).unwrap();
        for bad in [
            "",
            "abc",
            "a.b",
            "a.b.c.d",
            "!!.b.c",
            &format!("{token}.x"),
            &format!("{}.e30.sig", b64(&serde_json::json!({"alg": "EdDSA"}))),
            &format!("{}.e30.sig", b64(&serde_json::json!({"kid": 7}))),
            &format!("{}.e30.sig", b64(&serde_json::json!(["kid"]))),
        ] {
            assert_eq!(
                ring.verify(bad, t0(), None),
                Err(VerifyError::Malformed),
                "{bad}"
            );
        }

        let mut header = JwsHeader::new();
        header.set_token_type("at+jwt");
        header.set_key_id(ring.active_kid());
        let mut payload = serde_json::to_value(claims_at(t0())).unwrap();
        payload.as_object_mut().unwrap().remove("exp");
        let no_exp = sign_raw(&ring, &header, &payload);
        assert_eq!(
            ring.verify(&no_exp, t0(), None),
            Err(VerifyError::MalformedClaims)
        );
        payload["exp"] = Value::String("soon".into());
        let text_exp = sign_raw(&ring, &header, &payload);
        assert_eq!(
            ring.verify(&text_exp, t0(), None),
            Err(VerifyError::MalformedClaims)
        );
    }

    #[test]
    fn an_encrypted_key_hides_its_der_and_round_trips() {
        let secret = "correct horse battery staple, 32+ bytes";
        for alg in ALGS {
            let e = enc(secret);
            let key = generate_key(alg, t0(), &e).unwrap();
            let der = e.open(alg.as_str(), &key.kid, &key.private_key).unwrap();
            assert!(openssl::pkey::PKey::private_key_from_pkcs8(&der).is_ok());
            assert!(key.private_key.starts_with(b"enc1"));
            assert!(
                !key.private_key
                    .windows(der.len())
                    .any(|w| w == der.as_slice()),
                "{alg}: the DER is stored in clear"
            );
            // Not even a 16-byte run of the DER survives.
            assert!(!der
                .chunks(16)
                .any(|chunk| chunk.len() == 16 && key.private_key.windows(16).any(|w| w == chunk)));

            let ring =
                KeyRing::load(&[stored(key, None)], &enc(secret), t0(), Duration::DAY).unwrap();
            let token = ring.sign(&claims_at(t0())).unwrap();
            assert!(ring.verify(&token, t0(), Some(ISSUER)).is_ok());
        }
    }

    #[test]
    fn an_encrypted_key_does_not_load_with_a_wrong_or_missing_secret() {
        let key = generate_key(
            SigningAlg::Es256,
            t0(),
            &enc("the right secret, 32 bytes or more"),
        )
        .unwrap();
        let kid = key.kid.clone();
        let keys = [stored(key, None)];
        for wrong in [enc("the wrong secret, 32 bytes or more"), no_enc()] {
            let err = KeyRing::load(&keys, &wrong, t0(), Duration::DAY).unwrap_err();
            assert!(
                matches!(&err, TokenError::KeyDecrypt { kid: k, .. } if *k == kid),
                "{err:?}"
            );
            assert!(err.to_string().contains(&kid));
        }
    }

    #[test]
    fn a_short_encryption_secret_is_refused() {
        let short = Secret::new("only 31 bytes long, not enough!");
        assert_eq!(short.byte_len(), 31);
        assert_eq!(
            KeyEncryption::new(Some(&short)).unwrap_err(),
            TokenError::EncryptionSecretTooShort
        );
        assert!(!TokenError::EncryptionSecretTooShort
            .to_string()
            .contains(short.expose()));
    }

    #[test]
    fn an_unencrypted_key_is_stored_raw_and_round_trips() {
        for alg in ALGS {
            let key = generate_key(alg, t0(), &no_enc()).unwrap();
            assert!(key.private_key.starts_with(b"raw1"));
            let der = &key.private_key[4..];
            assert!(openssl::pkey::PKey::private_key_from_pkcs8(der).is_ok());
            // Switching encryption on later keeps old raw keys usable.
            let with_secret = enc("a secret configured after the fact!!");
            let ring =
                KeyRing::load(&[stored(key, None)], &with_secret, t0(), Duration::DAY).unwrap();
            let token = ring.sign(&claims_at(t0())).unwrap();
            assert!(ring.verify(&token, t0(), None).is_ok());
        }
    }

    #[test]
    fn retired_keys_verify_and_are_published_only_while_young() {
        let e = no_enc();
        let old = generate_key(SigningAlg::Rs256, t0(), &e).unwrap();
        let old_kid = old.kid.clone();
        let old_only =
            KeyRing::load(&[stored(old.clone(), None)], &e, t0(), Duration::DAY).unwrap();
        let old_token = old_only.sign(&claims_at(t0())).unwrap();

        let rotated_at = t0() + Duration::minutes(5);
        let new = generate_key(SigningAlg::Es256, rotated_at, &e).unwrap();
        let new_kid = new.kid.clone();
        let keys = [stored(new, None), stored(old, Some(rotated_at))];
        let window = Duration::HOUR;

        // Inside the window both are published, the active key first.
        let ring = KeyRing::load(&keys, &e, rotated_at + Duration::minutes(59), window).unwrap();
        assert_eq!(ring.active_kid(), new_kid);
        assert_eq!(ring.active_alg(), SigningAlg::Es256);
        assert_eq!(published_kids(&ring), [new_kid.clone(), old_kid.clone()]);
        let now = rotated_at + Duration::minutes(1);
        assert_eq!(
            ring.verify(&old_token, now, Some(ISSUER)).unwrap().sub,
            "svc"
        );
        let new_token = ring.sign(&claims_at(now)).unwrap();
        assert_eq!(
            b64_json(new_token.split('.').next().unwrap())["kid"],
            new_kid
        );

        // At and after the end of the window only the active key remains:
        // the retired key is neither published nor accepted.
        for later in [rotated_at + window, rotated_at + Duration::DAY] {
            let ring = KeyRing::load(&keys, &e, later, window).unwrap();
            assert_eq!(published_kids(&ring), std::slice::from_ref(&new_kid));
            assert!(!ring.contains_kid(&old_kid));
            let token_from_old = {
                let mut header = JwsHeader::new();
                header.set_token_type("at+jwt");
                header.set_key_id(&old_kid);
                let payload =
                    serde_json::to_value(claims_at(later - Duration::minutes(1))).unwrap();
                sign_raw(&old_only, &header, &payload)
            };
            assert_eq!(
                ring.verify(&token_from_old, later, None),
                Err(VerifyError::UnknownKid)
            );
        }
        // A ring loaded inside the window stops accepting the key when the
        // window ends, without waiting for a reload.
        let end = rotated_at + window;
        let loaded_earlier =
            KeyRing::load(&keys, &e, rotated_at + Duration::minutes(1), window).unwrap();
        let mut header = JwsHeader::new();
        header.set_token_type("at+jwt");
        header.set_key_id(&old_kid);
        let payload = serde_json::to_value(claims_at(end - Duration::minutes(1))).unwrap();
        let token_from_old = sign_raw(&old_only, &header, &payload);
        assert!(loaded_earlier
            .verify(&token_from_old, end - Duration::nanoseconds(1), None)
            .is_ok());
        assert_eq!(
            loaded_earlier.verify(&token_from_old, end, None),
            Err(VerifyError::RetiredKey)
        );
    }

    #[test]
    fn the_retirement_window_is_a_day_and_a_minute() {
        let retired = t0();
        let window = RETIRED_KEY_WINDOW;
        assert_eq!(window, Duration::hours(24) + Duration::seconds(60));
        let state = |now| KeyState::of(Some(retired), now, window);
        assert_eq!(
            KeyState::of(None, t0() + Duration::days(999), window),
            KeyState::Active
        );
        assert_eq!(state(retired + Duration::hours(23)), KeyState::Retired);
        assert_eq!(
            state(retired + window - Duration::milliseconds(1)),
            KeyState::Retired
        );
        assert_eq!(state(retired + window), KeyState::Expired);
        assert_eq!(state(retired + Duration::hours(25)), KeyState::Expired);
        assert_eq!(KeyState::Retired.describe(), "retired (still verifying)");
    }

    #[test]
    fn a_lifetime_over_a_day_or_an_iat_over_a_minute_ahead_does_not_verify() {
        let ring = ring_of(SigningAlg::EdDsa);
        let mut header = JwsHeader::new();
        header.set_token_type("at+jwt");
        header.set_key_id(ring.active_kid());
        let now = t0();
        let at = |iat_offset: i64, lifetime: i64| {
            let mut claims = claims_at(now);
            claims.iat = now.unix_timestamp() + iat_offset;
            claims.nbf = now.unix_timestamp() - 1;
            claims.exp = claims.iat + lifetime;
            let token = sign_raw(&ring, &header, &serde_json::to_value(&claims).unwrap());
            ring.verify(&token, now, None).map(|_| ())
        };
        assert_eq!(at(-10, 86_400), Ok(()));
        assert_eq!(at(-10, 86_401), Err(VerifyError::LifetimeTooLong));
        assert_eq!(at(60, 600), Ok(()));
        assert_eq!(at(61, 600), Err(VerifyError::IssuedInFuture));
        assert_eq!(at(120, 600), Err(VerifyError::IssuedInFuture));
    }

    #[test]
    fn the_active_key_is_published_however_old() {
        let e = no_enc();
        let key = generate_key(SigningAlg::EdDsa, t0(), &e).unwrap();
        let kid = key.kid.clone();
        let ring = KeyRing::load(
            &[stored(key, None)],
            &e,
            t0() + Duration::days(3650),
            Duration::ZERO,
        )
        .unwrap();
        assert_eq!(published_kids(&ring), [kid]);
    }

    #[test]
    fn retired_keys_are_published_newest_first() {
        let e = no_enc();
        let a = generate_key(SigningAlg::EdDsa, t0(), &e).unwrap();
        let b = generate_key(SigningAlg::EdDsa, t0(), &e).unwrap();
        let c = generate_key(SigningAlg::EdDsa, t0(), &e).unwrap();
        let kids = [c.kid.clone(), b.kid.clone(), a.kid.clone()];
        let keys = [
            stored(a, Some(t0() + Duration::minutes(1))),
            stored(c, None),
            stored(b, Some(t0() + Duration::minutes(2))),
        ];
        let ring = KeyRing::load(&keys, &e, t0() + Duration::minutes(3), Duration::HOUR).unwrap();
        assert_eq!(published_kids(&ring), kids);
    }

    #[test]
    fn load_needs_exactly_one_active_key_and_valid_rows() {
        let e = no_enc();
        let a = generate_key(SigningAlg::EdDsa, t0(), &e).unwrap();
        let b = generate_key(SigningAlg::EdDsa, t0(), &e).unwrap();

        assert_eq!(
            KeyRing::load(&[], &e, t0(), Duration::DAY).unwrap_err(),
            TokenError::NoActiveKey
        );
        assert_eq!(
            KeyRing::load(&[stored(a.clone(), Some(t0()))], &e, t0(), Duration::DAY).unwrap_err(),
            TokenError::NoActiveKey
        );
        assert!(matches!(
            KeyRing::load(
                &[stored(a.clone(), None), stored(b.clone(), None)],
                &e,
                t0(),
                Duration::DAY
            ),
            Err(TokenError::SeveralActiveKeys { kids }) if kids.len() == 2
        ));
        assert_eq!(
            KeyRing::load(
                &[stored(a.clone(), None), stored(a.clone(), Some(t0()))],
                &e,
                t0(),
                Duration::DAY
            )
            .unwrap_err(),
            TokenError::DuplicateKid(a.kid.clone())
        );

        let mut unknown_alg = stored(b.clone(), Some(t0()));
        unknown_alg.alg = "HS256".into();
        assert!(matches!(
            KeyRing::load(&[stored(a.clone(), None), unknown_alg], &e, t0(), Duration::DAY),
            Err(TokenError::KeyAlgorithm { kid, .. }) if kid == b.kid
        ));

        // An EdDSA key stored as RS256 (a mislabelled row) does not load.
        let mut wrong_alg = stored(b.clone(), Some(t0()));
        wrong_alg.alg = "RS256".into();
        assert!(matches!(
            KeyRing::load(&[stored(a.clone(), None), wrong_alg], &e, t0(), Duration::DAY),
            Err(TokenError::KeyInvalid { kid, .. }) if kid == b.kid
        ));

        let mut garbage = stored(b.clone(), None);
        garbage.private_key = b"raw1not a key".to_vec();
        assert!(matches!(
            KeyRing::load(&[garbage], &e, t0(), Duration::DAY),
            Err(TokenError::KeyInvalid { kid, .. }) if kid == b.kid
        ));
    }

    #[test]
    fn debug_output_carries_no_key_material() {
        let e = enc("a secret used only for this debug test");
        let key = generate_key(SigningAlg::Rs256, t0(), &e).unwrap();
        let der = e.open("RS256", &key.kid, &key.private_key).unwrap();
        let kid = key.kid.clone();
        let ring = KeyRing::load(&[stored(key, None)], &e, t0(), Duration::DAY).unwrap();
        let shown = format!("{ring:?} {e:?}");
        assert!(shown.contains(&kid));
        let der_b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        assert!(!shown.contains(&der_b64[..40]));
        assert!(!shown.contains("PRIVATE"));
        assert!(!shown.contains(" d:") && !shown.contains("\"d\""));
        assert!(shown.len() < 300, "{shown}");
    }

    #[test]
    fn key_ring_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<KeyRing>();
        let ring = ring_of(SigningAlg::Es256);
        let token = ring.sign(&claims_at(t0())).unwrap();
        let clone = ring.clone();
        let verified = std::thread::spawn(move || clone.verify(&token, t0(), None).is_ok())
            .join()
            .unwrap();
        assert!(verified);
    }
}
