//! Arithmetic with MySQL's result types: integers stay BIGINT (UNSIGNED when
//! an operand is) and overflow is error 1690; DECIMAL is exact; strings and
//! doubles make DOUBLE; `/` of exact numbers is DECIMAL with scale
//! s1 + div_precision_increment; division by zero is NULL with warning 1365,
//! or an error when the statement is strict (INSERT/UPDATE in strict mode).

use crate::decimal::DECIMAL_SCALE_MAX;
use crate::error::{Error, Result, Warnings};
use crate::value::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    /// `/`
    Div,
    /// `DIV`: integer division, truncating.
    IntDiv,
    /// `%` and MOD()
    Mod,
}

impl ArithOp {
    pub fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
            ArithOp::IntDiv => "DIV",
            ArithOp::Mod => "%",
        }
    }
}

/// Settings arithmetic needs from the session and statement.
#[derive(Debug, Clone, Copy)]
pub struct ArithSettings {
    /// @@div_precision_increment (MySQL's default 4).
    pub div_precision_increment: u32,
    /// Strict mode during INSERT/UPDATE: division by zero is error 1365, not NULL.
    pub division_by_zero_is_error: bool,
}

/// What family an operation runs in, chosen from its operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Domain {
    Int,
    Decimal,
    Double,
}

/// A temporal operand turns into a number: an integer without fraction, else a decimal.
fn numeric_view(value: &Value, warnings: &mut Warnings) -> Value {
    match value {
        Value::Date(d) => Value::Int(d.as_number()),
        Value::DateTime(d) if d.fsp() == 0 => Value::Int(d.as_number()),
        Value::Time(t) if t.fsp() == 0 => Value::Int(t.as_number()),
        Value::DateTime(_) | Value::Time(_) => value
            .to_decimal(warnings)
            .map(Value::Decimal)
            .unwrap_or(Value::Null),
        other => other.clone(),
    }
}

fn domain(value: &Value) -> Domain {
    match value {
        Value::Int(_) | Value::UInt(_) | Value::Null => Domain::Int,
        Value::Decimal(_) => Domain::Decimal,
        _ => Domain::Double,
    }
}

fn out_of_range(unsigned: bool, left: &Value, op: ArithOp, right: &Value) -> Error {
    Error::OutOfRange {
        type_name: if unsigned {
            "BIGINT UNSIGNED"
        } else {
            "BIGINT"
        },
        expression: format!("({left} {} {right})", op.symbol()),
    }
}

fn int_result(
    result: i128,
    unsigned: bool,
    left: &Value,
    op: ArithOp,
    right: &Value,
) -> Result<Value> {
    if unsigned {
        u64::try_from(result)
            .map(Value::UInt)
            .map_err(|_| out_of_range(true, left, op, right))
    } else {
        i64::try_from(result)
            .map(Value::Int)
            .map_err(|_| out_of_range(false, left, op, right))
    }
}

fn division_by_zero(settings: &ArithSettings, warnings: &mut Warnings) -> Result<Value> {
    if settings.division_by_zero_is_error {
        return Err(Error::DivisionByZero);
    }
    warnings.push(1365, "Division by 0".into());
    Ok(Value::Null)
}

fn decimal_overflow(left: &Value, op: ArithOp, right: &Value) -> Error {
    Error::OutOfRange {
        type_name: "DECIMAL",
        expression: format!("({left} {} {right})", op.symbol()),
    }
}

fn double_result(result: f64, left: &Value, op: ArithOp, right: &Value) -> Result<Value> {
    if result.is_finite() {
        Ok(Value::Double(result))
    } else {
        Err(Error::OutOfRange {
            type_name: "DOUBLE",
            expression: format!("({left} {} {right})", op.symbol()),
        })
    }
}

/// Evaluates `left op right`; either NULL gives NULL.
pub fn arithmetic(
    op: ArithOp,
    left: &Value,
    right: &Value,
    settings: &ArithSettings,
    warnings: &mut Warnings,
) -> Result<Value> {
    if left.is_null() || right.is_null() {
        return Ok(Value::Null);
    }
    let (left, right) = (numeric_view(left, warnings), numeric_view(right, warnings));
    let (left, right) = (&left, &right);
    let domain = match (domain(left), domain(right)) {
        (Domain::Double, _) | (_, Domain::Double) => Domain::Double,
        (Domain::Decimal, _) | (_, Domain::Decimal) => Domain::Decimal,
        _ => Domain::Int,
    };
    // `/` of two integers is exact decimal division.
    let domain = if op == ArithOp::Div && domain == Domain::Int {
        Domain::Decimal
    } else {
        domain
    };
    match domain {
        Domain::Int => {
            let unsigned = matches!(left, Value::UInt(_)) || matches!(right, Value::UInt(_));
            let (a, b) = (
                left.to_i128(warnings).unwrap_or(0),
                right.to_i128(warnings).unwrap_or(0),
            );
            let result = match op {
                ArithOp::Add => a + b,
                ArithOp::Sub => a - b,
                // i64 x i64 and u64 x u64 both fit i128 except u64::MAX^2; check.
                ArithOp::Mul => a
                    .checked_mul(b)
                    .ok_or_else(|| out_of_range(unsigned, left, op, right))?,
                ArithOp::IntDiv | ArithOp::Mod | ArithOp::Div if b == 0 => {
                    return division_by_zero(settings, warnings)
                }
                ArithOp::IntDiv | ArithOp::Div => a / b,
                ArithOp::Mod => {
                    // The sign of MOD follows the dividend; an unsigned dividend keeps it unsigned.
                    let unsigned = matches!(left, Value::UInt(_));
                    return int_result(a % b, unsigned, left, op, right);
                }
            };
            int_result(result, unsigned, left, op, right)
        }
        Domain::Decimal => {
            let (Some(a), Some(b)) = (left.to_decimal(warnings), right.to_decimal(warnings)) else {
                return Err(decimal_overflow(left, op, right));
            };
            let overflow = || decimal_overflow(left, op, right);
            match op {
                ArithOp::Add => a.checked_add(&b).map(Value::Decimal).ok_or_else(overflow),
                ArithOp::Sub => a.checked_sub(&b).map(Value::Decimal).ok_or_else(overflow),
                ArithOp::Mul => a.checked_mul(&b).map(Value::Decimal).ok_or_else(overflow),
                _ if b.is_zero() => division_by_zero(settings, warnings),
                ArithOp::Div => a
                    .checked_div(
                        &b,
                        division_scale(a.scale(), b.scale(), settings.div_precision_increment),
                    )
                    .map(Value::Decimal)
                    .ok_or_else(overflow),
                ArithOp::IntDiv => {
                    let scale = a.scale().max(b.scale());
                    let (Some(a), Some(b)) = (a.rescale(scale), b.rescale(scale)) else {
                        return Err(overflow());
                    };
                    let quotient = a.mantissa() / b.mantissa();
                    int_result(quotient, false, left, op, right)
                }
                ArithOp::Mod => a.checked_rem(&b).map(Value::Decimal).ok_or_else(overflow),
            }
        }
        Domain::Double => {
            let a = left.to_f64(warnings).unwrap_or(0.0);
            let b = right.to_f64(warnings).unwrap_or(0.0);
            match op {
                ArithOp::Add => double_result(a + b, left, op, right),
                ArithOp::Sub => double_result(a - b, left, op, right),
                ArithOp::Mul => double_result(a * b, left, op, right),
                _ if b == 0.0 => division_by_zero(settings, warnings),
                ArithOp::Div => double_result(a / b, left, op, right),
                ArithOp::IntDiv => {
                    let quotient = (a / b).trunc();
                    if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&quotient) {
                        return Err(out_of_range(false, left, op, right));
                    }
                    Ok(Value::Int(quotient as i64))
                }
                ArithOp::Mod => double_result(a % b, left, op, right),
            }
        }
    }
}

/// The scale a decimal quotient is computed at. MySQL works in 9-digit words:
/// s1 + s2 + div_precision_increment digits rounded up to whole words (at most 30).
/// The result *type* has scale s1 + increment; `expr::finalize` rounds to it on
/// output, so 10/3*3 prints 10.0000 as in MySQL, not 9.9999.
pub fn division_scale(dividend_scale: u32, divisor_scale: u32, increment: u32) -> u32 {
    let digits = dividend_scale + divisor_scale + increment;
    (digits.div_ceil(9) * 9).min(DECIMAL_SCALE_MAX)
}

/// Unary minus: BIGINT stays BIGINT (its minimum overflows), UNSIGNED turns signed.
pub fn negate(value: &Value, warnings: &mut Warnings) -> Result<Value> {
    let range_error = || Error::OutOfRange {
        type_name: "BIGINT",
        expression: format!("-({value})"),
    };
    match numeric_view(value, warnings) {
        Value::Null => Ok(Value::Null),
        Value::Int(v) => v.checked_neg().map(Value::Int).ok_or_else(range_error),
        Value::UInt(v) => i64::try_from(-i128::from(v))
            .map(Value::Int)
            .map_err(|_| range_error()),
        Value::Decimal(d) => d.checked_neg().map(Value::Decimal).ok_or_else(range_error),
        other => Ok(Value::Double(-other.to_f64(warnings).unwrap_or(0.0))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: ArithSettings = ArithSettings {
        div_precision_increment: 4,
        division_by_zero_is_error: false,
    };

    fn run(op: ArithOp, a: Value, b: Value) -> Result<String> {
        let mut warnings = Warnings::default();
        arithmetic(op, &a, &b, &SETTINGS, &mut warnings).map(|v| v.to_string())
    }

    // Integer overflow is error 1690, with signed and unsigned limits.
    #[test]
    fn integer_overflow_is_an_error() {
        assert_eq!(
            run(ArithOp::Add, Value::Int(i64::MAX), Value::Int(1)).map_err(|e| e.code()),
            Err(1690)
        );
        assert_eq!(
            run(ArithOp::Sub, Value::UInt(1), Value::Int(2)).map_err(|e| e.code()),
            Err(1690)
        );
        assert_eq!(
            run(ArithOp::Add, Value::UInt(u64::MAX - 1), Value::Int(1)),
            Ok(u64::MAX.to_string())
        );
        assert_eq!(
            run(ArithOp::Mul, Value::UInt(u64::MAX), Value::UInt(u64::MAX)).map_err(|e| e.code()),
            Err(1690)
        );
    }

    // `/` is exact decimal division; DIV truncates; division by zero is NULL with a warning.
    #[test]
    fn division_rules() {
        // Quotients carry whole 9-digit words; the expression's type rounds them on output.
        assert_eq!(
            run(ArithOp::Div, Value::Int(7), Value::Int(2)),
            Ok("3.500000000".into())
        );
        assert_eq!(
            run(ArithOp::Div, Value::Int(1), Value::Int(3)),
            Ok("0.333333333".into())
        );
        assert_eq!(
            run(ArithOp::IntDiv, Value::Int(-7), Value::Int(2)),
            Ok("-3".into())
        );
        assert_eq!(
            run(ArithOp::Mod, Value::Int(-7), Value::Int(2)),
            Ok("-1".into())
        );
        let mut warnings = Warnings::default();
        let zero = arithmetic(
            ArithOp::Div,
            &Value::Int(1),
            &Value::Int(0),
            &SETTINGS,
            &mut warnings,
        );
        assert!(matches!(zero, Ok(Value::Null)));
        assert_eq!(warnings.list().first().map(|w| w.code), Some(1365));
        let strict = ArithSettings {
            division_by_zero_is_error: true,
            ..SETTINGS
        };
        let zero = arithmetic(
            ArithOp::Mod,
            &Value::Int(1),
            &Value::Int(0),
            &strict,
            &mut warnings,
        );
        assert_eq!(zero.map(|v| v.to_string()).map_err(|e| e.code()), Err(1365));
    }

    // Strings in arithmetic are doubles by their numeric prefix.
    #[test]
    fn strings_become_doubles() {
        assert_eq!(
            run(ArithOp::Add, Value::string("1.5x"), Value::Int(1)),
            Ok("2.5".into())
        );
        assert_eq!(
            run(ArithOp::Mul, Value::string("abc"), Value::Int(3)),
            Ok("0".into())
        );
    }
}
