use serde::de::DeserializeOwned;
use serde::Deserialize;

/// Params for a plugin that takes none. Any JSON object is accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct NoParams {}

/// Parses a plugin's params from the manifest's JSON text.
///
/// Empty text counts as `{}`. The error names what was wrong, and the host
/// shows it to the policy author verbatim.
pub fn parse_params<P: DeserializeOwned>(json: &str) -> Result<P, String> {
    let text = if json.trim().is_empty() { "{}" } else { json };
    serde_json::from_str(text).map_err(|e| format!("invalid params: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Threshold {
        min: f64,
    }

    impl Default for Threshold {
        fn default() -> Self {
            Self { min: 0.5 }
        }
    }

    #[test]
    fn empty_params_take_defaults() {
        assert_eq!(
            parse_params::<Threshold>("").unwrap(),
            Threshold { min: 0.5 }
        );
        assert_eq!(
            parse_params::<Threshold>("{}").unwrap(),
            Threshold { min: 0.5 }
        );
    }

    #[test]
    fn bad_params_say_what_is_wrong() {
        let err = parse_params::<Threshold>(r#"{"min": "high"}"#).unwrap_err();
        assert!(
            err.starts_with("invalid params: invalid type: string \"high\""),
            "{err}"
        );
        let err = parse_params::<Threshold>(r#"{"max": 1}"#).unwrap_err();
        assert!(err.contains("unknown field `max`"), "{err}");
    }
}
