//! The raw limits of issue 6, one core: a BCrypt verification at cost 10
//! (the default `APP_BCRYPT_COST`) and at cost 4 (the tests' cost), and one
//! access token signature per algorithm through auth-token. The load script
//! reads these figures (target/criterion/…/new/estimates.json) and puts
//! every server figure next to them.
//!
//! Benchmarks, like tests, fail loudly on a broken fixture.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use auth_bench::{hash_at, key_ring, typical_claims, CLIENT_SECRET};
use auth_domain::{BcryptHasher, Secret, SecretHasher, Verification};
use auth_token::SigningAlg;
use criterion::{criterion_group, criterion_main, Criterion};

fn bcrypt_verify(c: &mut Criterion) {
    let mut group = c.benchmark_group("bcrypt_verify");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    let secret = Secret::new(CLIENT_SECRET);
    for cost in [4, 10] {
        let hasher = BcryptHasher::new(cost).unwrap();
        let stored = hash_at(cost).unwrap();
        group.bench_function(format!("cost_{cost}"), |b| {
            b.iter(|| {
                let v = hasher.verify(std::hint::black_box(&secret), &stored);
                assert_eq!(v, Verification::Match);
            });
        });
    }
    group.finish();
}

fn sign(c: &mut Criterion) {
    let mut group = c.benchmark_group("sign");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    let claims = typical_claims().unwrap();
    for alg in [SigningAlg::Rs256, SigningAlg::Es256, SigningAlg::EdDsa] {
        let ring = key_ring(alg).unwrap();
        group.bench_function(alg.as_str(), |b| {
            b.iter(|| ring.sign(std::hint::black_box(&claims)).unwrap());
        });
    }
    group.finish();
}

criterion_group!(benches, bcrypt_verify, sign);
criterion_main!(benches);
