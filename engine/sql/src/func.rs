//! Scalar functions, CAST, LIKE and date arithmetic: the parts of expression
//! evaluation that are one MySQL function each. Arguments are evaluated here so
//! IF/COALESCE/IFNULL evaluate only the branch they return, as MySQL does.

use crate::arith::{self, ArithOp};
use crate::collation::{self, Collation};
use crate::decimal::{Decimal, DECIMAL_SCALE_MAX};
use crate::error::{Error, Result, Warnings};
use crate::expr::{
    aggregate_types, coerce, eval_at_type_scale, text_length_chars, CastTarget, EvalContext, Expr,
    Function, IntervalUnit, TrimSide,
};
use crate::temporal::{self, Date, DateTime, Time, MICROS_PER_SECOND};
use crate::types::{SqlType, TypeClass};
use crate::value::{string_to_i128, warn_truncated, Value, WARN_OUT_OF_RANGE, WARN_TRUNCATED};

/// The type CAST produces.
pub(crate) fn cast_type(target: &CastTarget, operand: &SqlType) -> SqlType {
    match target {
        CastTarget::Signed => SqlType::BIGINT,
        CastTarget::Unsigned => SqlType::BIGINT_UNSIGNED,
        CastTarget::Decimal { precision, scale } => {
            SqlType::decimal_clamped(u32::from(*precision), u32::from(*scale))
        }
        CastTarget::Double => SqlType::Double,
        CastTarget::Char { length_chars } => {
            SqlType::varchar(length_chars.unwrap_or_else(|| text_length_chars(operand)))
        }
        CastTarget::Binary { length_bytes } => SqlType::VarBinary {
            length_bytes: length_bytes.unwrap_or_else(|| text_length_chars(operand)),
        },
        CastTarget::Date => SqlType::Date,
        CastTarget::DateTime { fsp } => SqlType::DateTime { fsp: *fsp },
        CastTarget::Time { fsp } => SqlType::Time { fsp: *fsp },
    }
}

/// The integer a literal argument holds, for types that depend on it (ROUND's digits).
fn literal_int(expr: Option<&Expr>) -> Option<i64> {
    match expr {
        Some(Expr::Literal(Value::Int(v))) => Some(*v),
        Some(Expr::Literal(Value::UInt(v))) => i64::try_from(*v).ok(),
        Some(Expr::Negate(inner)) => literal_int(Some(inner)).map(|v| -v),
        _ => None,
    }
}

fn string_result(types: &[SqlType], length_chars: u32) -> SqlType {
    if types
        .iter()
        .any(|t| t.collation() == Some(Collation::Binary))
    {
        SqlType::VarBinary {
            length_bytes: length_chars,
        }
    } else {
        SqlType::varchar(length_chars)
    }
}

pub(crate) fn function_type(function: Function, types: &[SqlType], args: &[Expr]) -> SqlType {
    let first = types.first().copied().unwrap_or(SqlType::Null);
    let first_length = text_length_chars(&first);
    match function {
        Function::Abs => match first.class() {
            TypeClass::Int => SqlType::Int {
                width: crate::types::IntWidth::Big,
                unsigned: first.is_unsigned(),
            },
            TypeClass::Decimal => first,
            _ => SqlType::Double,
        },
        Function::Ceil | Function::Floor => match first {
            SqlType::Int { .. } => first,
            SqlType::Decimal { precision, scale } if precision - scale.min(precision) <= 17 => {
                SqlType::BIGINT
            }
            SqlType::Decimal { precision, scale } => {
                SqlType::decimal_clamped(u32::from(precision) - u32::from(scale) + 1, 0)
            }
            _ => SqlType::Double,
        },
        Function::Round | Function::Truncate => match first {
            SqlType::Int { .. } => SqlType::Int {
                width: crate::types::IntWidth::Big,
                unsigned: first.is_unsigned(),
            },
            SqlType::Decimal { precision, scale } => {
                let digits = match literal_int(args.get(1)) {
                    Some(d) => u32::try_from(d.clamp(0, i64::from(DECIMAL_SCALE_MAX))).unwrap_or(0),
                    None if args.len() == 1 => 0,
                    None => u32::from(scale),
                };
                let integer_digits =
                    u32::from(precision) - u32::from(scale).min(u32::from(precision));
                SqlType::decimal_clamped(integer_digits + digits + 1, digits)
            }
            _ => SqlType::Double,
        },
        Function::Mod => {
            let left = Expr::Column {
                index: 0,
                sql_type: first,
                nullable: true,
            };
            let right = Expr::Column {
                index: 1,
                sql_type: types.get(1).copied().unwrap_or(SqlType::Null),
                nullable: true,
            };
            Expr::arith(ArithOp::Mod, left, right).result_type()
        }
        Function::Length
        | Function::CharLength
        | Function::Locate
        | Function::Instr
        | Function::DateDiff
        | Function::Year
        | Function::Month
        | Function::Day => SqlType::BIGINT,
        Function::Concat => {
            let total = types
                .iter()
                .map(text_length_chars)
                .fold(0u32, u32::saturating_add);
            string_result(types, total)
        }
        Function::ConcatWs => {
            let separator =
                first_length.saturating_mul(u32::try_from(types.len()).unwrap_or(u32::MAX));
            let total = types
                .iter()
                .skip(1)
                .map(text_length_chars)
                .fold(separator, u32::saturating_add);
            string_result(types, total)
        }
        Function::Upper
        | Function::Lower
        | Function::Substring
        | Function::Trim(_)
        | Function::LTrim
        | Function::RTrim
        | Function::Left
        | Function::Right => string_result(&types[..types.len().min(1)], first_length),
        Function::Replace => string_result(
            &types[..types.len().min(1)],
            first_length.saturating_mul(4).max(first_length),
        ),
        Function::Now => SqlType::DateTime {
            fsp: literal_int(args.first())
                .and_then(|v| u8::try_from(v.clamp(0, 6)).ok())
                .unwrap_or(0),
        },
        Function::CurDate => SqlType::Date,
        Function::SysDate => SqlType::DateTime {
            fsp: literal_int(args.first())
                .and_then(|v| u8::try_from(v.clamp(0, 6)).ok())
                .unwrap_or(0),
        },
        Function::CurTime => SqlType::Time {
            fsp: literal_int(args.first())
                .and_then(|v| u8::try_from(v.clamp(0, 6)).ok())
                .unwrap_or(0),
        },
        Function::UnixTimestamp => SqlType::BIGINT,
        Function::FromUnixtime => SqlType::DateTime { fsp: 0 },
        Function::ConvertTz => match first {
            SqlType::DateTime { fsp } | SqlType::Timestamp { fsp } => SqlType::DateTime { fsp },
            // A literal keeps its own digits (MySQL reads constants early).
            _ => SqlType::DateTime {
                fsp: match args.first() {
                    Some(Expr::Literal(v)) => v
                        .to_datetime(&mut Warnings::default())
                        .map_or(6, |d| d.fsp()),
                    _ => 6,
                },
            },
        },
        Function::Coalesce | Function::IfNull => aggregate_types(types),
        Function::NullIf => first,
        Function::If => aggregate_types(types.get(1..).unwrap_or(&[])),
        Function::Builtin(b) => b.result_type(types, args),
    }
}

/// Evaluates a function call; `call_expr` is the whole call (for its result type).
pub(crate) fn call(
    function: Function,
    args: &[Expr],
    call_expr: &Expr,
    row: &[Value],
    context: &mut EvalContext,
) -> Result<Value> {
    let (min, max) = function.arity();
    if args.len() < min || args.len() > max {
        return Err(Error::ArgumentCount {
            function: function.name(),
        });
    }
    // The branch functions evaluate lazily.
    match function {
        Function::If => {
            let [condition, then, otherwise] = args else {
                return Err(Error::ArgumentCount {
                    function: function.name(),
                });
            };
            let chosen = if condition.eval(row, context)?.truth(&mut context.warnings) == Some(true)
            {
                then
            } else {
                otherwise
            };
            let value = chosen.eval(row, context)?;
            return Ok(coerce(
                value,
                &call_expr.result_type(),
                &mut context.warnings,
            ));
        }
        Function::Coalesce | Function::IfNull => {
            for arg in args {
                let value = arg.eval(row, context)?;
                if !value.is_null() {
                    return Ok(coerce(
                        value,
                        &call_expr.result_type(),
                        &mut context.warnings,
                    ));
                }
            }
            return Ok(Value::Null);
        }
        _ => {}
    }
    // String functions and NULLIF read decimals at their type's scale, as MySQL's
    // val_str does (CONCAT(1/3) is '0.3333'); numeric functions keep every digit.
    let at_type_scale = !matches!(
        function,
        Function::Abs
            | Function::Ceil
            | Function::Floor
            | Function::Round
            | Function::Truncate
            | Function::Mod
    ) && !matches!(function, Function::Builtin(b) if b.numeric());
    let mut values = Vec::with_capacity(args.len());
    for arg in args {
        values.push(if at_type_scale {
            eval_at_type_scale(arg, row, context)?
        } else {
            arg.eval(row, context)?
        });
    }
    let warnings = &mut context.warnings;
    // Most functions are NULL when any argument is.
    let null_propagates = !matches!(
        function,
        Function::ConcatWs
            | Function::NullIf
            | Function::Now
            | Function::CurDate
            | Function::CurTime
            | Function::SysDate
    ) && !matches!(function, Function::Builtin(b) if !b.null_propagates());
    if null_propagates && values.iter().any(Value::is_null) {
        return Ok(Value::Null);
    }
    let arg = |position: usize| values.get(position).unwrap_or(&Value::Null);
    let int_arg =
        |position: usize, warnings: &mut Warnings| arg(position).to_i128(warnings).unwrap_or(0);
    let text = |position: usize| arg(position).to_text().unwrap_or_default();
    let collation_of = |position: usize| match arg(position) {
        Value::Bytes(_, collation) => *collation,
        _ => Collation::Utf8mb4_0900AiCi,
    };
    let string = |bytes: Vec<u8>, collation: Collation| Value::Bytes(bytes, collation);
    Ok(match function {
        Function::Abs => match arg(0) {
            Value::Int(v) => Value::Int(v.checked_abs().ok_or_else(|| Error::OutOfRange {
                type_name: "BIGINT",
                expression: format!("abs({v})"),
            })?),
            Value::UInt(v) => Value::UInt(*v),
            Value::Decimal(d) => Value::Decimal(d.abs()),
            other => Value::Double(other.to_f64(warnings).unwrap_or(0.0).abs()),
        },
        Function::Ceil | Function::Floor => {
            let ceil = function == Function::Ceil;
            match arg(0) {
                Value::Int(_) | Value::UInt(_) => arg(0).clone(),
                Value::Decimal(d) => {
                    let integer = if ceil { d.ceil_i128() } else { d.floor_i128() };
                    match i64::try_from(integer) {
                        Ok(v) => Value::Int(v),
                        Err(_) => Decimal::new(integer, 0)
                            .map(Value::Decimal)
                            .unwrap_or(Value::Null),
                    }
                }
                other => {
                    let v = other.to_f64(warnings).unwrap_or(0.0);
                    Value::Double(if ceil { v.ceil() } else { v.floor() })
                }
            }
        }
        Function::Round | Function::Truncate => {
            let truncate = function == Function::Truncate;
            let digits = if values.len() > 1 {
                int_arg(1, warnings).clamp(-100, 100)
            } else {
                0
            };
            let digits = i64::try_from(digits).unwrap_or(0);
            round_value(arg(0), digits, truncate, warnings)?
        }
        Function::Mod => arith::arithmetic(ArithOp::Mod, arg(0), arg(1), &context.arith, warnings)?,
        Function::Length => Value::Int(i64::try_from(text(0).len()).unwrap_or(i64::MAX)),
        Function::CharLength => {
            let count = collation_of(0).char_count(&text(0));
            Value::Int(i64::try_from(count).unwrap_or(i64::MAX))
        }
        Function::Concat => {
            let collation = values
                .iter()
                .fold(Collation::Utf8mb4_0900AiCi, |c, v| match v {
                    Value::Bytes(_, other) => c.aggregate(*other),
                    _ => c,
                });
            let mut joined = Vec::new();
            for value in &values {
                joined.extend(value.to_text().unwrap_or_default());
            }
            string(joined, collation)
        }
        Function::ConcatWs => {
            if arg(0).is_null() {
                return Ok(Value::Null);
            }
            let separator = text(0);
            let mut joined = Vec::new();
            let mut first = true;
            for value in values.iter().skip(1).filter(|v| !v.is_null()) {
                if !first {
                    joined.extend_from_slice(&separator);
                }
                first = false;
                joined.extend(value.to_text().unwrap_or_default());
            }
            string(joined, collation_of(0))
        }
        Function::Upper | Function::Lower => {
            let collation = collation_of(0);
            if collation.is_binary() {
                string(text(0), collation)
            } else {
                let source = String::from_utf8_lossy(&text(0)).into_owned();
                let converted = if function == Function::Upper {
                    source.to_uppercase()
                } else {
                    source.to_lowercase()
                };
                string(converted.into_bytes(), collation)
            }
        }
        Function::Substring => {
            let bytes = text(0);
            let collation = collation_of(0);
            let boundaries = collation.char_boundaries(&bytes);
            let count = i128::try_from(boundaries.len().saturating_sub(1)).unwrap_or(0);
            let position = int_arg(1, warnings);
            let start = if position > 0 {
                position - 1
            } else {
                count + position
            };
            let length = if values.len() > 2 {
                int_arg(2, warnings)
            } else {
                count
            };
            if position == 0 || start < 0 || start >= count || length <= 0 {
                string(Vec::new(), collation)
            } else {
                let end = start.saturating_add(length).min(count);
                string(slice_chars(&bytes, &boundaries, start, end), collation)
            }
        }
        Function::Left | Function::Right => {
            let bytes = text(0);
            let collation = collation_of(0);
            let boundaries = collation.char_boundaries(&bytes);
            let count = i128::try_from(boundaries.len().saturating_sub(1)).unwrap_or(0);
            let wanted = int_arg(1, warnings).clamp(0, count);
            let (start, end) = if function == Function::Left {
                (0, wanted)
            } else {
                (count - wanted, count)
            };
            string(slice_chars(&bytes, &boundaries, start, end), collation)
        }
        Function::Trim(side) => {
            let remove = if values.len() > 1 {
                text(1)
            } else {
                b" ".to_vec()
            };
            string(trim_bytes(&text(0), &remove, side), collation_of(0))
        }
        Function::LTrim => string(
            trim_bytes(&text(0), b" ", TrimSide::Leading),
            collation_of(0),
        ),
        Function::RTrim => string(
            trim_bytes(&text(0), b" ", TrimSide::Trailing),
            collation_of(0),
        ),
        Function::Replace => {
            let (source, from, to) = (text(0), text(1), text(2));
            string(replace_bytes(&source, &from, &to), collation_of(0))
        }
        Function::Locate | Function::Instr => {
            let (needle, haystack) = if function == Function::Locate {
                (0, 1)
            } else {
                (1, 0)
            };
            let collation = collation_of(needle).aggregate(collation_of(haystack));
            let start = if values.len() > 2 {
                int_arg(2, warnings)
            } else {
                1
            };
            Value::Int(locate(&text(needle), &text(haystack), start, collation))
        }
        Function::Now | Function::SysDate => {
            let fsp = if values.is_empty() {
                0
            } else {
                int_arg(0, warnings).clamp(0, 6)
            };
            Value::DateTime(context.now.with_fsp(u8::try_from(fsp).unwrap_or(0)))
        }
        Function::CurDate => Value::Date(context.now.date()),
        Function::CurTime => {
            let fsp = if values.is_empty() {
                0
            } else {
                int_arg(0, warnings).clamp(0, 6)
            };
            let fsp = u8::try_from(fsp).unwrap_or(0);
            Time::new(context.now.with_fsp(fsp).micros_of_day(), fsp)
                .map_or(Value::Null, Value::Time)
        }
        Function::UnixTimestamp => {
            // The session's wall clock back to UTC, then from the epoch.
            let local = if values.is_empty() {
                Some(context.now)
            } else {
                arg(0).to_datetime(warnings)
            };
            match local.and_then(|d| temporal::shift_seconds(&d, -context.time_zone_offset_s)) {
                Some(utc) if temporal::in_timestamp_range(&utc) => Value::Int(
                    utc.total_micros().div_euclid(MICROS_PER_SECOND) - temporal::epoch_seconds(),
                ),
                // Before the epoch or past TIMESTAMP's range: 0, as MySQL.
                Some(_) => Value::Int(0),
                None => Value::Null,
            }
        }
        Function::FromUnixtime => {
            let seconds = int_arg(0, warnings);
            let local = i64::try_from(seconds)
                .ok()
                .filter(|s| (0..=i64::from(i32::MAX)).contains(s))
                .and_then(|s| {
                    s.checked_add(temporal::epoch_seconds())?
                        .checked_add(context.time_zone_offset_s)?
                        .checked_mul(MICROS_PER_SECOND)
                })
                .and_then(|micros| DateTime::from_total_micros(micros, 0));
            local.map_or(Value::Null, Value::DateTime)
        }
        Function::ConvertTz => {
            let zone = |position: usize| {
                std::str::from_utf8(&text(position))
                    .ok()
                    .and_then(temporal::parse_time_zone)
            };
            match (arg(0).to_datetime(warnings), zone(1), zone(2)) {
                (Some(value), Some(from), Some(to)) => {
                    let fsp = match call_expr.result_type() {
                        SqlType::DateTime { fsp } => fsp,
                        _ => value.fsp(),
                    };
                    let value = value.with_fsp(fsp);
                    match temporal::shift_seconds(&value, -from) {
                        // Outside TIMESTAMP's range MySQL leaves it as is.
                        Some(utc) if temporal::in_timestamp_range(&utc) => {
                            temporal::shift_seconds(&utc, to).map_or(Value::Null, Value::DateTime)
                        }
                        _ => Value::DateTime(value),
                    }
                }
                _ => Value::Null,
            }
        }
        Function::DateDiff => match (arg(0).to_datetime(warnings), arg(1).to_datetime(warnings)) {
            (Some(a), Some(b)) => Value::Int(a.date().day_number() - b.date().day_number()),
            _ => Value::Null,
        },
        Function::Year | Function::Month | Function::Day => match arg(0).to_datetime(warnings) {
            Some(d) => {
                let date = d.date();
                Value::Int(i64::from(match function {
                    Function::Year => date.year(),
                    Function::Month => date.month(),
                    _ => date.day(),
                }))
            }
            None => Value::Null,
        },
        Function::NullIf => {
            let how = crate::value::compare_as_values(arg(0), arg(1));
            match crate::value::compare_values(arg(0), arg(1), how, warnings) {
                Some(std::cmp::Ordering::Equal) => Value::Null,
                _ => arg(0).clone(),
            }
        }
        Function::If | Function::Coalesce | Function::IfNull => Value::Null,
        Function::Builtin(b) => b.eval(&values, &call_expr.result_type(), warnings)?,
    })
}

fn slice_chars(bytes: &[u8], boundaries: &[usize], start: i128, end: i128) -> Vec<u8> {
    let index = |i: i128| {
        usize::try_from(i)
            .ok()
            .and_then(|i| boundaries.get(i).copied())
    };
    match (index(start), index(end)) {
        (Some(from), Some(to)) if from <= to => bytes.get(from..to).unwrap_or(&[]).to_vec(),
        _ => Vec::new(),
    }
}

fn trim_bytes(source: &[u8], remove: &[u8], side: TrimSide) -> Vec<u8> {
    if remove.is_empty() {
        return source.to_vec();
    }
    let mut rest = source;
    if side != TrimSide::Trailing {
        while let Some(tail) = rest.strip_prefix(remove) {
            rest = tail;
        }
    }
    if side != TrimSide::Leading {
        while let Some(head) = rest.strip_suffix(remove) {
            rest = head;
        }
    }
    rest.to_vec()
}

fn replace_bytes(source: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if from.is_empty() {
        return source.to_vec();
    }
    let mut out = Vec::with_capacity(source.len());
    let mut rest = source;
    while !rest.is_empty() {
        if let Some(tail) = rest.strip_prefix(from) {
            out.extend_from_slice(to);
            rest = tail;
        } else if let Some((first, tail)) = rest.split_first() {
            out.push(*first);
            rest = tail;
        }
    }
    out
}

fn weights(bytes: &[u8], collation: Collation) -> Vec<u32> {
    let mut out = Vec::with_capacity(bytes.len());
    collation.for_each_weight(bytes, |w| out.push(w));
    out
}

/// 1-based character position of `needle` in `haystack` at or after `start`; 0 if absent.
fn locate(needle: &[u8], haystack: &[u8], start: i128, collation: Collation) -> i64 {
    let needle = weights(needle, collation);
    let haystack = weights(haystack, collation);
    if start < 1 {
        return 0;
    }
    let first = usize::try_from(start - 1).unwrap_or(usize::MAX);
    if first > haystack.len() {
        return 0;
    }
    if needle.is_empty() {
        return i64::try_from(first + 1).unwrap_or(0);
    }
    haystack
        .windows(needle.len())
        .enumerate()
        .skip(first)
        .find(|(_, window)| *window == needle.as_slice())
        .map(|(position, _)| i64::try_from(position + 1).unwrap_or(0))
        .unwrap_or(0)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum LikeToken {
    Literal(u32),
    AnyOne,
    AnyRun,
}

/// LIKE under the operands' collation: `%` any run, `_` one character, `escape`
/// makes the next character literal. None when either side is NULL.
pub(crate) fn like(value: &Value, pattern: &Value, escape: char) -> Option<bool> {
    if value.is_null() || pattern.is_null() {
        return None;
    }
    let collation_of = |v: &Value| match v {
        Value::Bytes(_, c) => *c,
        _ => Collation::Utf8mb4_0900AiCi,
    };
    let collation = collation_of(value).aggregate(collation_of(pattern));
    let text = weights(&value.to_text().unwrap_or_default(), collation);
    let pattern_bytes = pattern.to_text().unwrap_or_default();
    let mut tokens = Vec::new();
    let mut raw: Vec<std::result::Result<char, u8>> = Vec::new();
    if collation.is_binary() {
        raw.extend(pattern_bytes.iter().map(|b| Ok(char::from(*b))));
    } else {
        collation::for_each_char(&pattern_bytes, |item| raw.push(item));
    }
    let weigh = |item: std::result::Result<char, u8>| match (collation.is_binary(), item) {
        (true, Ok(ch)) => u32::from(ch),
        (false, Ok(ch)) => collation::fold(ch),
        (_, Err(byte)) => 0x11_0000 + u32::from(byte),
    };
    let mut items = raw.into_iter().peekable();
    while let Some(item) = items.next() {
        match item {
            Ok(ch) if ch == escape => match items.next() {
                Some(next) => tokens.push(LikeToken::Literal(weigh(next))),
                None => tokens.push(LikeToken::Literal(weigh(Ok(ch)))),
            },
            Ok('%') => tokens.push(LikeToken::AnyRun),
            Ok('_') => tokens.push(LikeToken::AnyOne),
            other => tokens.push(LikeToken::Literal(weigh(other))),
        }
    }
    Some(wildcard_match(&text, &tokens))
}

fn wildcard_match(text: &[u32], tokens: &[LikeToken]) -> bool {
    let (mut t, mut p) = (0usize, 0usize);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(LikeToken::AnyRun) => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(LikeToken::AnyOne) => {
                t += 1;
                p += 1;
            }
            Some(LikeToken::Literal(w)) if text.get(t) == Some(w) => {
                t += 1;
                p += 1;
            }
            _ => match backtrack {
                Some((run_at, text_at)) => {
                    p = run_at + 1;
                    t = text_at + 1;
                    backtrack = Some((run_at, text_at + 1));
                }
                None => return false,
            },
        }
    }
    while tokens.get(p) == Some(&LikeToken::AnyRun) {
        p += 1;
    }
    p == tokens.len()
}

fn round_value(
    value: &Value,
    digits: i64,
    truncate: bool,
    warnings: &mut Warnings,
) -> Result<Value> {
    let round_int = |v: i128| -> Option<i128> {
        if digits >= 0 {
            return Some(v);
        }
        let Some(factor) = u32::try_from(-digits)
            .ok()
            .and_then(|e| 10i128.checked_pow(e))
        else {
            return Some(0);
        };
        let quotient = v / factor;
        let remainder = v % factor;
        let adjusted = if !truncate && remainder.unsigned_abs() * 2 >= factor.unsigned_abs() {
            quotient + v.signum()
        } else {
            quotient
        };
        adjusted.checked_mul(factor)
    };
    let range_error = || Error::OutOfRange {
        type_name: "BIGINT",
        expression: format!("round({value},{digits})"),
    };
    Ok(match value {
        Value::Int(v) => Value::Int(
            round_int(i128::from(*v))
                .and_then(|r| i64::try_from(r).ok())
                .ok_or_else(range_error)?,
        ),
        Value::UInt(v) => Value::UInt(
            round_int(i128::from(*v))
                .and_then(|r| u64::try_from(r).ok())
                .ok_or_else(range_error)?,
        ),
        Value::Decimal(d) => {
            Value::Decimal(
                d.round_digits(digits, truncate)
                    .ok_or_else(|| Error::OutOfRange {
                        type_name: "DECIMAL",
                        expression: format!("round({value},{digits})"),
                    })?,
            )
        }
        other => {
            let v = other.to_f64(warnings).unwrap_or(0.0);
            let scale = 10f64.powi(i32::try_from(digits.unsigned_abs().min(400)).unwrap_or(0));
            let scaled = if digits >= 0 { v * scale } else { v / scale };
            if !scaled.is_finite() {
                return Ok(Value::Double(if digits >= 0 { v } else { 0.0 }));
            }
            let rounded = if truncate {
                scaled.trunc()
            } else {
                scaled.round_ties_even()
            };
            Value::Double(if digits >= 0 {
                rounded / scale
            } else {
                rounded * scale
            })
        }
    })
}

/// CAST(value AS target), with MySQL's warnings for what it cuts or clamps.
pub(crate) fn cast(value: &Value, target: &CastTarget, warnings: &mut Warnings) -> Result<Value> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    Ok(match target {
        CastTarget::Signed | CastTarget::Unsigned => {
            let integer = match value {
                Value::Bytes(bytes, _) => string_to_i128(bytes, warnings, "INTEGER"),
                other => other.to_i128(warnings).unwrap_or(0),
            };
            let clamped = if integer > i128::from(u64::MAX) || integer < i128::from(i64::MIN) {
                warnings.push(WARN_OUT_OF_RANGE, format!("Out of range value: '{value}'"));
                integer.clamp(i128::from(i64::MIN), i128::from(u64::MAX))
            } else {
                integer
            };
            // Both casts reinterpret the 64 bits, as MySQL does (CAST(-1 AS UNSIGNED)).
            let bits = if clamped < 0 {
                u64::from_ne_bytes(i64::try_from(clamped).unwrap_or(i64::MIN).to_ne_bytes())
            } else {
                u64::try_from(clamped).unwrap_or(u64::MAX)
            };
            if matches!(target, CastTarget::Unsigned) {
                if clamped < 0 {
                    warnings.push(
                        1105,
                        "Cast to unsigned converted negative integer to its positive complement"
                            .into(),
                    );
                }
                Value::UInt(bits)
            } else {
                Value::Int(i64::from_ne_bytes(bits.to_ne_bytes()))
            }
        }
        CastTarget::Decimal { precision, scale } => {
            let (precision, scale) = (u32::from(*precision), u32::from(*scale));
            let Some(decimal) = value.to_decimal(warnings) else {
                return Ok(Value::Null);
            };
            let limit_mantissa = 10i128.pow(precision.min(38)) - 1;
            match decimal.rescale(scale) {
                Some(d) if d.mantissa().unsigned_abs() <= limit_mantissa.unsigned_abs() => {
                    Value::Decimal(d)
                }
                _ => {
                    warnings.push(
                        WARN_OUT_OF_RANGE,
                        format!("Out of range value for DECIMAL({precision},{scale})"),
                    );
                    let signed = if decimal.is_negative() {
                        -limit_mantissa
                    } else {
                        limit_mantissa
                    };
                    Decimal::new(signed, scale)
                        .map(Value::Decimal)
                        .unwrap_or(Value::Null)
                }
            }
        }
        CastTarget::Double => value
            .to_f64(warnings)
            .map(Value::Double)
            .unwrap_or(Value::Null),
        CastTarget::Char { length_chars } => {
            let collation = Collation::Utf8mb4_0900AiCi;
            let bytes = value.to_text().unwrap_or_default();
            Value::Bytes(
                cut_chars(bytes, *length_chars, collation, "CHAR", warnings),
                collation,
            )
        }
        CastTarget::Binary { length_bytes } => {
            let mut bytes = cut_chars(
                value.to_text().unwrap_or_default(),
                *length_bytes,
                Collation::Binary,
                "BINARY",
                warnings,
            );
            if let Some(length) = length_bytes.and_then(|l| usize::try_from(l).ok()) {
                bytes.resize(length.max(bytes.len()), 0);
            }
            Value::Bytes(bytes, Collation::Binary)
        }
        CastTarget::Date => match value {
            Value::Time(_) => Value::Null,
            other => other
                .to_datetime(warnings)
                .map(|d| Value::Date(d.date()))
                .unwrap_or(Value::Null),
        },
        CastTarget::DateTime { fsp } => match value {
            Value::Time(_) => Value::Null,
            other => other
                .to_datetime(warnings)
                .map(|d| Value::DateTime(d.with_fsp(*fsp)))
                .unwrap_or(Value::Null),
        },
        CastTarget::Time { fsp } => match to_time(value, warnings) {
            Some(time) => {
                let unit = 10i64.pow(6 - u32::from((*fsp).min(6)));
                let micros = (time.micros() + time.micros().signum() * unit / 2) / unit * unit;
                Time::new(micros, *fsp)
                    .map(Value::Time)
                    .unwrap_or(Value::Null)
            }
            None => Value::Null,
        },
    })
}

fn cut_chars(
    bytes: Vec<u8>,
    limit: Option<u32>,
    collation: Collation,
    name: &str,
    warnings: &mut Warnings,
) -> Vec<u8> {
    let Some(limit) = limit.and_then(|l| usize::try_from(l).ok()) else {
        return bytes;
    };
    let boundaries = collation.char_boundaries(&bytes);
    match boundaries.get(limit) {
        Some(&end) if end < bytes.len() => {
            warn_truncated(warnings, &format!("{name}({limit})"), &bytes);
            bytes.get(..end).unwrap_or(&[]).to_vec()
        }
        _ => bytes,
    }
}

pub(crate) fn to_time(value: &Value, warnings: &mut Warnings) -> Option<Time> {
    let parsed = match value {
        Value::Time(t) => Some(*t),
        Value::DateTime(d) => Time::new(d.micros_of_day(), d.fsp()),
        Value::Date(_) => Time::new(0, 0),
        Value::Bytes(bytes, _) => {
            let text = std::str::from_utf8(bytes).ok();
            match text.and_then(temporal::parse_time_clamped) {
                Some((time, clamped)) => {
                    if clamped {
                        warnings.push(
                            WARN_TRUNCATED,
                            format!("Truncated incorrect time value: '{value}'"),
                        );
                    }
                    Some(time)
                }
                None => text
                    .and_then(temporal::parse_datetime)
                    .and_then(|(d, _)| Time::new(d.micros_of_day(), d.fsp())),
            }
        }
        other => {
            let number = other
                .to_i128(warnings)
                .and_then(|n| i64::try_from(n).ok())?;
            let magnitude = number.checked_abs()?;
            let (hours, minutes, seconds) =
                (magnitude / 10_000, magnitude / 100 % 100, magnitude % 100);
            if minutes > 59 || seconds > 59 {
                None
            } else {
                let micros =
                    (hours * 3600 + minutes * 60 + seconds).checked_mul(MICROS_PER_SECOND)?;
                Time::new(if number < 0 { -micros } else { micros }, 0)
            }
        }
    };
    if parsed.is_none() {
        warnings.push(
            WARN_TRUNCATED,
            format!("Truncated incorrect time value: '{value}'"),
        );
    }
    parsed
}

/// DATE_ADD / DATE_SUB. NULL (with a warning) for unparsable dates or results out of range.
pub(crate) fn date_arith(
    date: &Value,
    interval: &Value,
    unit: IntervalUnit,
    subtract: bool,
    warnings: &mut Warnings,
) -> Value {
    if date.is_null() || interval.is_null() {
        return Value::Null;
    }
    let (base, has_time) = match date {
        Value::Date(d) => (DateTime::from_date(*d), false),
        Value::DateTime(d) => (*d, true),
        Value::Bytes(bytes, _) => match std::str::from_utf8(bytes)
            .ok()
            .and_then(temporal::parse_datetime)
        {
            Some(parsed) => parsed,
            None => {
                warnings.push(
                    WARN_TRUNCATED,
                    format!("Incorrect datetime value: '{date}'"),
                );
                return Value::Null;
            }
        },
        other => match other
            .to_i128(warnings)
            .and_then(|n| i64::try_from(n).ok())
            .and_then(temporal::datetime_from_number)
        {
            Some(parsed) => parsed,
            None => {
                warnings.push(
                    WARN_TRUNCATED,
                    format!("Incorrect datetime value: '{date}'"),
                );
                return Value::Null;
            }
        },
    };
    let Some(amount) = interval
        .to_i128(warnings)
        .and_then(|a| i64::try_from(a).ok())
    else {
        return Value::Null;
    };
    let amount = if subtract {
        amount.checked_neg()
    } else {
        Some(amount)
    };
    let micros_per = |unit: IntervalUnit| -> i64 {
        match unit {
            IntervalUnit::Microsecond => 1,
            IntervalUnit::Second => MICROS_PER_SECOND,
            IntervalUnit::Minute => 60 * MICROS_PER_SECOND,
            IntervalUnit::Hour => 3600 * MICROS_PER_SECOND,
            IntervalUnit::Day => temporal::MICROS_PER_DAY,
            _ => 7 * temporal::MICROS_PER_DAY,
        }
    };
    let result = amount.and_then(|amount| match unit {
        IntervalUnit::Month | IntervalUnit::Quarter | IntervalUnit::Year => {
            let months = amount.checked_mul(match unit {
                IntervalUnit::Month => 1,
                IntervalUnit::Quarter => 3,
                _ => 12,
            })?;
            let date = base.date().add_months(months)?;
            DateTime::new(date, base.micros_of_day(), base.fsp())
        }
        _ => {
            let delta = amount.checked_mul(micros_per(unit))?;
            let fsp = if unit == IntervalUnit::Microsecond {
                6
            } else {
                base.fsp()
            };
            DateTime::from_total_micros(base.total_micros().checked_add(delta)?, fsp)
        }
    });
    // A string in gives a string out, as in MySQL (so it compares as a string).
    let as_text = |value: Value| match date {
        Value::Bytes(_, collation) => Value::Bytes(value.to_string().into_bytes(), *collation),
        _ => value,
    };
    match result {
        Some(result) if !has_time && unit.is_date_part() => as_text(Value::Date(result.date())),
        Some(result) => as_text(Value::DateTime(result)),
        None => {
            warnings.push(1441, "Datetime function: datetime field overflow".into());
            Value::Null
        }
    }
}

/// DATE values from a calendar triple, for tests and binders of DATE literals.
pub fn date_value(year: i64, month: u32, day: u32) -> Value {
    Date::new(year, month, day)
        .map(Value::Date)
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like_str(value: &str, pattern: &str) -> Option<bool> {
        like(&Value::string(value), &Value::string(pattern), '\\')
    }

    // LIKE is case-insensitive under the default collation, with % _ and escapes.
    #[test]
    fn like_patterns() {
        assert_eq!(like_str("Hello", "h%O"), Some(true));
        assert_eq!(like_str("Hello", "h_llo"), Some(true));
        assert_eq!(like_str("Hello", "h_lo"), Some(false));
        assert_eq!(like_str("50%", "50\\%"), Some(true));
        assert_eq!(like_str("500", "50\\%"), Some(false));
        assert_eq!(like_str("abcabc", "%bc%c"), Some(true));
        assert_eq!(like_str("a ", "a"), Some(false));
        assert_eq!(
            like(
                &Value::Bytes(b"Hello".to_vec(), Collation::Binary),
                &Value::string("h%"),
                '\\'
            ),
            Some(false)
        );
        assert_eq!(like(&Value::Null, &Value::string("%"), '\\'), None);
    }

    // Date arithmetic clamps month ends and keeps DATE a DATE for day units.
    #[test]
    fn date_arithmetic() {
        let mut warnings = Warnings::default();
        let jan31 = date_value(2024, 1, 31);
        let show = |v: Value| v.to_string();
        assert_eq!(
            show(date_arith(
                &jan31,
                &Value::Int(1),
                IntervalUnit::Month,
                false,
                &mut warnings
            )),
            "2024-02-29"
        );
        assert_eq!(
            show(date_arith(
                &jan31,
                &Value::Int(1),
                IntervalUnit::Hour,
                false,
                &mut warnings
            )),
            "2024-01-31 01:00:00"
        );
        assert_eq!(
            show(date_arith(
                &Value::string("2024-03-01"),
                &Value::Int(1),
                IntervalUnit::Day,
                true,
                &mut warnings
            )),
            "2024-02-29"
        );
        assert!(warnings.list().is_empty());
        assert!(date_arith(
            &Value::string("nope"),
            &Value::Int(1),
            IntervalUnit::Day,
            false,
            &mut warnings
        )
        .is_null());
        assert_eq!(warnings.total_count(), 1);
    }

    // CAST reinterprets integer bits between SIGNED and UNSIGNED, as MySQL does.
    #[test]
    fn cast_integers() {
        let mut warnings = Warnings::default();
        let unsigned =
            cast(&Value::Int(-1), &CastTarget::Unsigned, &mut warnings).map(|v| v.to_string());
        assert_eq!(unsigned, Ok(u64::MAX.to_string()));
        let signed =
            cast(&Value::UInt(u64::MAX), &CastTarget::Signed, &mut warnings).map(|v| v.to_string());
        assert_eq!(signed, Ok("-1".into()));
        let prefix = cast(&Value::string("12abc"), &CastTarget::Signed, &mut warnings)
            .map(|v| v.to_string());
        assert_eq!(prefix, Ok("12".into()));
        // One note for the negative complement, one for the cut-off "abc".
        assert_eq!(warnings.total_count(), 2);
    }

    // Random client strings through every cast, LIKE and date arithmetic: results or
    // warnings, never a panic (overflow checks are on in release builds too).
    #[test]
    fn random_strings_never_panic() {
        let seed = std::env::var("FLOE_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0xF10E_u64);
        eprintln!("FLOE_SEED={seed}");
        let mut state = seed;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            state >> 33
        };
        let alphabet = b"0123456789-+.:eE /T%_\\\xff9";
        let targets = [
            CastTarget::Signed,
            CastTarget::Unsigned,
            CastTarget::Decimal {
                precision: 38,
                scale: 30,
            },
            CastTarget::Decimal {
                precision: 5,
                scale: 2,
            },
            CastTarget::Double,
            CastTarget::Char {
                length_chars: Some(3),
            },
            CastTarget::Binary {
                length_bytes: Some(4),
            },
            CastTarget::Date,
            CastTarget::DateTime { fsp: 6 },
            CastTarget::Time { fsp: 3 },
        ];
        let mut warnings = Warnings::default();
        for _ in 0..20_000 {
            let length = usize::try_from(next() % 40).unwrap_or(0);
            let bytes: Vec<u8> = (0..length)
                .map(|_| alphabet[usize::try_from(next()).unwrap_or(0) % alphabet.len()])
                .collect();
            let value = Value::Bytes(bytes.clone(), Collation::Utf8mb4_0900AiCi);
            for target in &targets {
                let _ = cast(&value, target, &mut warnings);
            }
            let _ = like(
                &value,
                &Value::Bytes(bytes.clone(), Collation::Binary),
                '\\',
            );
            let _ = date_arith(
                &value,
                &value,
                IntervalUnit::Microsecond,
                false,
                &mut warnings,
            );
            let _ = date_arith(
                &value,
                &Value::Int(i64::MAX),
                IntervalUnit::Year,
                true,
                &mut warnings,
            );
            warnings.clear();
        }
        // The loop ran: a known string still converts as expected afterwards.
        assert_eq!(
            cast(&Value::string("7"), &CastTarget::Signed, &mut warnings).map(|v| v.to_string()),
            Ok("7".into())
        );
    }
}
