//! Exact decimal numbers: an `i128` mantissa and a scale.
//! Our own rather than a crate because MySQL's rules (scale limits, rounding
//! half away from zero, div_precision_increment) are the point, and they sit
//! naturally on a plain integer. Supported: up to 38 significant digits and
//! scale 30 (MySQL allows 65 digits; beyond 38 Floe reports out of range).

use std::cmp::Ordering;
use std::fmt;

/// Largest number of significant digits a `Decimal` holds.
pub const DECIMAL_PRECISION_MAX: u32 = 38;
/// Largest scale (digits after the point), as in MySQL.
pub const DECIMAL_SCALE_MAX: u32 = 30;

const MANTISSA_LIMIT: i128 = 10i128.pow(DECIMAL_PRECISION_MAX) - 1;
const _: () = assert!(DECIMAL_SCALE_MAX <= DECIMAL_PRECISION_MAX);

/// value = mantissa / 10^scale; |mantissa| < 10^38.
#[derive(Debug, Clone, Copy)]
pub struct Decimal {
    mantissa: i128,
    scale: u8,
}

fn pow10(exponent: u32) -> Option<i128> {
    10i128.checked_pow(exponent)
}

/// Divides rounding half away from zero.
fn div_round(numerator: i128, denominator: i128) -> Option<i128> {
    let quotient = numerator.checked_div(denominator)?;
    let remainder = numerator.checked_rem(denominator)?;
    // |2r| >= |d| rounds away; compare without overflow.
    let remainder_abs = remainder.unsigned_abs();
    let denominator_abs = denominator.unsigned_abs();
    if remainder_abs >= denominator_abs - remainder_abs {
        let away = if (numerator < 0) != (denominator < 0) {
            -1
        } else {
            1
        };
        quotient.checked_add(away)
    } else {
        Some(quotient)
    }
}

impl Decimal {
    pub const ZERO: Decimal = Decimal {
        mantissa: 0,
        scale: 0,
    };

    /// None when the mantissa or scale is beyond the supported range.
    pub fn new(mantissa: i128, scale: u32) -> Option<Decimal> {
        if scale > DECIMAL_SCALE_MAX || mantissa.unsigned_abs() > MANTISSA_LIMIT.unsigned_abs() {
            return None;
        }
        Some(Decimal {
            mantissa,
            scale: u8::try_from(scale).ok()?,
        })
    }

    pub fn from_i64(value: i64) -> Decimal {
        Decimal {
            mantissa: i128::from(value),
            scale: 0,
        }
    }

    pub fn from_u64(value: u64) -> Decimal {
        Decimal {
            mantissa: i128::from(value),
            scale: 0,
        }
    }

    pub fn mantissa(&self) -> i128 {
        self.mantissa
    }

    pub fn scale(&self) -> u32 {
        u32::from(self.scale)
    }

    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    pub fn is_negative(&self) -> bool {
        self.mantissa < 0
    }

    /// Number of digits before the point (at least 1).
    pub fn integer_digits(&self) -> u32 {
        let integer = self.mantissa.unsigned_abs() / 10u128.pow(self.scale());
        if integer == 0 {
            1
        } else {
            integer.ilog10() + 1
        }
    }

    /// The same value at `scale`, rounding half away from zero when the scale drops.
    pub fn rescale(&self, scale: u32) -> Option<Decimal> {
        let current = self.scale();
        if scale >= current {
            let factor = pow10(scale - current)?;
            Decimal::new(self.mantissa.checked_mul(factor)?, scale)
        } else {
            let factor = pow10(current - scale)?;
            Decimal::new(div_round(self.mantissa, factor)?, scale)
        }
    }

    /// The same value at `scale`, truncating toward zero when the scale drops.
    pub fn truncate_to(&self, scale: u32) -> Option<Decimal> {
        let current = self.scale();
        if scale >= current {
            self.rescale(scale)
        } else {
            let factor = pow10(current - scale)?;
            Decimal::new(self.mantissa / factor, scale)
        }
    }

    /// ROUND(x, d) / TRUNCATE(x, d) with a possibly negative `digits`; result scale max(d, 0).
    pub fn round_digits(&self, digits: i64, truncate: bool) -> Option<Decimal> {
        if digits >= 0 {
            let digits = u32::try_from(digits.min(i64::from(DECIMAL_SCALE_MAX))).ok()?;
            let target = digits.min(self.scale().max(digits));
            return if truncate {
                self.truncate_to(target)
            } else {
                self.rescale(target)
            };
        }
        let shift = u32::try_from(digits.unsigned_abs().min(40)).ok()?;
        let Some(factor) = pow10(self.scale() + shift) else {
            return Some(Decimal::ZERO);
        };
        let units = if truncate {
            self.mantissa / factor
        } else {
            div_round(self.mantissa, factor)?
        };
        Decimal::new(units.checked_mul(pow10(shift)?)?, 0)
    }

    pub fn checked_neg(&self) -> Option<Decimal> {
        Decimal::new(self.mantissa.checked_neg()?, self.scale())
    }

    pub fn abs(&self) -> Decimal {
        Decimal {
            mantissa: self.mantissa.abs(),
            scale: self.scale,
        }
    }

    fn aligned(&self, other: &Decimal) -> Option<(i128, i128, u32)> {
        let scale = self.scale().max(other.scale());
        Some((
            self.rescale(scale)?.mantissa,
            other.rescale(scale)?.mantissa,
            scale,
        ))
    }

    pub fn checked_add(&self, other: &Decimal) -> Option<Decimal> {
        let (a, b, scale) = self.aligned(other)?;
        Decimal::new(a.checked_add(b)?, scale)
    }

    pub fn checked_sub(&self, other: &Decimal) -> Option<Decimal> {
        let (a, b, scale) = self.aligned(other)?;
        Decimal::new(a.checked_sub(b)?, scale)
    }

    /// Product at scale s1 + s2, rounded to at most `DECIMAL_SCALE_MAX`.
    pub fn checked_mul(&self, other: &Decimal) -> Option<Decimal> {
        let scale = self.scale() + other.scale();
        let product = self.mantissa.checked_mul(other.mantissa)?;
        if scale > DECIMAL_SCALE_MAX {
            let mantissa = div_round(product, pow10(scale - DECIMAL_SCALE_MAX)?)?;
            Decimal::new(mantissa, DECIMAL_SCALE_MAX)
        } else {
            Decimal::new(product, scale)
        }
    }

    /// Quotient at `scale`, rounded half away from zero. None on overflow or zero divisor.
    pub fn checked_div(&self, other: &Decimal, scale: u32) -> Option<Decimal> {
        if other.is_zero() {
            return None;
        }
        // self / other = (m1 / 10^s1) / (m2 / 10^s2); scaled: m1 * 10^(scale + s2 - s1) / m2.
        let exponent = i64::from(scale) + i64::from(other.scale()) - i64::from(self.scale());
        let (numerator, denominator) = if exponent >= 0 {
            let factor = pow10(u32::try_from(exponent).ok()?)?;
            (self.mantissa.checked_mul(factor)?, other.mantissa)
        } else {
            let factor = pow10(u32::try_from(-exponent).ok()?)?;
            (self.mantissa, other.mantissa.checked_mul(factor)?)
        };
        Decimal::new(div_round(numerator, denominator)?, scale)
    }

    /// Remainder with the sign of the dividend, at the larger scale.
    pub fn checked_rem(&self, other: &Decimal) -> Option<Decimal> {
        let (a, b, scale) = self.aligned(other)?;
        Decimal::new(a.checked_rem(b)?, scale)
    }

    /// Integer part, truncated toward zero.
    pub fn trunc_i128(&self) -> i128 {
        self.mantissa / 10i128.pow(self.scale())
    }

    /// Integer nearest, half away from zero (how MySQL converts DECIMAL to integer).
    pub fn round_i128(&self) -> i128 {
        div_round(self.mantissa, 10i128.pow(self.scale())).unwrap_or(0)
    }

    pub fn floor_i128(&self) -> i128 {
        self.mantissa.div_euclid(10i128.pow(self.scale()))
    }

    pub fn ceil_i128(&self) -> i128 {
        let factor = 10i128.pow(self.scale());
        let floor = self.mantissa.div_euclid(factor);
        if self.mantissa.rem_euclid(factor) == 0 {
            floor
        } else {
            floor + 1
        }
    }

    pub fn to_f64(&self) -> f64 {
        // Through the text form: exact to the nearest double, as MySQL's strtod.
        self.to_string().parse::<f64>().unwrap_or(0.0)
    }

    /// The nearest decimal to `value` with at most `scale` digits after the point.
    pub fn from_f64(value: f64, scale: u32) -> Option<Decimal> {
        if !value.is_finite() {
            return None;
        }
        let text = format!("{:.*}", usize::try_from(scale).ok()?, value);
        let (decimal, _) = Decimal::parse_prefix(text.as_bytes());
        decimal
    }

    /// Parses the longest decimal-number prefix of `text` ("  -12.5e1xyz").
    /// Returns the number (None if no digits or out of range) and the bytes consumed.
    pub fn parse_prefix(text: &[u8]) -> (Option<Decimal>, usize) {
        let mut position = 0;
        while text.get(position).is_some_and(|b| b.is_ascii_whitespace()) {
            position += 1;
        }
        let mut negative = false;
        if let Some(&sign @ (b'+' | b'-')) = text.get(position) {
            negative = sign == b'-';
            position += 1;
        }
        let mut digits: Vec<u8> = Vec::new();
        let mut scale: i64 = 0;
        let mut saw_digit = false;
        let mut saw_point = false;
        while let Some(&byte) = text.get(position) {
            if byte.is_ascii_digit() {
                saw_digit = true;
                if !(digits.is_empty() && byte == b'0') {
                    digits.push(byte - b'0');
                }
                if saw_point {
                    scale += 1;
                }
            } else if byte == b'.' && !saw_point {
                saw_point = true;
            } else {
                break;
            }
            position += 1;
        }
        if !saw_digit {
            return (None, 0);
        }
        let mut exponent: i64 = 0;
        if let Some(b'e' | b'E') = text.get(position) {
            let mut look = position + 1;
            let mut exponent_negative = false;
            if let Some(&sign @ (b'+' | b'-')) = text.get(look) {
                exponent_negative = sign == b'-';
                look += 1;
            }
            if text.get(look).is_some_and(|b| b.is_ascii_digit()) {
                while let Some(&byte) = text.get(look) {
                    if !byte.is_ascii_digit() {
                        break;
                    }
                    exponent = (exponent * 10 + i64::from(byte - b'0')).min(100_000);
                    look += 1;
                }
                if exponent_negative {
                    exponent = -exponent;
                }
                position = look;
            }
        }
        // Digits of the fraction that are trailing zeros are dropped only past the scale limit.
        let mut scale = scale - exponent;
        let digit_count = i64::try_from(digits.len()).unwrap_or(i64::MAX);
        // Bound the work an exponent from the client can cause.
        if !digits.is_empty() && scale < -i64::from(DECIMAL_PRECISION_MAX) {
            return (None, position);
        }
        if scale > i64::from(DECIMAL_SCALE_MAX) + digit_count {
            // Every digit lies below the 31st decimal place: the value rounds to zero.
            return (Some(Decimal::ZERO), position);
        }
        while scale < 0 {
            if !digits.is_empty() {
                digits.push(0);
            }
            scale += 1;
        }
        while scale > i64::from(DECIMAL_SCALE_MAX) {
            // Round away the excess fraction digits.
            let last = digits.pop().unwrap_or(0);
            scale -= 1;
            if last >= 5 && scale == i64::from(DECIMAL_SCALE_MAX) {
                // Round half up in magnitude: add one at the new last digit.
                let mut index = digits.len();
                loop {
                    if index == 0 {
                        digits.insert(0, 1);
                        break;
                    }
                    index -= 1;
                    if let Some(digit) = digits.get_mut(index) {
                        if *digit == 9 {
                            *digit = 0;
                        } else {
                            *digit += 1;
                            break;
                        }
                    }
                }
            }
        }
        let mut mantissa: i128 = 0;
        for digit in digits {
            let Some(next) = mantissa
                .checked_mul(10)
                .and_then(|m| m.checked_add(i128::from(digit)))
            else {
                return (None, position);
            };
            mantissa = next;
        }
        if negative {
            mantissa = -mantissa;
        }
        let scale = u32::try_from(scale).unwrap_or(0);
        (Decimal::new(mantissa, scale), position)
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Decimal {}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        match self.scale.cmp(&other.scale) {
            Ordering::Equal => self.mantissa.cmp(&other.mantissa),
            // Bring the finer one down: b = q * 10^d + r, |r| < 10^d, no overflow possible.
            Ordering::Less => compare_coarse_fine(self.mantissa, other, self.scale()),
            Ordering::Greater => compare_coarse_fine(other.mantissa, self, other.scale()).reverse(),
        }
    }
}

fn compare_coarse_fine(coarse: i128, fine: &Decimal, coarse_scale: u32) -> Ordering {
    let factor = 10i128.pow(fine.scale() - coarse_scale);
    let quotient = fine.mantissa / factor;
    let remainder = fine.mantissa % factor;
    match coarse.cmp(&quotient) {
        Ordering::Equal => 0.cmp(&remainder),
        unequal => unequal,
    }
}

impl fmt::Display for Decimal {
    /// MySQL's text form: all `scale` digits after the point, "-" for negatives.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.mantissa.unsigned_abs().to_string();
        let scale = usize::from(self.scale);
        if self.mantissa < 0 {
            f.write_str("-")?;
        }
        if scale == 0 {
            return f.write_str(&digits);
        }
        let padded = if digits.len() <= scale {
            format!("{}{}", "0".repeat(scale + 1 - digits.len()), digits)
        } else {
            digits
        };
        let split = padded.len() - scale;
        write!(f, "{}.{}", &padded[..split], &padded[split..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        let (value, consumed) = Decimal::parse_prefix(text.as_bytes());
        assert_eq!(consumed, text.len(), "{text}");
        value.unwrap_or_else(|| panic!("{text} parses"))
    }

    // Text round-trips keep the scale, as MySQL prints DECIMAL with all its digits.
    #[test]
    fn display_keeps_scale() {
        for text in [
            "0",
            "1.50",
            "-0.05",
            "123.000",
            "-99999999999999999999.9999",
        ] {
            assert_eq!(dec(text).to_string(), text);
        }
        assert_eq!(dec("1e3").to_string(), "1000");
        assert_eq!(dec("1.5e-2").to_string(), "0.015");
    }

    // Division rounds half away from zero at the requested scale (MySQL: 2/3 = 0.6667).
    #[test]
    fn division_rounds_half_away() {
        assert_eq!(
            dec("2").checked_div(&dec("3"), 4).map(|d| d.to_string()),
            Some("0.6667".into())
        );
        assert_eq!(
            dec("-1").checked_div(&dec("8"), 2).map(|d| d.to_string()),
            Some("-0.13".into())
        );
        assert_eq!(dec("1").checked_div(&dec("0"), 4), None);
    }

    // Comparison across scales is exact, even where rescaling would overflow i128.
    #[test]
    fn compare_across_scales() {
        assert_eq!(dec("1.50"), dec("1.5"));
        assert!(dec("-0.001") < dec("0"));
        assert!(
            dec("99999999999999999999999999999999999999") > dec("0.000000000000000000000000000001")
        );
        assert!(dec("-1.0000001") < dec("-1"));
    }

    // ROUND with negative digits rounds the integer part; TRUNCATE cuts toward zero.
    #[test]
    fn round_and_truncate_digits() {
        assert_eq!(
            dec("155.5").round_digits(-1, false).map(|d| d.to_string()),
            Some("160".into())
        );
        assert_eq!(
            dec("-2.55").round_digits(1, false).map(|d| d.to_string()),
            Some("-2.6".into())
        );
        assert_eq!(
            dec("-2.59").round_digits(1, true).map(|d| d.to_string()),
            Some("-2.5".into())
        );
        assert_eq!(dec("2.5").round_i128(), 3);
        assert_eq!(dec("-2.5").round_i128(), -3);
        assert_eq!(dec("-2.5").floor_i128(), -3);
        assert_eq!(dec("-2.5").ceil_i128(), -2);
    }

    // Parsing stops at the first byte that is not part of a number.
    #[test]
    fn parse_prefix_stops_at_garbage() {
        assert_eq!(Decimal::parse_prefix(b" 12.5abc").1, 5);
        assert_eq!(Decimal::parse_prefix(b"abc").0, None);
        assert_eq!(Decimal::parse_prefix(b"1e").1, 1);
        assert_eq!(
            Decimal::parse_prefix(b"123456789012345678901234567890123456789012").0,
            None
        );
    }
}
