//! Readiness checklist items: the `checklist-item` world.
//!
//! Implement [`ChecklistItem`] and call [`checklist_item!`](crate::checklist_item)
//! once. The item's [`ItemSpec`] is what the assessment shows: its id, name,
//! category, points, and whether expansion is blocked while it fails.

use serde::de::DeserializeOwned;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "checklist-item",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_checklist_item_world",
        default_bindings_module: "::regent_sdk::checklist::bindings",
        runtime_path: "::regent_sdk::__wit_bindgen::rt",
        additional_derives: [Clone, PartialEq],
    });
}

pub use crate::params::{parse_params, NoParams};
pub use bindings::regent::policy::types::{
    Attestation, Category, ChecklistDescription, CommandMetrics, Facts, Gauge, Incident, ItemInfo,
    ItemVerdict, Phase, PhaseStatus, PluginInfo, PluginKind, ReadinessContext, Severity,
    StatusCounts, Timestamp,
};

/// Milliseconds in a day, for comparing [`Timestamp`]s.
pub const DAY_MS: i64 = 86_400_000;

/// The static description of a checklist item.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ItemSpec {
    /// Stable identifier, unique in a checklist, e.g. `success-rate`.
    pub id: &'static str,
    /// Human-readable name, e.g. `Success rate > 99.5%`.
    pub name: &'static str,
    /// The dimension it counts towards.
    pub category: Category,
    /// A grouping inside the category, e.g. `command performance`.
    pub subcategory: &'static str,
    /// Points added to the score when it passes.
    pub points: u32,
    /// Whether expansion is blocked while it fails.
    pub required: bool,
}

impl ItemSpec {
    /// Builds a spec; usable in a `const`.
    pub const fn new(
        id: &'static str,
        name: &'static str,
        category: Category,
        subcategory: &'static str,
        points: u32,
        required: bool,
    ) -> Self {
        Self {
            id,
            name,
            category,
            subcategory,
            points,
            required,
        }
    }

    /// The spec as the WIT `item-info` record.
    pub fn info(&self) -> ItemInfo {
        ItemInfo {
            id: self.id.to_string(),
            name: self.name.to_string(),
            category: self.category,
            subcategory: self.subcategory.to_string(),
            points: self.points,
            required: self.required,
        }
    }
}

/// A readiness checklist item.
pub trait ChecklistItem {
    /// The item's params, parsed from the manifest's `[params]` JSON.
    /// Missing fields should default (`#[serde(default)]`).
    type Params: DeserializeOwned;
    /// One line saying what the item checks.
    const SUMMARY: &'static str;
    /// How the item appears in an assessment.
    const ITEM: ItemSpec;

    /// Checks params beyond their shape, e.g. that a threshold is in range.
    fn validate(params: &Self::Params) -> Result<(), String> {
        let _ = params;
        Ok(())
    }

    /// Decides whether the item passes. `Err` means the item cannot decide;
    /// the host then counts it as not passed and shows the message.
    fn evaluate(ctx: &ReadinessContext, params: &Self::Params) -> Result<ItemVerdict, String>;
}

/// A passing verdict.
pub fn pass(detail: impl Into<String>, observed: Option<f64>) -> ItemVerdict {
    ItemVerdict {
        passed: true,
        detail: detail.into(),
        observed,
    }
}

/// A failing verdict.
pub fn fail(detail: impl Into<String>, observed: Option<f64>) -> ItemVerdict {
    ItemVerdict {
        passed: false,
        detail: detail.into(),
        observed,
    }
}

/// Whether an attestation still counts at `now`.
pub fn is_current(attestation: &Attestation, now: Timestamp) -> bool {
    attestation.attested_at <= now && attestation.expires_at.is_none_or(|expiry| expiry > now)
}

/// The newest current attestation of `key`, if any; with `role`, only
/// attestations made in that role count.
pub fn find_attestation<'a>(
    ctx: &'a ReadinessContext,
    key: &str,
    role: Option<&str>,
) -> Option<&'a Attestation> {
    ctx.attestations
        .iter()
        .filter(|a| a.key == key && is_current(a, ctx.now))
        .filter(|a| role.is_none_or(|r| a.role == r))
        .max_by_key(|a| a.attested_at)
}

/// The verdict of an item that passes when `key` is attested (by `role`,
/// when given) and the attestation has not expired.
pub fn attested_item(ctx: &ReadinessContext, key: &str, role: Option<&str>) -> ItemVerdict {
    if let Some(a) = find_attestation(ctx, key, role) {
        return pass(
            format!("`{key}` attested by {} ({})", a.attested_by, a.role),
            None,
        );
    }
    let any = ctx.attestations.iter().filter(|a| a.key == key);
    let expired = any.clone().any(|a| !is_current(a, ctx.now));
    let wrong_role = role.is_some() && any.clone().any(|a| is_current(a, ctx.now));
    let detail = match (wrong_role, expired, role) {
        (true, _, Some(r)) => format!("`{key}` is attested, but not by a {r}"),
        (_, true, _) => format!("the attestation `{key}` has expired"),
        (_, _, Some(r)) => format!("no attestation `{key}` by a {r}"),
        _ => format!("no attestation `{key}`"),
    };
    fail(detail, None)
}

/// The latest value of a gauge, if it was ever reported.
pub fn gauge(ctx: &ReadinessContext, name: &str) -> Option<f64> {
    ctx.facts
        .gauges
        .iter()
        .find(|g| g.name == name)
        .map(|g| g.value)
}

/// A context with no data at all, at `now`, in phase L3 entered at `now`:
/// the starting point for unit tests, which then set what they need.
pub fn empty_context(now: Timestamp) -> ReadinessContext {
    ReadinessContext {
        now,
        phase: PhaseStatus {
            current: Phase::L3,
            entered_at: now,
            days_at_phase: 0,
            min_stabilization_days: 180,
        },
        metrics: CommandMetrics {
            window_start: now - 7 * DAY_MS,
            window_end: now,
            commands_total: 0,
            by_status: StatusCounts {
                succeeded: 0,
                failed: 0,
                rejected: 0,
                rolled_back: 0,
            },
            success_rate: None,
            error_rate: None,
            approval_rate: None,
            rollback_rate: None,
        },
        incidents: Vec::new(),
        attestations: Vec::new(),
        facts: Facts {
            enabled_breaker_rules: 0,
            emergency_stop_last_exercised: None,
            metrics_last_scraped: None,
            gauges: Vec::new(),
        },
    }
}

/// An attestation for tests: `key` by `by` in `role`, made at `at`, never
/// expiring.
pub fn attestation(key: &str, by: &str, role: &str, at: Timestamp) -> Attestation {
    Attestation {
        key: key.to_string(),
        attested_by: by.to_string(),
        role: role.to_string(),
        attested_at: at,
        expires_at: None,
        evidence_url: None,
    }
}

#[doc(hidden)]
pub struct Adapter<T>(core::marker::PhantomData<T>);

impl<T: ChecklistItem> Adapter<T> {
    #[doc(hidden)]
    pub fn validate_params(params: String) -> Result<(), String> {
        crate::__install_panic_reporter();
        T::validate(&parse_params(&params)?)
    }

    #[doc(hidden)]
    pub fn evaluate(context: ReadinessContext, params: String) -> Result<ItemVerdict, String> {
        crate::__install_panic_reporter();
        T::evaluate(&context, &parse_params(&params)?)
    }
}

/// Exports a [`ChecklistItem`] implementation as the component's
/// `checklist-item` world. The plugin's name and version are the crate's.
#[macro_export]
macro_rules! checklist_item {
    ($item:ty) => {
        // Only wasm builds export the world: natively the plugin is a plain
        // library, so several plugins can link into one test or benchmark.
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __RegentChecklistItem;
            impl $crate::checklist::bindings::Guest for __RegentChecklistItem {
                fn describe() -> $crate::checklist::ChecklistDescription {
                    $crate::checklist::ChecklistDescription {
                        plugin: $crate::checklist::PluginInfo {
                            name: env!("CARGO_PKG_NAME").to_string(),
                            version: env!("CARGO_PKG_VERSION").to_string(),
                            kind: $crate::checklist::PluginKind::ChecklistItem,
                            summary: <$item as $crate::checklist::ChecklistItem>::SUMMARY.to_string(),
                        },
                        item: <$item as $crate::checklist::ChecklistItem>::ITEM.info(),
                    }
                }
                fn validate_params(params: String) -> Result<(), String> {
                    $crate::checklist::Adapter::<$item>::validate_params(params)
                }
                fn evaluate(
                    context: $crate::checklist::ReadinessContext,
                    params: String,
                ) -> Result<$crate::checklist::ItemVerdict, String> {
                    $crate::checklist::Adapter::<$item>::evaluate(context, params)
                }
            }
            $crate::checklist::bindings::__export_checklist_item_world!(__RegentChecklistItem with_types_in $crate::checklist::bindings);
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn attestation_must_be_current_and_by_the_right_role() {
        let mut ctx = empty_context(NOW);
        assert!(!attested_item(&ctx, "runbooks", None).passed);

        ctx.attestations
            .push(attestation("runbooks", "ana", "tech_lead", NOW - DAY_MS));
        assert!(attested_item(&ctx, "runbooks", None).passed);
        let by_role = attested_item(&ctx, "runbooks", Some("ops_lead"));
        assert!(!by_role.passed);
        assert_eq!(
            by_role.detail,
            "`runbooks` is attested, but not by a ops_lead"
        );

        ctx.attestations[0].expires_at = Some(NOW);
        let expired = attested_item(&ctx, "runbooks", None);
        assert!(!expired.passed);
        assert_eq!(expired.detail, "the attestation `runbooks` has expired");
    }

    #[test]
    fn future_attestations_do_not_count_yet() {
        let mut ctx = empty_context(NOW);
        ctx.attestations
            .push(attestation("runbooks", "ana", "tech_lead", NOW + 1));
        assert!(!attested_item(&ctx, "runbooks", None).passed);
    }
}
