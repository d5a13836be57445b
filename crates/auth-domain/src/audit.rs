//! Audit events (see docs/reference/admin-api.md): who changed what, when, and whether it worked.
//! Never a secret or a hash.

use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditOutcome {
    Success,
    Failure,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// An event to record. `action` is a dotted verb such as `client.create`,
/// `client.secret.rotate`, `service_account.update`, `signing_key.rotate`;
/// `target_type` is `client`, `service_account` or `signing_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEvent {
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub outcome: AuditOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: i64,
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub outcome: String,
}

/// `GET /audit-events?clientId=…&since=…`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Events whose target is this client.
    pub client_id: Option<String>,
    /// Events at or after this instant.
    pub since: Option<OffsetDateTime>,
}
