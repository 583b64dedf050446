//! Checklist item: circuit breakers stand ready to revert autonomy.

use regent_sdk::checklist::*;

/// Passes when at least `min_rules` circuit-breaker rules are enabled.
pub struct BreakersConfigured;

/// How many enabled rules are enough.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// The least number of enabled breaker rules, at least 1 (default 1).
    pub min_rules: u32,
}

impl Default for Params {
    fn default() -> Self {
        Self { min_rules: 1 }
    }
}

impl ChecklistItem for BreakersConfigured {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str = "at least min_rules (1) circuit-breaker rules are enabled";
    const ITEM: ItemSpec = ItemSpec::new(
        "breakers-configured",
        "Circuit breakers configured",
        Category::Technical,
        "infrastructure",
        3,
        true,
    );

    fn validate(params: &Params) -> Result<(), String> {
        // With 0 the item would pass with no breaker at all.
        if params.min_rules == 0 {
            return Err("`min_rules` must be at least 1".to_string());
        }
        Ok(())
    }

    fn scope(_: &Params) -> ContextScope {
        ContextScope::scalars()
    }

    fn evaluate(ctx: &ReadinessContext, params: &Params) -> Result<ItemVerdict, String> {
        let enabled = ctx.facts.enabled_breaker_rules;
        let detail = format!(
            "{enabled} circuit-breaker rule{} enabled (needs at least {})",
            if enabled == 1 { "" } else { "s" },
            params.min_rules
        );
        let observed = Some(f64::from(enabled));
        Ok(if enabled >= params.min_rules {
            pass(detail, observed)
        } else {
            fail(detail, observed)
        })
    }
}

#[cfg(feature = "component")]
regent_sdk::checklist_item!(BreakersConfigured);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn evaluate(enabled: u32, min_rules: u32) -> ItemVerdict {
        let mut ctx = empty_context(NOW);
        ctx.facts.enabled_breaker_rules = enabled;
        BreakersConfigured::evaluate(&ctx, &Params { min_rules }).unwrap()
    }

    #[test]
    fn fails_with_no_rules() {
        let verdict = evaluate(0, 1);
        assert!(!verdict.passed);
        assert_eq!(verdict.observed, Some(0.0));
        assert_eq!(
            verdict.detail,
            "0 circuit-breaker rules enabled (needs at least 1)"
        );
    }

    #[test]
    fn passes_from_the_minimum_up() {
        let one = evaluate(1, 1);
        assert!(one.passed);
        assert_eq!(
            one.detail,
            "1 circuit-breaker rule enabled (needs at least 1)"
        );
        assert!(evaluate(4, 4).passed);
        assert!(!evaluate(3, 4).passed);
    }

    #[test]
    fn params_default_and_validate() {
        assert_eq!(parse_params::<Params>("").unwrap(), Params::default());
        assert!(BreakersConfigured::validate(&Params::default()).is_ok());
        let err = BreakersConfigured::validate(&Params { min_rules: 0 }).unwrap_err();
        assert_eq!(err, "`min_rules` must be at least 1");
        assert!(parse_params::<Params>(r#"{"min_rules": -1}"#).is_err());
    }
}
