//! Warm verification of one token by [`auth_verify::Verifier`] (keys
//! cached, no introspection) beside the raw signature verification of the
//! same algorithm with OpenSSL: what the RFC 9068 checks, the claim parsing
//! and the cache add to the cryptography. Results: docs/benchmarks.md.
//! Never run in CI.
//!
//! Each pair is measured in wall time (`verify_*`) and in CPU time of the
//! benchmarking thread (`verify_*_cpu`, [`auth_bench_cpu::CpuTime`]),
//! which stays true on a machine whose cores other processes share. The verifier runs on a
//! current-thread runtime in that same thread, so its CPU time is counted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use auth_bench_cpu::{long_samples, CpuTime};
use auth_domain::StoredSigningKey;
use auth_token::{generate_key, AccessTokenClaims, KeyEncryption, KeyRing, SigningAlg};
use base64::Engine as _;
use criterion::measurement::Measurement;
use criterion::{criterion_group, criterion_main, Criterion};
use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Verifier as RawVerifier;

const ISSUER: &str = "https://auth.example.com";

/// A key ring of `alg`, its private key (for the raw verification's public
/// half) and a typical token of a client with a service account.
fn fixture(alg: SigningAlg) -> (KeyRing, PKey<Private>, String) {
    let enc = KeyEncryption::new(None).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let key = generate_key(alg, now, &enc).unwrap();
    // Stored unencrypted: "raw1" then the PKCS#8 DER.
    let private = PKey::private_key_from_pkcs8(&key.private_key[4..]).unwrap();
    let stored = StoredSigningKey::from(key);
    let ring = KeyRing::load(&[stored], &enc, now, time::Duration::DAY).unwrap();
    let iat = now.unix_timestamp();
    let claims = AccessTokenClaims {
        iss: ISSUER.into(),
        sub: "svc-my-service".into(),
        aud: "my-service".into(),
        client_id: "my-service".into(),
        iat,
        nbf: iat,
        exp: iat + 3600,
        jti: "AbCdEfGhIjK.0123456789abcdefghijkl".into(),
        scope: Some("read".into()),
        roles: Some(vec!["ANALYST".into(), "USER".into()]),
        permissions: Some(vec!["data.read".into(), "users.read".into()]),
        groups: Some(vec!["urn:example:groups:ops".into()]),
        attributes: serde_json::json!({"team": "platform"}).as_object().cloned(),
    };
    let token = ring.sign(&claims).unwrap();
    (ring, private, token)
}

/// Serves `body` as the JWKS to any request, on a loopback port.
fn serve_jwks(body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/oauth2/jwks", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncache-control: max-age=3600\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                body.len(),
                body
            );
        }
    });
    url
}

/// The signature check alone: the signing input against the signature,
/// with the public key, as a JWT library's innermost step does it.
fn raw_verify(alg: SigningAlg, public: &PKey<openssl::pkey::Public>, token: &str) -> bool {
    let (input, sig) = token.rsplit_once('.').unwrap();
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .unwrap();
    match alg {
        SigningAlg::Rs256 => {
            let mut v = RawVerifier::new(MessageDigest::sha256(), public).unwrap();
            v.update(input.as_bytes()).unwrap();
            v.verify(&sig).unwrap()
        }
        SigningAlg::Es256 => {
            // JWS carries r || s; OpenSSL wants DER.
            let (r, s) = sig.split_at(32);
            let der = EcdsaSig::from_private_components(
                BigNum::from_slice(r).unwrap(),
                BigNum::from_slice(s).unwrap(),
            )
            .unwrap()
            .to_der()
            .unwrap();
            let mut v = RawVerifier::new(MessageDigest::sha256(), public).unwrap();
            v.update(input.as_bytes()).unwrap();
            v.verify(&der).unwrap()
        }
        SigningAlg::EdDsa => {
            let mut v = RawVerifier::new_without_digest(public).unwrap();
            v.verify_oneshot(&sig, input.as_bytes()).unwrap()
        }
    }
}

fn bench<M: Measurement>(c: &mut Criterion<M>, suffix: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for alg in [SigningAlg::Rs256, SigningAlg::Es256, SigningAlg::EdDsa] {
        let (ring, private, token) = fixture(alg);
        let public = PKey::public_key_from_der(&private.public_key_to_der().unwrap()).unwrap();
        assert!(raw_verify(alg, &public, &token));
        let url = serve_jwks(ring.jwks().to_string());
        let verifier = auth_verify::Verifier::builder(ISSUER)
            .jwks_url(url)
            .build()
            .unwrap();
        // Warm the cache: the measured calls never fetch.
        let claims = rt.block_on(verifier.verify(&token)).unwrap();
        assert!(claims.has_permission("data.read"));

        let mut group = c.benchmark_group(format!("verify_{}{suffix}", alg.as_str()));
        if !suffix.is_empty() {
            long_samples(&mut group);
        }
        group.measurement_time(Duration::from_secs(3));
        group.bench_function("auth_verify_warm", |b| {
            b.iter(|| rt.block_on(verifier.verify(&token)).unwrap())
        });
        group.bench_function("raw_signature", |b| {
            b.iter(|| assert!(raw_verify(alg, &public, &token)))
        });
        group.finish();
        assert_eq!(verifier.key_fetches(), 1);
    }
}

fn wall(c: &mut Criterion) {
    bench(c, "");
}

fn cpu(c: &mut Criterion<CpuTime>) {
    bench(c, "_cpu");
}

criterion_group!(wall_benches, wall);
criterion_group! {
    name = cpu_benches;
    config = Criterion::default().with_measurement(CpuTime);
    targets = cpu
}
criterion_main!(wall_benches, cpu_benches);
