//! The whole token handler in process (actix `test::init_service`, no
//! socket): request parsing, the proxy middleware, the client read from
//! SQLite, the verified-secret cache or one BCrypt verification on the
//! verification pool, the claims, one signature and the JSON answer.
//!
//! - `warm/<alg>`: the same client and secret every time (cache hits);
//!   `warm_linked/ES256` adds the service-account read.
//! - `cold/<cost>`: the cache disabled, so each request verifies with
//!   BCrypt; compare with `bcrypt_verify/<cost>` of the `raw` bench.
//! - `parts/…`: pieces of the warm path on their own, to attribute its
//!   time: the client read on the calling thread and through `web::block`
//!   (as the handler does it), and a cache lookup.
//!
//! Benchmarks, like tests, fail loudly on a broken fixture.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use actix_web::dev::Service;
use actix_web::{test, web, App};
use auth_bench::{token_form, HandlerSetup, StartedState, CLIENT_ID, LINKED_CLIENT_ID};
use auth_token::SigningAlg;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};

fn bench_handler(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    setup: HandlerSetup,
    client_id: &str,
) {
    let started = StartedState::start(setup).unwrap();
    let state = started.state.clone();
    let runner = actix_web::rt::System::new();
    let app = runner.block_on(test::init_service(
        App::new()
            .app_data(state.clone())
            .configure(auth_http::app::configure)
            .wrap(auth_http::proxy::ResolveEffectiveRequest::new(
                state.config.forwarding(),
            )),
    ));
    let body = token_form(client_id);
    let request = || {
        test::TestRequest::post()
            .uri("/oauth2/token")
            .peer_addr("127.0.0.1:40000".parse().unwrap())
            .insert_header(("X-Forwarded-Proto", "https"))
            .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
            .set_payload(body.clone())
            .to_request()
    };
    // One request first: it must succeed, and it warms the cache if on.
    let first = runner.block_on(app.call(request())).unwrap();
    assert_eq!(first.status(), 200, "{name}");
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            runner.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let res = app.call(request()).await.unwrap();
                    assert_eq!(res.status(), 200);
                    std::hint::black_box(test::read_body(res).await);
                }
                start.elapsed()
            })
        });
    });
    drop(started);
}

fn warm(c: &mut Criterion) {
    let mut group = c.benchmark_group("warm");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    for alg in [SigningAlg::Rs256, SigningAlg::Es256, SigningAlg::EdDsa] {
        let setup = HandlerSetup {
            alg,
            bcrypt_cost: 10,
            cache: true,
        };
        bench_handler(&mut group, alg.as_str(), setup, CLIENT_ID);
    }
    let setup = HandlerSetup {
        alg: SigningAlg::Es256,
        bcrypt_cost: 10,
        cache: true,
    };
    bench_handler(&mut group, "linked_ES256", setup, LINKED_CLIENT_ID);
    group.finish();
}

fn cold(c: &mut Criterion) {
    let mut group = c.benchmark_group("cold");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    for cost in [4, 10] {
        let setup = HandlerSetup {
            alg: SigningAlg::Es256,
            bcrypt_cost: cost,
            cache: false,
        };
        bench_handler(&mut group, &format!("cost_{cost}"), setup, CLIENT_ID);
    }
    group.finish();
}

fn parts(c: &mut Criterion) {
    let mut group = c.benchmark_group("parts");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    let started = StartedState::start(HandlerSetup {
        alg: SigningAlg::Es256,
        bcrypt_cost: 4,
        cache: true,
    })
    .unwrap();
    let state = started.state.clone();
    let id = auth_domain::ClientId::parse(CLIENT_ID).unwrap();
    group.bench_function("find_client", |b| {
        b.iter(|| state.repos.clients.find(&id).unwrap().unwrap());
    });
    let runner = actix_web::rt::System::new();
    group.bench_function("find_client_web_block", |b| {
        b.iter_custom(|iters| {
            runner.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let (repos, id) = (state.repos.clone(), id.clone());
                    let found = web::block(move || repos.clients.find(&id)).await;
                    std::hint::black_box(found.unwrap().unwrap());
                }
                start.elapsed()
            })
        });
    });
    state
        .auth
        .secret_cache()
        .remember(CLIENT_ID, "$2b$04$stored-hash", auth_bench::CLIENT_SECRET);
    group.bench_function("cache_hit", |b| {
        b.iter(|| {
            assert!(state.auth.secret_cache().hit(
                CLIENT_ID,
                "$2b$04$stored-hash",
                auth_bench::CLIENT_SECRET
            ))
        });
    });
    group.finish();
}

criterion_group!(benches, warm, cold, parts);
criterion_main!(benches);
