//! What autonomous systems report (commands, incidents, gauges), and the
//! metrics computed from it.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::auth::Caller;
use crate::api::extract::{
    blocking, json_body, json_kind, json_value, limit, query, typed, ShortLimitQuery,
    MAX_SHORT_LIMIT,
};
use crate::api::{ApiError, AppState};
use crate::domain::metrics::{CommandRecord, IncidentRecord, MetricsReport, NewIncident};
use crate::domain::readiness::Gauge;
use crate::domain::text;
use crate::domain::Timestamp;
use crate::storage::Ingested;

pub const MAX_BATCH: usize = 10_000;

/// One command record or an array of up to 10,000, stored all or nothing.
/// A repeated `id` changes nothing and is counted in `duplicates`.
#[utoipa::path(post, path = "/api/commands", tag = "reporting", security(("bearer" = [])),
    request_body(content = CommandBatch, description = "one record, or an array of 1 to 10,000"),
    responses((status = 200, body = Ingested), (status = 400, description = "names each bad record by index", body = crate::api::ErrorBody),
              (status = 413, body = crate::api::ErrorBody)))]
pub async fn post_commands(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Ingested>, ApiError> {
    let records = parse_batch(json_value(body)?, Timestamp::now())?;
    blocking(move || {
        Ok(Json(
            state
                .services
                .reporting
                .ingest_commands(&records, Timestamp::now())?,
        ))
    })
    .await
}

/// The body of `POST /api/commands`, for the document: one record, or
/// an array of 1 to `MAX_BATCH`. The handler reads it by hand so that
/// each bad record is named by its index.
pub struct CommandBatch;

impl utoipa::PartialSchema for CommandBatch {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, OneOfBuilder};
        use utoipa::openapi::Ref;
        let record = || Ref::from_schema_name("CommandRecord");
        OneOfBuilder::new()
            .item(record())
            .item(
                ArrayBuilder::new()
                    .items(record())
                    .min_items(Some(1))
                    .max_items(Some(MAX_BATCH)),
            )
            .into()
    }
}

impl utoipa::ToSchema for CommandBatch {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        schemas.push((
            "CommandRecord".into(),
            <CommandRecord as utoipa::PartialSchema>::schema(),
        ));
        <CommandRecord as utoipa::ToSchema>::schemas(schemas);
    }
}

/// Why one record of a batch was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
enum RecordError {
    #[error("expected an object, got {0}")]
    NotAnObject(&'static str),
    #[error(transparent)]
    Shape(#[from] crate::api::extract::ShapeError),
    /// The domain's check refused it; boxed, whatever its error type.
    #[error(transparent)]
    Invalid(Box<dyn std::error::Error + Send + Sync + 'static>),
    #[error("`createdAt` {0} is in the future")]
    InTheFuture(Timestamp),
}

/// A record is a JSON object, never the array of its fields serde would
/// also read.
fn record_object(item: Value) -> Result<CommandRecord, RecordError> {
    if !item.is_object() {
        return Err(RecordError::NotAnObject(json_kind(&item)));
    }
    Ok(typed(item)?)
}

/// Every record checked before any is written; errors name each bad one.
fn parse_batch(value: Value, now: Timestamp) -> Result<Vec<CommandRecord>, ApiError> {
    let items = match value {
        Value::Array(items) => items,
        one @ Value::Object(_) => vec![one],
        other => {
            return Err(ApiError::BadRequest(format!(
                "expected a command record or an array of them, got {}",
                json_kind(&other)
            )))
        }
    };
    if items.is_empty() {
        return Err(ApiError::BadRequest(
            "the array is empty: send at least one command record".into(),
        ));
    }
    if items.len() > MAX_BATCH {
        return Err(ApiError::PayloadTooLarge(format!(
            "{} records in one request; the limit is {MAX_BATCH}: split the batch",
            items.len()
        )));
    }
    let mut records = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let checked = record_object(item).and_then(|r| {
            r.check().map_err(|e| RecordError::Invalid(e.into()))?;
            // A minute of clock skew is tolerated; more is a wrong clock.
            match r.created_at {
                Some(t) if t.millis() > now.millis() + 60_000 => Err(RecordError::InTheFuture(t)),
                _ => Ok(r),
            }
        });
        match checked {
            Ok(r) => records.push(r),
            Err(e) if errors.len() < 20 => errors.push(format!("record {i}: {e}")),
            Err(_) => {}
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "nothing was stored; invalid records: {}",
            errors.join("; ")
        )));
    }
    Ok(records)
}

#[utoipa::path(post, path = "/api/incidents", tag = "reporting", security(("bearer" = [])), request_body = NewIncident,
    responses((status = 201, body = IncidentRecord), (status = 400, body = crate::api::ErrorBody)))]
pub async fn post_incident(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<IncidentRecord>), ApiError> {
    let who = caller.0;
    let incident: NewIncident = json_body(body)?;
    if incident.description.trim().is_empty() {
        return Err(ApiError::BadRequest("`description` is empty".into()));
    }
    let now = Timestamp::now();
    if incident
        .occurred_at
        .is_some_and(|t| t.millis() > now.millis() + 60_000)
    {
        return Err(ApiError::BadRequest("`occurredAt` is in the future".into()));
    }
    let stored = blocking(move || {
        Ok(state
            .services
            .reporting
            .record_incident(&incident, &who.id, now)?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// Incidents, newest first.
#[utoipa::path(get, path = "/api/incidents", tag = "reporting", security(("bearer" = [])), params(ShortLimitQuery),
    responses((status = 200, body = [IncidentRecord])))]
pub async fn list_incidents(
    State(state): State<AppState>,
    q: Result<Query<ShortLimitQuery>, QueryRejection>,
) -> Result<Json<Vec<IncidentRecord>>, ApiError> {
    let limit = limit(query(q)?.limit, 50, MAX_SHORT_LIMIT)?;
    blocking(move || Ok(Json(state.services.reporting.incidents(limit)?))).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGauge {
    #[schema(schema_with = crate::domain::text::text_100)]
    name: String,
    value: f64,
}

#[utoipa::path(post, path = "/api/gauges", tag = "reporting", security(("bearer" = [])), request_body = NewGauge,
    responses((status = 200, description = "the stored gauge"), (status = 400, body = crate::api::ErrorBody)))]
pub async fn post_gauge(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Gauge>, ApiError> {
    let g: NewGauge = json_body(body)?;
    if text::is_blank(&g.name) || text::char_len(&g.name) > 100 {
        return Err(ApiError::BadRequest(
            "`name` must be 1 to 100 characters".into(),
        ));
    }
    if !g.value.is_finite() {
        return Err(ApiError::BadRequest(
            "`value` must be a finite number".into(),
        ));
    }
    blocking(move || {
        Ok(Json(state.services.reporting.set_gauge(
            &g.name,
            g.value,
            Timestamp::now(),
        )?))
    })
    .await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    /// RFC 3339; default 24 hours before `end`.
    #[param(format = DateTime)]
    start: Option<String>,
    /// RFC 3339; default now.
    #[param(format = DateTime)]
    end: Option<String>,
}

fn time_param(name: &str, value: Option<String>) -> Result<Option<Timestamp>, ApiError> {
    value
        .map(|v| Timestamp::parse(&v).map_err(|e| ApiError::BadRequest(format!("`{name}`: {e}"))))
        .transpose()
}

#[utoipa::path(get, path = "/api/metrics/current", tag = "metrics", security(("bearer" = [])), params(RangeQuery),
    responses((status = 200, body = MetricsReport), (status = 400, body = crate::api::ErrorBody)))]
pub async fn metrics_current(
    State(state): State<AppState>,
    q: Result<Query<RangeQuery>, QueryRejection>,
) -> Result<Json<MetricsReport>, ApiError> {
    let q = query(q)?;
    // The default end is just after now: a record stamped this very
    // millisecond counts (`end` is exclusive).
    let end = time_param("end", q.end)?.unwrap_or_else(|| Timestamp(Timestamp::now().millis() + 1));
    let start = time_param("start", q.start)?.unwrap_or(Timestamp(end.millis() - 86_400_000));
    blocking(move || Ok(Json(state.services.reporting.metrics(start, end)?))).await
}

#[utoipa::path(get, path = "/api/metrics/latest", tag = "metrics", security(("bearer" = [])),
    responses((status = 200, body = MetricsReport), (status = 404, body = crate::api::ErrorBody)))]
pub async fn metrics_latest(
    State(state): State<AppState>,
) -> Result<Json<MetricsReport>, ApiError> {
    blocking(move || Ok(Json(state.services.reporting.latest_snapshot()?))).await
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WeeklyMetrics {
    total: MetricsReport,
    days: Vec<MetricsReport>,
}

#[utoipa::path(get, path = "/api/metrics/weekly", tag = "metrics", security(("bearer" = [])),
    responses((status = 200, body = WeeklyMetrics)))]
pub async fn metrics_weekly(
    State(state): State<AppState>,
) -> Result<Json<WeeklyMetrics>, ApiError> {
    blocking(move || {
        let (total, days) = state.services.reporting.weekly_metrics(Timestamp::now())?;
        Ok(Json(WeeklyMetrics { total, days }))
    })
    .await
}
