//! CPU time of the benchmarking thread as a criterion [`Measurement`]: on a
//! machine whose cores other processes share it stays true where wall time
//! does not. Its own crate so that auth-verify's benchmarks reach it
//! without depending on auth-bench, whose server fixture depends on
//! auth-verify.
//!
//! Benchmarks, like tests, fail loudly on a broken fixture: a machine
//! without the clock.
#![allow(clippy::expect_used)]

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BenchmarkGroup, SamplingMode};

/// CPU time of the calling thread, from `/proc/thread-self/schedstat`
/// (nanoseconds on a CPU), formatted like wall time. The kernel brings that
/// figure up to date at each scheduler tick, so the groups measured with it
/// take few, long samples ([`long_samples`]).
pub struct CpuTime;

static WALL: WallTime = WallTime;

fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .expect("/proc/thread-self/schedstat is readable (Linux)")
}

impl Measurement for CpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, started: u64) -> u64 {
        thread_cpu_ns().saturating_sub(started)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}

/// Ten samples of equal length: with samples of about 300 ms, a tick's
/// staleness of the CPU clock is about 1 % of a sample.
pub fn long_samples<M: Measurement>(group: &mut BenchmarkGroup<'_, M>) {
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
}
