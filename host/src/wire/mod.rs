//! The request and reply bodies of the endpoints the `regent` command line
//! calls, shared by the server (which serializes them) and the CLI (which
//! deserializes them).
//!
//! One definition per shape means a field renamed on one side fails to
//! build on the other, instead of the CLI printing `?` for what it no longer
//! finds. The types keep their serde renames and `utoipa` derives, so the
//! JSON on the wire and the OpenAPI document are what they were when each
//! side had its own.
//!
//! Shapes are grouped by the endpoints they travel on:
//! - [`plugins`]: `/api/plugins/…` (list, upload, versions, activate, rollback);
//! - [`control`]: `/api/emergency-stop` (stop, resume, status);
//! - [`replicas`]: `/api/replicas` (who is alive, what each applied);
//! - [`error`]: the `{"error": {...}}` body of every failed request.
//!
//! Where a domain type is what the server computes, the wire type has a
//! `From` of it: the domain can change without changing the wire by
//! accident, and an intended change is made here, once, for both sides.

pub mod control;
pub mod error;
pub mod plugins;
pub mod replicas;

use serde::{Deserialize, Deserializer};

/// Reads an `Option` field the server always sends, `null` when empty.
///
/// serde reads a missing `Option` field as `None`; a field renamed or gone
/// on a server of another version would then pass for "none" (a stop with
/// no reason, a version never activated). With this, a missing key is an
/// error that names it. Fields the server leaves out when empty
/// (`skip_serializing_if`) keep serde's default instead.
pub(crate) fn nullable<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer)
}

pub use control::{EmergencyStopStatus, ReasonBody, ReplicaConfirmation, StopReply};
pub use error::{ErrorBody, ErrorDetail, GateFailedBody, GateFailedDetail, GATE_FAILED};
pub use plugins::{
    ActivateBody, Activation, ActivationKind, BundledItem, CompileSource, ForceQuery, Gate,
    GateFailureDetails, GateResult, PluginSummary, PluginVersion, RollbackBody, ShadowDifference,
    ShadowFailure, ShadowReport, UploadOutcome, UploadQuery, VersionStatus,
};
pub use replicas::{LeaseStatus, ReplicaStatus, ReplicasReply};
