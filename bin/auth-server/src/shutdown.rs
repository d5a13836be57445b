//! How `auth-server serve` stops (see docs/reference/operations.md#shutdown).
//!
//! SIGTERM, what an orchestrator sends first: the server drains — `/readyz`
//! answers 503 at once so load balancers stop routing to it, while every
//! request that still arrives is served — for `APP_SHUTDOWN_DRAIN`; then it
//! stops accepting connections and lets the requests in flight finish (up
//! to 30 s) before the process exits 0. SIGINT and SIGQUIT stop at once,
//! and so does either one arriving during the drain.

use std::time::Duration;

use actix_web::dev::ServerHandle;
use auth_http::drain::Drain;

/// Waits for a stop signal and stops the server as described above.
pub async fn on_signals(handle: ServerHandle, drain: Drain, delay: Duration) {
    let mut signals = match Signals::new() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for stop signals; stop the server with SIGKILL");
            return;
        }
    };
    match signals.next().await {
        Stop::Drain => {
            tracing::info!(
                drain_ms = delay.as_millis() as u64,
                "SIGTERM: draining (/readyz answers 503), then a graceful stop"
            );
            drain.start();
            tokio::select! {
                () = tokio::time::sleep(delay) => {
                    tracing::info!("drained: no new connections; finishing the requests in flight");
                    handle.stop(true).await;
                }
                _ = signals.next() => {
                    tracing::info!("second stop signal during the drain: stopping now");
                    handle.stop(false).await;
                }
            }
        }
        Stop::Now => {
            tracing::info!("SIGINT or SIGQUIT: stopping now");
            handle.stop(false).await;
        }
    }
}

enum Stop {
    Drain,
    Now,
}

#[cfg(unix)]
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            quit: signal(SignalKind::quit())?,
        })
    }

    async fn next(&mut self) -> Stop {
        tokio::select! {
            _ = self.term.recv() => Stop::Drain,
            _ = self.int.recv() => Stop::Now,
            _ = self.quit.recv() => Stop::Now,
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> std::io::Result<Self> {
        Ok(Self)
    }

    async fn next(&mut self) -> Stop {
        // Ctrl-C is the only stop signal there is: drain as for SIGTERM.
        let _ = tokio::signal::ctrl_c().await;
        Stop::Drain
    }
}
