//! The `auth_server_clients_rotation_required` and
//! `auth_server_clients_secret_expired` gauges. Counting reads every client,
//! so a background thread does it every [`REFRESH_EVERY`] rather than each
//! scrape: a scraper every few seconds would otherwise read the whole client
//! table as often, and a secret nears its expiry over days, not seconds.

use std::sync::Arc;
use std::time::Duration;

use auth_service::secret_expiry;

use crate::state::AppState;

/// How often the gauges are recounted (docs/operations.md says so).
pub const REFRESH_EVERY: Duration = Duration::from_secs(60);

/// How often the refresher looks whether startup is done before its first
/// count: the clients table exists only after the migrations.
const STARTUP_POLL: Duration = Duration::from_millis(100);

/// Recounts once; a failed read leaves the last values (and is logged).
pub fn refresh(state: &AppState) {
    match state.repos.clients.list() {
        Ok(clients) => {
            let counts =
                secret_expiry::count(&clients, auth_domain::now_ms(), &state.config.secret_policy);
            state.metrics.set_secret_expiry(counts);
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not count clients for the secret expiry gauges");
        }
    }
}

/// Counts as soon as startup is done, then every `every`, on a thread of
/// its own (the read is blocking); the thread ends with the state.
pub fn spawn_refresher(state: &actix_web::web::Data<AppState>, every: Duration) {
    let weak = Arc::downgrade(&state.clone().into_inner());
    let spawned = std::thread::Builder::new()
        .name("secret-expiry".into())
        .spawn(move || {
            loop {
                match weak.upgrade() {
                    Some(state) if state.is_started() => break,
                    Some(_) => std::thread::sleep(STARTUP_POLL),
                    None => return,
                }
            }
            loop {
                match weak.upgrade() {
                    Some(state) => refresh(&state),
                    None => return,
                }
                std::thread::sleep(every);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the secret expiry gauge refresher");
    }
}
