//! The error body every failed request answers with.

use serde::{Deserialize, Serialize};

use super::plugins::{Gate, GateFailureDetails};

/// The error shape every failure uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// bad_request, unauthorized, forbidden, not_found, conflict,
    /// payload_too_large, internal (and plugin_failed, unavailable).
    pub code: String,
    pub message: String,
}

/// `error.code` of a candidate plugin version a gate refused.
pub const GATE_FAILED: &str = "gate_failed";

/// A `gate_failed` answer: the error, and how far the candidate got. It is
/// kept apart from [`ErrorBody`] so the document's shared error schema stays
/// the two fields every error has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateFailedBody {
    pub error: GateFailedDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateFailedDetail {
    pub code: String,
    pub message: String,
    pub gate: Gate,
    /// Absent when the server refused the candidate before any gate ran.
    #[serde(default)]
    pub details: Option<GateFailureDetails>,
}
