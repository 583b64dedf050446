//! Checklist item: someone is watching the system.

use regent_sdk::checklist::*;

const MINUTE_MS: i64 = 60_000;

/// Passes when monitoring is attested (by default `monitoring`), or when
/// the host's `/metrics` endpoint was scraped within the last
/// `max_scrape_age_minutes`: a recent scrape is proof that a monitoring
/// system is actually collecting, whether or not anyone attested it.
pub struct MonitoringInPlace;

/// Which attestation counts and how fresh a scrape must be.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// The attestation key that proves monitoring (default `monitoring`).
    pub attestation: String,
    /// How many minutes ago the last scrape may be, at least 1 (default 10).
    pub max_scrape_age_minutes: u32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            attestation: "monitoring".to_string(),
            max_scrape_age_minutes: 10,
        }
    }
}

impl ChecklistItem for MonitoringInPlace {
    type Params = Params;
    const SUMMARY: &'static str =
        "monitoring is attested, or /metrics was scraped in the last max_scrape_age_minutes (10)";
    const ITEM: ItemSpec = ItemSpec::new(
        "monitoring-in-place",
        "Monitoring in place",
        Category::Technical,
        "infrastructure",
        3,
        true,
    );

    fn validate(params: &Params) -> Result<(), String> {
        if params.attestation.trim().is_empty() {
            return Err("`attestation` must name an attestation".to_string());
        }
        if params.max_scrape_age_minutes == 0 {
            return Err("`max_scrape_age_minutes` must be at least 1".to_string());
        }
        Ok(())
    }

    fn evaluate(ctx: &ReadinessContext, params: &Params) -> Result<ItemVerdict, String> {
        let max = params.max_scrape_age_minutes;
        // A scrape stamped after `now` is host clock skew, not staleness.
        let age_minutes = ctx
            .facts
            .metrics_last_scraped
            .map(|at| (ctx.now - at).max(0) as f64 / MINUTE_MS as f64);
        let attested = attested_item(ctx, &params.attestation, None);
        if attested.passed {
            return Ok(pass(attested.detail, age_minutes));
        }
        Ok(match age_minutes {
            Some(age) if age <= f64::from(max) => pass(
                format!("/metrics was scraped {age:.1} minutes ago (within {max})"),
                age_minutes,
            ),
            Some(age) => fail(
                format!(
                    "/metrics was last scraped {age:.1} minutes ago (more than {max}), and {}",
                    attested.detail
                ),
                age_minutes,
            ),
            None => fail(
                format!("/metrics was never scraped, and {}", attested.detail),
                None,
            ),
        })
    }
}

regent_sdk::checklist_item!(MonitoringInPlace);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn scraped(minutes_ago: i64) -> ReadinessContext {
        let mut ctx = empty_context(NOW);
        ctx.facts.metrics_last_scraped = Some(NOW - minutes_ago * MINUTE_MS);
        ctx
    }

    fn evaluate(ctx: &ReadinessContext) -> ItemVerdict {
        MonitoringInPlace::evaluate(ctx, &Params::default()).unwrap()
    }

    #[test]
    fn a_recent_scrape_passes() {
        let verdict = evaluate(&scraped(3));
        assert!(verdict.passed);
        assert_eq!(verdict.observed, Some(3.0));
        assert_eq!(
            verdict.detail,
            "/metrics was scraped 3.0 minutes ago (within 10)"
        );
        // The age limit is inclusive.
        assert!(evaluate(&scraped(10)).passed);
    }

    #[test]
    fn a_stale_scrape_fails() {
        let verdict = evaluate(&scraped(11));
        assert!(!verdict.passed);
        assert_eq!(verdict.observed, Some(11.0));
        assert_eq!(
            verdict.detail,
            "/metrics was last scraped 11.0 minutes ago (more than 10), and no attestation `monitoring`"
        );
    }

    #[test]
    fn never_scraped_and_not_attested_fails() {
        let verdict = evaluate(&empty_context(NOW));
        assert!(!verdict.passed);
        assert_eq!(verdict.observed, None);
        assert_eq!(
            verdict.detail,
            "/metrics was never scraped, and no attestation `monitoring`"
        );
    }

    #[test]
    fn an_attestation_passes_without_a_scrape() {
        let mut ctx = empty_context(NOW);
        ctx.attestations
            .push(attestation("monitoring", "ana", "ops_lead", NOW - DAY_MS));
        let verdict = evaluate(&ctx);
        assert!(verdict.passed);
        assert_eq!(verdict.detail, "`monitoring` attested by ana (ops_lead)");
    }

    #[test]
    fn an_expired_attestation_does_not_count() {
        let mut ctx = scraped(60);
        ctx.attestations.push(attestation(
            "monitoring",
            "ana",
            "ops_lead",
            NOW - 9 * DAY_MS,
        ));
        ctx.attestations[0].expires_at = Some(NOW - DAY_MS);
        let verdict = evaluate(&ctx);
        assert!(!verdict.passed);
        assert!(verdict
            .detail
            .ends_with("and the attestation `monitoring` has expired"));
    }

    #[test]
    fn a_scrape_stamped_in_the_future_counts_as_fresh() {
        let verdict = evaluate(&scraped(-2));
        assert!(verdict.passed);
        assert_eq!(verdict.observed, Some(0.0));
    }

    #[test]
    fn params_default_and_validate() {
        assert_eq!(parse_params::<Params>("").unwrap(), Params::default());
        assert!(MonitoringInPlace::validate(&Params::default()).is_ok());
        let zero = Params {
            max_scrape_age_minutes: 0,
            ..Params::default()
        };
        assert_eq!(
            MonitoringInPlace::validate(&zero).unwrap_err(),
            "`max_scrape_age_minutes` must be at least 1"
        );
        let empty = Params {
            attestation: " ".to_string(),
            ..Params::default()
        };
        assert!(MonitoringInPlace::validate(&empty).is_err());
    }
}
