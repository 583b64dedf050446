//! Checklist item: someone is watching the system.

use regent_sdk::checklist::*;

/// Passes when monitoring is attested (by default `monitoring`) by someone
/// in one of `roles` (by default an ops_lead), or when
/// the host's `/metrics` endpoint was scraped within the last
/// `max_scrape_age_minutes`: a recent scrape is proof that a monitoring
/// system is actually collecting, whether or not anyone attested it.
pub struct MonitoringInPlace;

/// Which attestation counts, by whom, and how fresh a scrape must be.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// The attestation key that proves monitoring (default `monitoring`).
    pub attestation: String,
    /// The roles whose attestation counts, each one of the attesting roles
    /// (default `["ops_lead"]`).
    pub roles: Vec<String>,
    /// How many minutes ago the last scrape may be, at least 1 (default 10).
    pub max_scrape_age_minutes: u32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            attestation: "monitoring".to_string(),
            roles: vec!["ops_lead".to_string()],
            max_scrape_age_minutes: 10,
        }
    }
}

impl ChecklistItem for MonitoringInPlace {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str =
        "an ops_lead attested monitoring, or /metrics was scraped in the last max_scrape_age_minutes (10)";
    const ITEM: ItemSpec = ItemSpec::new(
        "monitoring-in-place",
        "Monitoring in place",
        Category::Technical,
        "infrastructure",
        3,
        true,
    );

    fn validate(params: &Params) -> Result<(), String> {
        check_attestation_key("attestation", &params.attestation)?;
        check_attesting_roles("roles", &params.attestation, &params.roles)?;
        check_at_least_one("max_scrape_age_minutes", params.max_scrape_age_minutes)
    }

    fn scope(params: &Params) -> ContextScope {
        ContextScope::scalars().with_attestation(&params.attestation)
    }

    fn evaluate(ctx: &ReadinessContext, params: &Params) -> Result<ItemVerdict, String> {
        let scrape = RecentEvent {
            subject: "/metrics",
            happened: "scraped",
            last: ctx.facts.metrics_last_scraped,
            max_age: params.max_scrape_age_minutes,
            unit: AgeUnit::Minutes,
        };
        Ok(scrape.or_attested(ctx, &params.attestation, &params.roles))
    }
}

#[cfg(feature = "component")]
regent_sdk::checklist_item!(MonitoringInPlace);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    const MINUTE_MS: i64 = 60_000;

    fn scraped(minutes_ago: i64) -> ReadinessContext {
        let mut ctx = empty_context(NOW);
        ctx.facts.metrics_last_scraped = Some(NOW - minutes_ago * MINUTE_MS);
        ctx
    }

    fn evaluate(ctx: &ReadinessContext) -> ItemVerdict {
        MonitoringInPlace::evaluate(ctx, &Params::default()).unwrap()
    }

    #[test]
    fn a_scrape_in_the_last_10_minutes_passes() {
        assert_eq!(
            evaluate(&scraped(10)),
            pass(
                "/metrics was scraped 10.0 minutes ago (within 10)",
                Some(10.0)
            )
        );
        assert_eq!(
            evaluate(&scraped(11)),
            fail(
                "/metrics was last scraped 11.0 minutes ago (more than 10), \
                 and no attestation `monitoring`; it needs an ops_lead",
                Some(11.0)
            )
        );
        assert_eq!(
            evaluate(&empty_context(NOW)).detail,
            "/metrics was never scraped, and no attestation `monitoring`; it needs an ops_lead"
        );
    }

    #[test]
    fn a_monitoring_attestation_by_an_ops_lead_passes_without_a_scrape() {
        let mut ctx = empty_context(NOW);
        ctx.attestations
            .push(attestation("monitoring", "ana", "ops_lead", NOW - DAY_MS));
        assert_eq!(
            evaluate(&ctx),
            pass("`monitoring` attested by ana (ops_lead)", None)
        );
    }

    #[test]
    fn an_attestation_by_another_role_does_not_count() {
        let mut ctx = empty_context(NOW);
        ctx.attestations
            .push(attestation("monitoring", "bot", "reporter", NOW - DAY_MS));
        assert_eq!(
            evaluate(&ctx),
            fail(
                "/metrics was never scraped, and `monitoring` is attested by bot (reporter), \
                 which does not count: it needs an ops_lead",
                None
            )
        );
        ctx.attestations
            .push(attestation("monitoring", "cy", "tech_lead", NOW));
        let tech = parse_params::<Params>(r#"{"roles": ["tech_lead"]}"#).unwrap();
        assert_eq!(
            MonitoringInPlace::evaluate(&ctx, &tech).unwrap(),
            pass("`monitoring` attested by cy (tech_lead)", None)
        );
    }

    #[test]
    fn item_and_params() {
        let item = MonitoringInPlace::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("monitoring-in-place", Category::Technical, 3, true)
        );
        let lenient = Params {
            max_scrape_age_minutes: 60,
            ..Params::default()
        };
        assert!(
            MonitoringInPlace::evaluate(&scraped(60), &lenient)
                .unwrap()
                .passed
        );
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
        assert_eq!(
            MonitoringInPlace::validate(&empty).unwrap_err(),
            "`attestation` must name an attestation"
        );
        let roles = |roles: &[&str]| Params {
            roles: roles.iter().map(|r| r.to_string()).collect(),
            ..Params::default()
        };
        assert_eq!(
            MonitoringInPlace::validate(&roles(&[])).unwrap_err(),
            "`roles` is empty: no one could attest `monitoring`"
        );
        assert!(MonitoringInPlace::validate(&roles(&["reporter"]))
            .unwrap_err()
            .starts_with("`roles` names `reporter`, which cannot attest"));
        assert_eq!(Params::default().roles, ["ops_lead"]);
    }
}
