//! Values and MySQL's rules for them: implicit conversion (a string becomes a
//! number by its numeric prefix, with a 1292 warning when something was cut),
//! comparison of mixed types, truth of a value, and the text each type sends
//! in the text protocol.

use std::cmp::Ordering;
use std::fmt;

use crate::collation::Collation;
use crate::decimal::Decimal;
use crate::error::Warnings;
use crate::temporal::{self, Date, DateTime, Time};
use crate::types::{SqlType, TypeClass};

/// One SQL value. Strings carry their collation; `Collation::Binary` marks bytes.
#[derive(Debug, Clone)]
pub enum Value {
    Null,
    Int(i64),
    UInt(u64),
    Decimal(Decimal),
    Double(f64),
    Bytes(Vec<u8>, Collation),
    Date(Date),
    DateTime(DateTime),
    Time(Time),
}

pub(crate) const WARN_TRUNCATED: u16 = 1292;
pub(crate) const WARN_OUT_OF_RANGE: u16 = 1264;

/// Pushes MySQL's "Truncated incorrect X value" warning.
pub(crate) fn warn_truncated(warnings: &mut Warnings, type_name: &str, bytes: &[u8]) {
    warnings.push(
        WARN_TRUNCATED,
        format!(
            "Truncated incorrect {type_name} value: '{}'",
            String::from_utf8_lossy(bytes)
        ),
    );
}

/// True when the numeric prefix was the whole string. Trailing spaces count as
/// cut off: MariaDB warns for ' 12 ' + 1 (checked in the MariaDB table test).
fn rest_is_blank(bytes: &[u8], consumed: usize) -> bool {
    consumed >= bytes.len()
}

/// The numeric prefix of a string as a double, warning when anything was ignored.
pub(crate) fn string_to_f64(bytes: &[u8], warnings: &mut Warnings) -> f64 {
    let (number, consumed) = parse_f64_prefix(bytes);
    if !rest_is_blank(bytes, consumed) || consumed == 0 {
        warn_truncated(warnings, "DOUBLE", bytes);
    }
    number
}

/// Longest prefix of `bytes` that reads as a double (0.0 and 0 consumed when none).
pub(crate) fn parse_f64_prefix(bytes: &[u8]) -> (f64, usize) {
    let mut position = 0;
    while bytes.get(position).is_some_and(|b| b.is_ascii_whitespace()) {
        position += 1;
    }
    let start = position;
    if let Some(b'+' | b'-') = bytes.get(position) {
        position += 1;
    }
    let mut digits = 0;
    while bytes.get(position).is_some_and(|b| b.is_ascii_digit()) {
        position += 1;
        digits += 1;
    }
    if bytes.get(position) == Some(&b'.') {
        position += 1;
        while bytes.get(position).is_some_and(|b| b.is_ascii_digit()) {
            position += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return (0.0, 0);
    }
    if let Some(b'e' | b'E') = bytes.get(position) {
        let mut look = position + 1;
        if let Some(b'+' | b'-') = bytes.get(look) {
            look += 1;
        }
        if bytes.get(look).is_some_and(|b| b.is_ascii_digit()) {
            while bytes.get(look).is_some_and(|b| b.is_ascii_digit()) {
                look += 1;
            }
            position = look;
        }
    }
    let text = bytes
        .get(start..position)
        .and_then(|b| std::str::from_utf8(b).ok())
        .unwrap_or("0");
    let text = text.strip_suffix('.').unwrap_or(text);
    let number = text.parse::<f64>().unwrap_or(0.0);
    (number, position)
}

/// The integer prefix of a string, clamped to i64 with a warning; `1.9x` gives 1.
pub(crate) fn string_to_i128(bytes: &[u8], warnings: &mut Warnings, type_name: &str) -> i128 {
    let mut position = 0;
    while bytes.get(position).is_some_and(|b| b.is_ascii_whitespace()) {
        position += 1;
    }
    let mut negative = false;
    if let Some(&sign @ (b'+' | b'-')) = bytes.get(position) {
        negative = sign == b'-';
        position += 1;
    }
    let mut magnitude: i128 = 0;
    let mut digits = 0;
    while let Some(&byte) = bytes.get(position) {
        if !byte.is_ascii_digit() {
            break;
        }
        magnitude = magnitude
            .saturating_mul(10)
            .saturating_add(i128::from(byte - b'0'));
        position += 1;
        digits += 1;
    }
    if digits == 0 || !rest_is_blank(bytes, position) {
        warn_truncated(warnings, type_name, bytes);
    }
    let limit = i128::from(u64::MAX);
    if magnitude > limit {
        warnings.push(
            WARN_OUT_OF_RANGE,
            format!("Out of range value for {type_name}"),
        );
        magnitude = limit;
    }
    if negative {
        -magnitude
    } else {
        magnitude
    }
}

/// MySQL's shortest text for a double (what `my_gcvt` prints for the text protocol):
/// the shortest digits that round-trip, in positional notation unless the exponent
/// is below -15 or at least 15 (checked against MariaDB, which shares MySQL's dtoa).
pub fn format_double(value: f64) -> String {
    if value == 0.0 {
        return "0".into();
    }
    if value.is_nan() || value.is_infinite() {
        // MySQL cannot hold these; they print as MySQL's overflow text would not. Keep readable.
        return if value.is_nan() {
            "NaN".into()
        } else if value > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if !(-15..15).contains(&exponent) {
        return format!("{mantissa}e{exponent}");
    }
    format!("{value}")
}

impl Value {
    pub fn string(text: &str) -> Value {
        Value::Bytes(text.as_bytes().to_vec(), Collation::Utf8mb4_0900AiCi)
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn bool(truth: Option<bool>) -> Value {
        match truth {
            Some(true) => Value::Int(1),
            Some(false) => Value::Int(0),
            None => Value::Null,
        }
    }

    pub fn class(&self) -> TypeClass {
        match self {
            Value::Null => TypeClass::Null,
            Value::Int(_) | Value::UInt(_) => TypeClass::Int,
            Value::Decimal(_) => TypeClass::Decimal,
            Value::Double(_) => TypeClass::Double,
            Value::Bytes(..) => TypeClass::String,
            Value::Date(_) | Value::DateTime(_) | Value::Time(_) => TypeClass::Temporal,
        }
    }

    /// The type a literal of this value has (what a binder gives a constant).
    pub fn literal_type(&self) -> SqlType {
        match self {
            Value::Null => SqlType::Null,
            Value::Int(_) => SqlType::BIGINT,
            Value::UInt(_) => SqlType::BIGINT_UNSIGNED,
            Value::Decimal(d) => {
                SqlType::decimal_clamped(d.integer_digits() + d.scale(), d.scale())
            }
            Value::Double(_) => SqlType::Double,
            Value::Bytes(bytes, collation) => {
                let length = u32::try_from(collation.char_count(bytes)).unwrap_or(u32::MAX);
                if collation.is_binary() {
                    SqlType::VarBinary {
                        length_bytes: length,
                    }
                } else {
                    SqlType::VarChar {
                        length_chars: length,
                        collation: *collation,
                    }
                }
            }
            Value::Date(_) => SqlType::Date,
            Value::DateTime(d) => SqlType::DateTime { fsp: d.fsp() },
            Value::Time(t) => SqlType::Time { fsp: t.fsp() },
        }
    }

    /// Reads a numeric literal as MySQL types it: integers as BIGINT (UNSIGNED past
    /// i64, DECIMAL past u64), with a point as DECIMAL, with an exponent as DOUBLE.
    pub fn parse_number_literal(text: &str) -> Option<Value> {
        if text.contains(['e', 'E']) {
            return text
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(Value::Double);
        }
        if !text.contains('.') {
            if let Ok(number) = text.parse::<i64>() {
                return Some(Value::Int(number));
            }
            if let Ok(number) = text.parse::<u64>() {
                return Some(Value::UInt(number));
            }
        }
        match Decimal::parse_prefix(text.as_bytes()) {
            (Some(decimal), consumed) if consumed == text.len() => Some(Value::Decimal(decimal)),
            _ => None,
        }
    }

    /// As a double (None for NULL); strings by numeric prefix, temporals as numbers.
    pub fn to_f64(&self, warnings: &mut Warnings) -> Option<f64> {
        Some(match self {
            Value::Null => return None,
            Value::Int(v) => *v as f64,
            Value::UInt(v) => *v as f64,
            Value::Decimal(d) => d.to_f64(),
            Value::Double(v) => *v,
            Value::Bytes(bytes, _) => string_to_f64(bytes, warnings),
            Value::Date(d) => d.as_number() as f64,
            Value::DateTime(d) => {
                d.as_number() as f64
                    + (d.micros_of_day() % temporal::MICROS_PER_SECOND) as f64 / 1e6
            }
            Value::Time(t) => {
                let fraction = (t.micros().abs() % temporal::MICROS_PER_SECOND) as f64 / 1e6;
                let number = t.as_number().abs() as f64 + fraction;
                if t.micros() < 0 {
                    -number
                } else {
                    number
                }
            }
        })
    }

    /// As an exact decimal (None for NULL or when out of Floe's decimal range).
    pub fn to_decimal(&self, warnings: &mut Warnings) -> Option<Decimal> {
        match self {
            Value::Null => None,
            Value::Int(v) => Some(Decimal::from_i64(*v)),
            Value::UInt(v) => Some(Decimal::from_u64(*v)),
            Value::Decimal(d) => Some(*d),
            Value::Double(v) => {
                // Shortest round-trip digits, as MySQL converts a double to decimal.
                let (decimal, _) = Decimal::parse_prefix(format!("{v:e}").as_bytes());
                decimal
            }
            Value::Bytes(bytes, _) => {
                let (decimal, consumed) = Decimal::parse_prefix(bytes);
                if !rest_is_blank(bytes, consumed) || consumed == 0 {
                    warn_truncated(warnings, "DECIMAL", bytes);
                }
                Some(decimal.unwrap_or(Decimal::ZERO))
            }
            Value::Date(d) => Some(Decimal::from_i64(d.as_number())),
            Value::DateTime(d) => {
                let micros = i128::from(d.as_number()) * 1_000_000
                    + i128::from(d.micros_of_day() % temporal::MICROS_PER_SECOND);
                Decimal::new(micros, 6)?.rescale(u32::from(d.fsp()))
            }
            Value::Time(t) => {
                let fraction = i128::from(t.micros().abs() % temporal::MICROS_PER_SECOND);
                let magnitude = i128::from(t.as_number().abs()) * 1_000_000 + fraction;
                let signed = if t.micros() < 0 {
                    -magnitude
                } else {
                    magnitude
                };
                Decimal::new(signed, 6)?.rescale(u32::from(t.fsp()))
            }
        }
    }

    /// As an integer in i128 (covers both BIGINT and BIGINT UNSIGNED), rounding
    /// decimals and doubles half away from zero as MySQL does.
    pub fn to_i128(&self, warnings: &mut Warnings) -> Option<i128> {
        Some(match self {
            Value::Null => return None,
            Value::Int(v) => i128::from(*v),
            Value::UInt(v) => i128::from(*v),
            Value::Decimal(d) => d.round_i128(),
            Value::Double(v) => {
                // Doubles round half to even (C's rint), unlike DECIMAL.
                let rounded = v.round_ties_even();
                if rounded >= 18_446_744_073_709_551_616.0 {
                    i128::from(u64::MAX)
                } else if rounded < -9_223_372_036_854_775_808.0 {
                    i128::from(i64::MIN)
                } else {
                    rounded as i128
                }
            }
            Value::Bytes(bytes, _) => string_to_i128(bytes, warnings, "INTEGER"),
            Value::Date(d) => i128::from(d.as_number()),
            Value::DateTime(d) => i128::from(d.as_number()),
            Value::Time(t) => i128::from(t.as_number()),
        })
    }

    /// The text protocol's bytes for this value; None for NULL.
    pub fn to_text(&self) -> Option<Vec<u8>> {
        match self {
            Value::Null => None,
            Value::Bytes(bytes, _) => Some(bytes.clone()),
            other => Some(other.to_string().into_bytes()),
        }
    }

    /// Truth in a boolean context: NULL is unknown, numbers are true when non-zero,
    /// strings by their numeric prefix ('abc' is false).
    pub fn truth(&self, warnings: &mut Warnings) -> Option<bool> {
        match self {
            Value::Null => None,
            Value::Int(v) => Some(*v != 0),
            Value::UInt(v) => Some(*v != 0),
            Value::Decimal(d) => Some(!d.is_zero()),
            other => other.to_f64(warnings).map(|v| v != 0.0),
        }
    }

    /// A temporal view of the value: strings and numbers parsed as DATETIME.
    pub(crate) fn to_datetime(&self, warnings: &mut Warnings) -> Option<DateTime> {
        match self {
            Value::Date(d) => Some(DateTime::from_date(*d)),
            Value::DateTime(d) => Some(*d),
            Value::Bytes(bytes, _) => {
                let parsed = std::str::from_utf8(bytes)
                    .ok()
                    .and_then(temporal::parse_datetime);
                if parsed.is_none() {
                    warnings.push(
                        WARN_TRUNCATED,
                        format!(
                            "Incorrect datetime value: '{}'",
                            String::from_utf8_lossy(bytes)
                        ),
                    );
                }
                parsed.map(|(d, _)| d)
            }
            Value::Int(_) | Value::UInt(_) | Value::Decimal(_) | Value::Double(_) => {
                let number = self.to_i128(warnings).and_then(|n| i64::try_from(n).ok());
                let parsed = number.and_then(temporal::datetime_from_number);
                if parsed.is_none() {
                    warnings.push(
                        WARN_TRUNCATED,
                        format!("Incorrect datetime value: '{self}'"),
                    );
                }
                parsed.map(|(d, _)| d)
            }
            Value::Time(_) | Value::Null => None,
        }
    }
}

/// How two operands are compared, from MySQL's rules for mixed types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareAs {
    Int,
    Decimal,
    Double,
    String(Collation),
    DateTime,
    Time,
}

/// What comparison needs to know of an operand's type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CompareOperand {
    class: TypeClass,
    is_time: bool,
    collation: Collation,
}

impl CompareOperand {
    pub(crate) fn of_type(sql_type: &SqlType) -> CompareOperand {
        CompareOperand {
            class: sql_type.class(),
            is_time: matches!(sql_type, SqlType::Time { .. }),
            collation: sql_type.collation().unwrap_or(Collation::Utf8mb4_0900AiCi),
        }
    }

    pub(crate) fn of_value(value: &Value) -> CompareOperand {
        CompareOperand {
            class: value.class(),
            is_time: matches!(value, Value::Time(_)),
            collation: match value {
                Value::Bytes(_, collation) => *collation,
                _ => Collation::Utf8mb4_0900AiCi,
            },
        }
    }
}

/// MySQL's choice of comparison for two operand types.
pub fn compare_as(left: &SqlType, right: &SqlType) -> CompareAs {
    compare_as_operands(
        CompareOperand::of_type(left),
        CompareOperand::of_type(right),
    )
}

/// The comparison two runtime values get (their classes decide, as their types would).
pub fn compare_as_values(left: &Value, right: &Value) -> CompareAs {
    compare_as_operands(
        CompareOperand::of_value(left),
        CompareOperand::of_value(right),
    )
}

pub(crate) fn compare_as_operands(left: CompareOperand, right: CompareOperand) -> CompareAs {
    use TypeClass as C;
    match (left.class, right.class) {
        (C::String, C::String) => CompareAs::String(left.collation.aggregate(right.collation)),
        (C::Int | C::Null, C::Int | C::Null) => CompareAs::Int,
        (C::Temporal, C::Temporal | C::String | C::Null) | (C::String | C::Null, C::Temporal) => {
            if left.is_time || right.is_time {
                CompareAs::Time
            } else {
                CompareAs::DateTime
            }
        }
        (C::Decimal | C::Int | C::Null, C::Decimal | C::Int | C::Null) => CompareAs::Decimal,
        (C::Temporal, C::Int | C::Decimal) | (C::Int | C::Decimal, C::Temporal) => {
            CompareAs::Decimal
        }
        (C::Null, C::String) => CompareAs::String(right.collation),
        (C::String, C::Null) => CompareAs::String(left.collation),
        _ => CompareAs::Double,
    }
}

fn compare_f64(left: f64, right: f64) -> Ordering {
    left.partial_cmp(&right).unwrap_or(Ordering::Equal)
}

/// Compares two non-NULL values the way `how` says; None when either is NULL.
pub fn compare_values(
    left: &Value,
    right: &Value,
    how: CompareAs,
    warnings: &mut Warnings,
) -> Option<Ordering> {
    if left.is_null() || right.is_null() {
        return None;
    }
    match how {
        CompareAs::Int => {
            let (a, b) = (left.to_i128(warnings)?, right.to_i128(warnings)?);
            Some(a.cmp(&b))
        }
        CompareAs::Decimal => match (left.to_decimal(warnings), right.to_decimal(warnings)) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => Some(compare_f64(left.to_f64(warnings)?, right.to_f64(warnings)?)),
        },
        CompareAs::Double => Some(compare_f64(left.to_f64(warnings)?, right.to_f64(warnings)?)),
        CompareAs::String(collation) => {
            let (a, b) = (text_of(left), text_of(right));
            Some(collation.compare(&a, &b))
        }
        CompareAs::DateTime => {
            // A string that is not a date compares as a string, after MySQL's warning.
            match (left.to_datetime(warnings), right.to_datetime(warnings)) {
                (Some(a), Some(b)) => Some(a.cmp(&b)),
                _ => Some(Collation::Utf8mb4_0900AiCi.compare(&text_of(left), &text_of(right))),
            }
        }
        CompareAs::Time => {
            let as_time = |v: &Value| match v {
                Value::Time(t) => Some(t.micros()),
                Value::DateTime(d) => Some(d.micros_of_day()),
                Value::Bytes(bytes, _) => std::str::from_utf8(bytes)
                    .ok()
                    .and_then(temporal::parse_time)
                    .map(|t| t.micros()),
                _ => None,
            };
            match (as_time(left), as_time(right)) {
                (Some(a), Some(b)) => Some(a.cmp(&b)),
                _ => Some(compare_f64(left.to_f64(warnings)?, right.to_f64(warnings)?)),
            }
        }
    }
}

/// The bytes of a value in string context.
pub(crate) fn text_of(value: &Value) -> std::borrow::Cow<'_, [u8]> {
    match value {
        // Strings compare in place; only other types are formatted.
        Value::Bytes(bytes, _) => std::borrow::Cow::Borrowed(bytes),
        other => std::borrow::Cow::Owned(other.to_text().unwrap_or_default()),
    }
}

/// Compares two values of the same column type (ORDER BY, keys, MIN/MAX); NULL first.
pub fn sort_compare(left: &Value, right: &Value) -> Ordering {
    match (left.is_null(), right.is_null()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        _ => {}
    }
    let how = compare_as_values(left, right);
    let mut ignored = Warnings::default();
    compare_values(left, right, how, &mut ignored).unwrap_or(Ordering::Equal)
}

impl fmt::Display for Value {
    /// MySQL's text form of the value (NULL prints as NULL).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Int(v) => write!(f, "{v}"),
            Value::UInt(v) => write!(f, "{v}"),
            Value::Decimal(d) => write!(f, "{d}"),
            Value::Double(v) => f.write_str(&format_double(*v)),
            Value::Bytes(bytes, _) => f.write_str(&String::from_utf8_lossy(bytes)),
            Value::Date(d) => write!(f, "{d}"),
            Value::DateTime(d) => write!(f, "{d}"),
            Value::Time(t) => write!(f, "{t}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A string becomes a number by its numeric prefix, warning when bytes were ignored.
    #[test]
    fn string_numeric_prefix_warns() {
        let mut warnings = Warnings::default();
        assert_eq!(Value::string("12abc").to_f64(&mut warnings), Some(12.0));
        assert_eq!(warnings.total_count(), 1);
        assert_eq!(warnings.list().first().map(|w| w.code), Some(1292));
        assert_eq!(Value::string(" 1.5e1").to_f64(&mut warnings), Some(15.0));
        assert_eq!(warnings.total_count(), 1);
        assert_eq!(Value::string("abc").to_f64(&mut warnings), Some(0.0));
        assert_eq!(warnings.total_count(), 2);
    }

    // Mixed comparisons follow MySQL: int vs string as double, strings by collation.
    #[test]
    fn mixed_comparisons() {
        let mut warnings = Warnings::default();
        let cmp = |a: &Value, b: &Value, w: &mut Warnings| {
            compare_values(a, b, compare_as(&a.literal_type(), &b.literal_type()), w)
        };
        assert_eq!(
            cmp(&Value::Int(10), &Value::string("9z"), &mut warnings),
            Some(Ordering::Greater)
        );
        assert_eq!(
            cmp(&Value::string("10"), &Value::string("9"), &mut warnings),
            Some(Ordering::Less)
        );
        assert_eq!(
            cmp(&Value::string("ABC"), &Value::string("abc"), &mut warnings),
            Some(Ordering::Equal)
        );
        assert_eq!(
            cmp(&Value::UInt(u64::MAX), &Value::Int(-1), &mut warnings),
            Some(Ordering::Greater)
        );
        assert_eq!(cmp(&Value::Int(1), &Value::Null, &mut warnings), None);
        let date = Value::Date(Date::new(2024, 1, 5).unwrap_or_else(|| panic!("valid date")));
        assert_eq!(
            cmp(&date, &Value::string("2024-01-05"), &mut warnings),
            Some(Ordering::Equal)
        );
        assert_eq!(
            cmp(&date, &Value::Int(20240105), &mut warnings),
            Some(Ordering::Equal)
        );
    }

    // Doubles print in MySQL's shortest form; exponents only for very large or small.
    #[test]
    fn double_text() {
        assert_eq!(format_double(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_double(2.5), "2.5");
        assert_eq!(format_double(-3.0), "-3");
        assert_eq!(format_double(1e20), "1e20");
        assert_eq!(format_double(1.5e-7), "0.00000015");
        assert_eq!(format_double(1e-16), "1e-16");
        assert_eq!(format_double(1e15), "1e15");
        assert_eq!(format_double(1e14), "100000000000000");
    }

    // Literals get MySQL's types by their spelling.
    #[test]
    fn literal_types() {
        assert!(matches!(
            Value::parse_number_literal("12"),
            Some(Value::Int(12))
        ));
        assert!(matches!(
            Value::parse_number_literal("18446744073709551615"),
            Some(Value::UInt(u64::MAX))
        ));
        assert!(matches!(
            Value::parse_number_literal("18446744073709551616"),
            Some(Value::Decimal(_))
        ));
        assert!(matches!(
            Value::parse_number_literal("1.50"),
            Some(Value::Decimal(_))
        ));
        assert!(matches!(
            Value::parse_number_literal("1e2"),
            Some(Value::Double(_))
        ));
    }
}
