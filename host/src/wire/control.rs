//! The emergency stop, as `regent stop|resume|status` and the server both
//! see it.

use serde::{Deserialize, Serialize};

use crate::domain::control as domain;
use crate::domain::Timestamp;

// Why a stop, a resume or a workflow pause happened; kept in the audit log.
// (No doc comment: it would become the schema's description.)
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    #[schema(schema_with = crate::domain::text::text_1000)]
    pub reason: String,
}

/// The emergency stop as `GET /api/emergency-stop` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmergencyStopStatus {
    pub active: bool,
    /// When the current stop began; `null` while not stopped.
    #[serde(deserialize_with = "super::nullable")]
    pub since: Option<Timestamp>,
    #[serde(deserialize_with = "super::nullable")]
    pub by: Option<String>,
    #[serde(deserialize_with = "super::nullable")]
    pub reason: Option<String>,
    /// The last stop ever activated, active or not: the "kill switch
    /// tested" fact the checklist reads.
    #[serde(deserialize_with = "super::nullable")]
    pub last_activated_at: Option<Timestamp>,
    #[serde(deserialize_with = "super::nullable")]
    pub last_resumed_at: Option<Timestamp>,
}

impl From<domain::EmergencyStopStatus> for EmergencyStopStatus {
    fn from(s: domain::EmergencyStopStatus) -> Self {
        Self {
            active: s.active,
            since: s.since,
            by: s.by,
            reason: s.reason,
            last_activated_at: s.last_activated_at,
            last_resumed_at: s.last_resumed_at,
        }
    }
}

// What `POST /api/emergency-stop` and `…/resume` answer. (No doc comment:
// it would become the schema's description.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StopReply {
    #[serde(flatten)]
    pub status: EmergencyStopStatus,
    /// False when the call found the stop already in that state.
    pub changed: bool,
    /// Every live replica (this one first), and whether it applied the
    /// change within `[cluster] stop_confirm_ms`.
    pub replicas: Vec<ReplicaConfirmation>,
    /// Why the live replicas could not be read, when they could not: the
    /// list is then what was last known.
    #[serde(deserialize_with = "super::nullable")]
    pub confirmation_error: Option<String>,
}

// One live replica in a stop's reply. (No doc comment: it would become the
// schema's description.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaConfirmation {
    pub id: String,
    pub address: String,
    /// Whether it decides on the changed control state already.
    pub confirmed: bool,
    /// Milliseconds from the commit to the replica applying it (by the two
    /// replicas' clocks); `null` while unconfirmed.
    #[serde(deserialize_with = "super::nullable")]
    pub delay_ms: Option<u64>,
}

impl From<crate::service::replicas::Confirmation> for ReplicaConfirmation {
    fn from(c: crate::service::replicas::Confirmation) -> Self {
        Self {
            id: c.id,
            address: c.address,
            confirmed: c.confirmed,
            delay_ms: c.delay_ms,
        }
    }
}
