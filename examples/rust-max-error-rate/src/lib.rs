//! An error budget, written the way a policy author would: trip the breaker
//! when more than `max_error_rate` of executed commands failed, but only
//! once at least `min_commands` ran, so one early failure cannot revert
//! autonomy on its own.

use regent_sdk::breaker::*;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub max_error_rate: f64,
    pub min_commands: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            max_error_rate: 0.05,
            min_commands: 20,
        }
    }
}

pub struct MaxErrorRate;

impl BreakerCondition for MaxErrorRate {
    type Params = Params;
    const SUMMARY: &'static str = "error rate above budget, once enough commands ran";

    fn validate(p: &Params) -> Result<(), String> {
        if !(0.0..=1.0).contains(&p.max_error_rate) {
            return Err(format!(
                "max_error_rate must be within 0..=1, got {}",
                p.max_error_rate
            ));
        }
        Ok(())
    }

    fn evaluate(w: &MetricsWindow, p: &Params) -> Result<BreakerVerdict, String> {
        let executed = w.metrics.by_status.succeeded
            + w.metrics.by_status.failed
            + w.metrics.by_status.rolled_back;
        let (tripped, reason) = match w.metrics.error_rate {
            None => (false, "errorRate has no data".to_string()),
            Some(_) if executed < p.min_commands => (
                false,
                format!("only {executed} of {} commands needed", p.min_commands),
            ),
            Some(rate) if rate > p.max_error_rate => (
                true,
                format!("errorRate {rate:.4} > budget {}", p.max_error_rate),
            ),
            Some(rate) => (
                false,
                format!("errorRate {rate:.4} within budget {}", p.max_error_rate),
            ),
        };
        Ok(BreakerVerdict {
            tripped,
            observed: w.metrics.error_rate,
            reason,
        })
    }
}

regent_sdk::breaker_condition!(MaxErrorRate);

#[cfg(test)]
mod tests {
    use super::*;

    fn window(succeeded: u64, failed: u64) -> MetricsWindow {
        let mut w = empty_window(0, 3_600_000);
        w.metrics.by_status.succeeded = succeeded;
        w.metrics.by_status.failed = failed;
        let executed = succeeded + failed;
        w.metrics.error_rate = (executed > 0).then(|| failed as f64 / executed as f64);
        w
    }

    #[test]
    fn trips_over_budget_once_enough_commands_ran() {
        let p = Params::default();
        assert!(MaxErrorRate::evaluate(&window(90, 10), &p).unwrap().tripped);
        assert!(!MaxErrorRate::evaluate(&window(99, 1), &p).unwrap().tripped);
    }

    #[test]
    fn a_few_early_failures_do_not_trip_it() {
        let verdict = MaxErrorRate::evaluate(&window(1, 2), &Params::default()).unwrap();
        assert!(!verdict.tripped);
        assert_eq!(verdict.reason, "only 3 of 20 commands needed");
    }

    #[test]
    fn no_data_never_trips() {
        assert!(
            !MaxErrorRate::evaluate(&window(0, 0), &Params::default())
                .unwrap()
                .tripped
        );
    }

    #[test]
    fn a_budget_outside_0_to_1_is_refused() {
        assert!(MaxErrorRate::validate(&Params {
            max_error_rate: 5.0,
            min_commands: 1
        })
        .is_err());
    }
}
