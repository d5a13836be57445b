//! The raw limits of issue 6, one core: a BCrypt verification at cost 10
//! (the default `APP_BCRYPT_COST`) and at cost 4 (the tests' cost), and one
//! access token signature per algorithm through auth-token. The load script
//! reads these figures (target/criterion/…/new/estimates.json) and puts
//! every server figure next to them.
//!
//! Each is measured twice: in wall time (criterion's default), and in CPU
//! time of the benchmarking thread (`*_cpu` groups), which stays true on a
//! machine whose cores other processes share; the load script compares it
//! with the CPU time the server spent.
//!
//! Benchmarks, like tests, fail loudly on a broken fixture.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use auth_bench::{hash_at, key_ring, typical_claims, CLIENT_SECRET};
use auth_bench_cpu::{long_samples, CpuTime};
use auth_domain::{BcryptHasher, Secret, SecretHasher, Verification};
use auth_token::SigningAlg;
use criterion::measurement::Measurement;
use criterion::{criterion_group, criterion_main, Criterion};

fn bcrypt_verify<M: Measurement>(c: &mut Criterion<M>, name: &str) {
    let mut group = c.benchmark_group(name);
    long_samples(&mut group);
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

fn sign<M: Measurement>(c: &mut Criterion<M>, name: &str) {
    let mut group = c.benchmark_group(name);
    long_samples(&mut group);
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

fn wall(c: &mut Criterion) {
    bcrypt_verify(c, "bcrypt_verify");
    sign(c, "sign");
}

fn cpu(c: &mut Criterion<CpuTime>) {
    bcrypt_verify(c, "bcrypt_verify_cpu");
    sign(c, "sign_cpu");
}

criterion_group!(wall_time, wall);
criterion_group! {
    name = cpu_time;
    config = Criterion::default().with_measurement(CpuTime);
    targets = cpu
}
criterion_main!(wall_time, cpu_time);
