//! Draining before shutdown (see docs/operations.md#draining): once
//! started, `/readyz` answers 503 so that load balancers stop sending new
//! requests, while the server itself still serves everything it receives.
//! The binary starts it on SIGTERM and stops the server after a delay.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Whether the server is draining; shared by every worker of one server.
#[derive(Debug, Clone, Default)]
pub struct Drain(Arc<AtomicBool>);

impl Drain {
    /// From now on `/readyz` answers 503; there is no way back.
    pub fn start(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}
