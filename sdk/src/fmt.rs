//! Fast number formatting for plugin output.
//!
//! `format!("{:.2}", x)` falls back to a bignum algorithm for many values,
//! which costs about a microsecond in Wasm: as much as the rest of a
//! checklist item's evaluation. Plugins format numbers into details and
//! reasons on every evaluation, so the SDK formats them with integers.

/// `value` with exactly `decimals` decimals: the same text as
/// `format!("{value:.decimals$}")`, computed with integer arithmetic on the
/// float's exact binary value. Values of 1e15 and above (or not finite) and
/// more than 9 decimals fall back to `format!`.
pub fn fixed(value: f64, decimals: u32) -> String {
    match scaled_exact(value.abs(), decimals) {
        Some(scaled) if decimals <= 9 && value.abs() < 1e15 => {
            let scale = 10u128.pow(decimals);
            let sign = if value.is_sign_negative() { "-" } else { "" };
            // Below 1e15 × 10^9 both parts fit in u64, whose Display is
            // several times faster than u128's in Wasm.
            let (whole, frac) = ((scaled / scale) as u64, (scaled % scale) as u64);
            if decimals == 0 {
                format!("{sign}{whole}")
            } else {
                format!("{sign}{whole}.{frac:0width$}", width = decimals as usize)
            }
        }
        _ => format!("{value:.prec$}", prec = decimals as usize),
    }
}

/// `value × 10^decimals`, rounded half to even on the exact binary value,
/// as `format!` rounds.
fn scaled_exact(value: f64, decimals: u32) -> Option<u128> {
    if !value.is_finite() || decimals > 9 {
        return None;
    }
    let bits = value.to_bits();
    let exponent_bits = ((bits >> 52) & 0x7ff) as i32;
    let fraction = u128::from(bits & ((1 << 52) - 1));
    // value = mantissa × 2^exponent, exactly.
    let (mantissa, exponent) = match exponent_bits {
        0 => (fraction, -1074),
        _ => (fraction | (1 << 52), exponent_bits - 1075),
    };
    let product = mantissa * 10u128.pow(decimals); // < 2^83
    if exponent >= 0 {
        return product
            .checked_shl(exponent as u32)
            .filter(|p| p >> exponent == product);
    }
    let shift = exponent.unsigned_abs();
    if shift >= 127 {
        return Some(0);
    }
    let (quotient, remainder) = (product >> shift, product & ((1u128 << shift) - 1));
    let half = 1u128 << (shift - 1);
    let round_up = remainder > half || (remainder == half && quotient % 2 == 1);
    Some(quotient + u128::from(round_up))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_format_on_ordinary_values() {
        for &v in &[
            0.0, 0.5, 0.995, 0.9975, 1.0, 12.345678, 99.5, 0.125, 2.675, 1234.5, -0.004, -3.25,
            1e-9,
        ] {
            for d in 0..=4 {
                assert_eq!(
                    fixed(v, d),
                    format!("{v:.prec$}", prec = d as usize),
                    "{v} with {d} decimals"
                );
            }
        }
    }

    #[test]
    fn agrees_with_format_on_many_values() {
        // A deterministic spread of magnitudes and mantissas.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = (x % 1_000_000_007) as f64 / 10f64.powi((x % 12) as i32);
            let d = (x % 6) as u32;
            assert_eq!(
                fixed(v, d),
                format!("{v:.prec$}", prec = d as usize),
                "{v} with {d} decimals"
            );
        }
    }

    #[test]
    fn falls_back_for_huge_and_non_finite_values() {
        assert_eq!(fixed(1e20, 2), format!("{:.2}", 1e20));
        assert_eq!(fixed(f64::INFINITY, 1), "inf");
        assert_eq!(fixed(f64::NAN, 1), "NaN");
    }
}
