//! MySQL's common built-in functions beyond `func`'s first set: string
//! (HEX, UNHEX, LPAD, RPAD, REPEAT, REVERSE, SPACE, ASCII, STRCMP, FIELD,
//! ELT, FIND_IN_SET, SUBSTRING_INDEX, MD5, SHA1/SHA, SHA2, CRC32), numeric
//! (GREATEST, LEAST, SQRT, POW/POWER, EXP, LN, LOG, LOG2, LOG10, SIGN,
//! SIN, COS, TAN, COT, ASIN, ACOS, ATAN, DEGREES, RADIANS) and date (HOUR,
//! MINUTE, SECOND, MICROSECOND, DAYOFWEEK, WEEKDAY, DAYOFYEAR, QUARTER,
//! LAST_DAY, DATE, TIME, DAYNAME, MONTHNAME, TO_DAYS, FROM_DAYS,
//! DATE_FORMAT). They are one `Function::Builtin` each, so `func` needs one
//! arm for all of them.
//!
//! MySQL's rules kept: NULL in, NULL out (except FIELD and ELT, which look
//! at their arguments one by one); HEX of a number is of its BIGINT value
//! (two's complement when negative); LPAD/RPAD cut to the length; an
//! invalid logarithm argument is NULL with warning 3020; a DOUBLE result
//! that overflows is error 1690; HOUR of a TIME may pass 23.
//!
//! Knowingly different: DATE_FORMAT's week specifiers (%U %u %V %v %X %x)
//! are refused (1235) rather than computed; FROM_DAYS below day 366 (MySQL's
//! zero date) is NULL; names are English only (lc_time_names is en_US).

use std::cmp::Ordering;

use crate::collation::Collation;
use crate::error::{Error, Result, Warnings};
use crate::expr::{aggregate_types, coerce, text_length_chars, Expr};
use crate::temporal::{days_in_month, Date, DateTime, Time, MICROS_PER_SECOND};
use crate::types::SqlType;
use crate::value::{compare_as_values, compare_values, Value};

/// Warning 3020: a logarithm of a value it is not defined for.
const WARN_INVALID_LOG: u16 = 3020;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Hex,
    Unhex,
    LPad,
    RPad,
    Repeat,
    Reverse,
    Space,
    Ascii,
    StrCmp,
    Field,
    Elt,
    FindInSet,
    SubstringIndex,
    Md5,
    Sha1,
    Sha2,
    Crc32,
    Greatest,
    Least,
    Sqrt,
    Pow,
    Exp,
    Ln,
    Log,
    Log2,
    Log10,
    Sign,
    Sin,
    Cos,
    Tan,
    Cot,
    Asin,
    Acos,
    Atan,
    Degrees,
    Radians,
    Hour,
    Minute,
    Second,
    Microsecond,
    DayOfWeek,
    Weekday,
    DayOfYear,
    Quarter,
    LastDay,
    Date,
    Time,
    DayName,
    MonthName,
    ToDays,
    FromDays,
    DateFormat,
}

/// (SQL name, function, fewest and most arguments).
const TABLE: &[(&str, Builtin, usize, usize)] = &[
    ("hex", Builtin::Hex, 1, 1),
    ("unhex", Builtin::Unhex, 1, 1),
    ("lpad", Builtin::LPad, 3, 3),
    ("rpad", Builtin::RPad, 3, 3),
    ("repeat", Builtin::Repeat, 2, 2),
    ("reverse", Builtin::Reverse, 1, 1),
    ("space", Builtin::Space, 1, 1),
    ("ascii", Builtin::Ascii, 1, 1),
    ("strcmp", Builtin::StrCmp, 2, 2),
    ("field", Builtin::Field, 2, usize::MAX),
    ("elt", Builtin::Elt, 2, usize::MAX),
    ("find_in_set", Builtin::FindInSet, 2, 2),
    ("substring_index", Builtin::SubstringIndex, 3, 3),
    ("md5", Builtin::Md5, 1, 1),
    ("sha1", Builtin::Sha1, 1, 1),
    ("sha", Builtin::Sha1, 1, 1),
    ("sha2", Builtin::Sha2, 2, 2),
    ("crc32", Builtin::Crc32, 1, 1),
    ("greatest", Builtin::Greatest, 2, usize::MAX),
    ("least", Builtin::Least, 2, usize::MAX),
    ("sqrt", Builtin::Sqrt, 1, 1),
    ("pow", Builtin::Pow, 2, 2),
    ("power", Builtin::Pow, 2, 2),
    ("exp", Builtin::Exp, 1, 1),
    ("ln", Builtin::Ln, 1, 1),
    ("log", Builtin::Log, 1, 2),
    ("log2", Builtin::Log2, 1, 1),
    ("log10", Builtin::Log10, 1, 1),
    ("sign", Builtin::Sign, 1, 1),
    ("sin", Builtin::Sin, 1, 1),
    ("cos", Builtin::Cos, 1, 1),
    ("tan", Builtin::Tan, 1, 1),
    ("cot", Builtin::Cot, 1, 1),
    ("asin", Builtin::Asin, 1, 1),
    ("acos", Builtin::Acos, 1, 1),
    ("atan", Builtin::Atan, 1, 2),
    ("degrees", Builtin::Degrees, 1, 1),
    ("radians", Builtin::Radians, 1, 1),
    ("hour", Builtin::Hour, 1, 1),
    ("minute", Builtin::Minute, 1, 1),
    ("second", Builtin::Second, 1, 1),
    ("microsecond", Builtin::Microsecond, 1, 1),
    ("dayofweek", Builtin::DayOfWeek, 1, 1),
    ("weekday", Builtin::Weekday, 1, 1),
    ("dayofyear", Builtin::DayOfYear, 1, 1),
    ("quarter", Builtin::Quarter, 1, 1),
    ("last_day", Builtin::LastDay, 1, 1),
    ("date", Builtin::Date, 1, 1),
    ("time", Builtin::Time, 1, 1),
    ("dayname", Builtin::DayName, 1, 1),
    ("monthname", Builtin::MonthName, 1, 1),
    ("to_days", Builtin::ToDays, 1, 1),
    ("from_days", Builtin::FromDays, 1, 1),
    ("date_format", Builtin::DateFormat, 2, 2),
];

const DAY_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

impl Builtin {
    /// The function an SQL name (lower case) calls.
    pub fn lookup(name: &str) -> Option<Builtin> {
        TABLE.iter().find(|(n, ..)| *n == name).map(|(_, b, ..)| *b)
    }

    fn entry(self) -> &'static (&'static str, Builtin, usize, usize) {
        TABLE
            .iter()
            .find(|(_, b, ..)| *b == self)
            .expect("every builtin is in TABLE")
    }

    pub fn name(self) -> &'static str {
        self.entry().0
    }

    pub fn arity(self) -> (usize, usize) {
        let (_, _, min, max) = *self.entry();
        (min, max)
    }

    /// FIELD and ELT look at NULL arguments themselves.
    pub fn null_propagates(self) -> bool {
        !matches!(self, Builtin::Field | Builtin::Elt)
    }

    /// Reads DECIMAL arguments at every digit (the numeric functions).
    pub fn numeric(self) -> bool {
        use Builtin as B;
        matches!(
            self,
            B::Sqrt
                | B::Pow
                | B::Exp
                | B::Ln
                | B::Log
                | B::Log2
                | B::Log10
                | B::Sign
                | B::Sin
                | B::Cos
                | B::Tan
                | B::Cot
                | B::Asin
                | B::Acos
                | B::Atan
                | B::Degrees
                | B::Radians
                | B::Greatest
                | B::Least
        )
    }

    pub fn result_type(self, types: &[SqlType], args: &[Expr]) -> SqlType {
        use Builtin as B;
        let first = types.first().copied().unwrap_or(SqlType::Null);
        let first_length = text_length_chars(&first);
        let literal = |position: usize| match args.get(position) {
            Some(Expr::Literal(Value::Int(v))) => u32::try_from(*v).ok(),
            Some(Expr::Literal(Value::UInt(v))) => u32::try_from(*v).ok(),
            _ => None,
        };
        let capped = |chars: u64| SqlType::varchar(u32::try_from(chars.min(65_535)).unwrap_or(0));
        match self {
            B::Hex => capped(u64::from(first_length.max(8)) * 2),
            B::Unhex => SqlType::VarBinary {
                length_bytes: first_length / 2 + 1,
            },
            B::LPad | B::RPad => capped(u64::from(literal(1).unwrap_or(first_length.max(255)))),
            B::Repeat => capped(u64::from(first_length) * u64::from(literal(1).unwrap_or(255))),
            B::Reverse | B::SubstringIndex => capped(u64::from(first_length)),
            B::Space => capped(u64::from(literal(0).unwrap_or(255))),
            B::Elt => capped(
                types
                    .iter()
                    .skip(1)
                    .map(|t| u64::from(text_length_chars(t)))
                    .max()
                    .unwrap_or(0),
            ),
            B::Md5 => SqlType::varchar(32),
            B::Sha1 => SqlType::varchar(40),
            B::Sha2 => SqlType::varchar(128),
            B::DayName | B::MonthName => SqlType::varchar(9),
            B::DateFormat => capped(u64::from(first_length.max(32)) * 4),
            B::Crc32 => SqlType::Int {
                width: crate::types::IntWidth::Big,
                unsigned: true,
            },
            B::Ascii
            | B::StrCmp
            | B::Field
            | B::FindInSet
            | B::Sign
            | B::Hour
            | B::Minute
            | B::Second
            | B::Microsecond
            | B::DayOfWeek
            | B::Weekday
            | B::DayOfYear
            | B::Quarter
            | B::ToDays => SqlType::BIGINT,
            B::Greatest | B::Least => aggregate_types(types),
            B::LastDay | B::Date | B::FromDays => SqlType::Date,
            B::Time => SqlType::Time {
                fsp: match first {
                    SqlType::Time { fsp }
                    | SqlType::DateTime { fsp }
                    | SqlType::Timestamp { fsp } => fsp,
                    _ => 0,
                },
            },
            B::Sqrt
            | B::Pow
            | B::Exp
            | B::Ln
            | B::Log
            | B::Log2
            | B::Log10
            | B::Sin
            | B::Cos
            | B::Tan
            | B::Cot
            | B::Asin
            | B::Acos
            | B::Atan
            | B::Degrees
            | B::Radians => SqlType::Double,
        }
    }

    /// Evaluates over argument values (NULLs already handled when
    /// `null_propagates`); `result` is the call's type.
    pub fn eval(
        self,
        values: &[Value],
        result: &SqlType,
        warnings: &mut Warnings,
    ) -> Result<Value> {
        use Builtin as B;
        let arg = |i: usize| values.get(i).unwrap_or(&Value::Null);
        let text = |i: usize| arg(i).to_text().unwrap_or_default();
        let collation_of = |i: usize| match arg(i) {
            Value::Bytes(_, c) => *c,
            _ => Collation::Utf8mb4_0900AiCi,
        };
        let string = |bytes: Vec<u8>| Value::Bytes(bytes, Collation::Utf8mb4_0900AiCi);
        let int = |i: usize, warnings: &mut Warnings| arg(i).to_i128(warnings).unwrap_or(0);
        let double = |i: usize, warnings: &mut Warnings| arg(i).to_f64(warnings).unwrap_or(0.0);
        let name = self.name();
        let finite = |v: f64| -> Result<Value> {
            if v.is_finite() {
                Ok(Value::Double(v))
            } else {
                Err(Error::OutOfRange {
                    type_name: "DOUBLE",
                    expression: format!("{name}(...)"),
                })
            }
        };
        let logarithm = |v: f64, warnings: &mut Warnings| -> Value {
            if v.is_finite() {
                Value::Double(v)
            } else {
                warnings.push(WARN_INVALID_LOG, "Invalid argument for logarithm".into());
                Value::Null
            }
        };
        Ok(match self {
            B::Hex => match arg(0) {
                Value::Bytes(bytes, _) => string(hex_upper(bytes)),
                other => {
                    let n = match other {
                        Value::Int(v) => *v as u64,
                        Value::UInt(v) => *v,
                        _ => {
                            let v = other.to_f64(warnings).unwrap_or(0.0).round();
                            if v < 0.0 {
                                (v.max(i64::MIN as f64) as i64) as u64
                            } else {
                                v.min(u64::MAX as f64) as u64
                            }
                        }
                    };
                    string(format!("{n:X}").into_bytes())
                }
            },
            B::Unhex => match unhex(&text(0)) {
                Some(bytes) => Value::Bytes(bytes, Collation::Binary),
                None => Value::Null,
            },
            B::LPad | B::RPad => {
                let length = int(1, warnings);
                let (source, pad) = (text(0), text(2));
                let collation = collation_of(0);
                pad_chars(&source, length, &pad, collation, self == B::LPad)
                    .map_or(Value::Null, |b| Value::Bytes(b, collation))
            }
            B::Repeat => {
                let count = usize::try_from(int(1, warnings).max(0)).unwrap_or(0);
                let source = text(0);
                if source.len().saturating_mul(count) > 1 << 26 {
                    // MySQL: NULL past max_allowed_packet, with a warning.
                    warnings.push(
                        1301,
                        "Result of repeat() was larger than max_allowed_packet (67108864) - truncated"
                            .into(),
                    );
                    Value::Null
                } else {
                    Value::Bytes(source.repeat(count), collation_of(0))
                }
            }
            B::Reverse => {
                let source = text(0);
                let collation = collation_of(0);
                let bounds = collation.char_boundaries(&source);
                let mut out = Vec::with_capacity(source.len());
                for pair in bounds.windows(2).rev() {
                    out.extend_from_slice(&source[pair[0]..pair[1]]);
                }
                Value::Bytes(out, collation)
            }
            B::Space => {
                let count = usize::try_from(int(0, warnings).clamp(0, 1 << 26)).unwrap_or(0);
                string(vec![b' '; count])
            }
            B::Ascii => Value::Int(i64::from(text(0).first().copied().unwrap_or(0))),
            B::StrCmp => {
                let collation = collation_of(0).aggregate(collation_of(1));
                Value::Int(match collation.compare(&text(0), &text(1)) {
                    Ordering::Less => -1,
                    Ordering::Equal => 0,
                    Ordering::Greater => 1,
                })
            }
            B::Field => {
                let needle = arg(0);
                if needle.is_null() {
                    return Ok(Value::Int(0));
                }
                let position = values.iter().skip(1).position(|candidate| {
                    let how = compare_as_values(needle, candidate);
                    compare_values(needle, candidate, how, warnings) == Some(Ordering::Equal)
                });
                Value::Int(position.map_or(0, |p| i64::try_from(p + 1).unwrap_or(0)))
            }
            B::Elt => {
                let n = match arg(0).to_i128(warnings) {
                    Some(n) => n,
                    None => return Ok(Value::Null),
                };
                match usize::try_from(n).ok().filter(|&n| n >= 1) {
                    Some(n) => match values.get(n) {
                        Some(v) => coerce(v.clone(), result, warnings),
                        None => Value::Null,
                    },
                    None => Value::Null,
                }
            }
            B::FindInSet => {
                let (needle, list) = (text(0), text(1));
                let collation = collation_of(0).aggregate(collation_of(1));
                if needle.contains(&b',') {
                    Value::Int(0)
                } else {
                    let found = list
                        .split(|&b| b == b',')
                        .position(|item| collation.compare(item, &needle) == Ordering::Equal);
                    Value::Int(found.map_or(0, |p| i64::try_from(p + 1).unwrap_or(0)))
                }
            }
            B::SubstringIndex => {
                let (source, delimiter) = (text(0), text(1));
                let count = int(2, warnings);
                Value::Bytes(substring_index(&source, &delimiter, count), collation_of(0))
            }
            B::Md5 => {
                use md5::Digest;
                string(hex_lower(&md5::Md5::digest(text(0))))
            }
            B::Sha1 => {
                use sha1::Digest;
                string(hex_lower(&sha1::Sha1::digest(text(0))))
            }
            B::Sha2 => {
                use sha2::Digest;
                let source = text(0);
                match int(1, warnings) {
                    0 | 256 => string(hex_lower(&sha2::Sha256::digest(&source))),
                    224 => string(hex_lower(&sha2::Sha224::digest(&source))),
                    384 => string(hex_lower(&sha2::Sha384::digest(&source))),
                    512 => string(hex_lower(&sha2::Sha512::digest(&source))),
                    _ => Value::Null,
                }
            }
            B::Crc32 => Value::UInt(u64::from(crc32fast::hash(&text(0)))),
            B::Greatest | B::Least => {
                let mut best = arg(0);
                for candidate in values.iter().skip(1) {
                    let how = compare_as_values(best, candidate);
                    let order = compare_values(candidate, best, how, warnings);
                    let wanted = if self == B::Greatest {
                        Ordering::Greater
                    } else {
                        Ordering::Less
                    };
                    if order == Some(wanted) {
                        best = candidate;
                    }
                }
                coerce(best.clone(), result, warnings)
            }
            B::Sqrt => {
                let v = double(0, warnings);
                if v < 0.0 {
                    Value::Null
                } else {
                    Value::Double(v.sqrt())
                }
            }
            B::Pow => finite(double(0, warnings).powf(double(1, warnings)))?,
            B::Exp => finite(double(0, warnings).exp())?,
            B::Ln => logarithm(positive_ln(double(0, warnings)), warnings),
            B::Log => {
                if values.len() == 1 {
                    logarithm(positive_ln(double(0, warnings)), warnings)
                } else {
                    let (base, x) = (double(0, warnings), double(1, warnings));
                    let value = if base <= 0.0 || base == 1.0 {
                        f64::NAN
                    } else {
                        positive_ln(x) / base.ln()
                    };
                    logarithm(value, warnings)
                }
            }
            B::Log2 => logarithm(
                positive_ln(double(0, warnings)) / std::f64::consts::LN_2,
                warnings,
            ),
            B::Log10 => logarithm(
                positive_ln(double(0, warnings)) / std::f64::consts::LN_10,
                warnings,
            ),
            B::Sign => {
                let v = double(0, warnings);
                Value::Int(if v > 0.0 {
                    1
                } else if v < 0.0 {
                    -1
                } else {
                    0
                })
            }
            B::Sin => Value::Double(double(0, warnings).sin()),
            B::Cos => Value::Double(double(0, warnings).cos()),
            B::Tan => finite(double(0, warnings).tan())?,
            B::Cot => {
                let v = double(0, warnings);
                if v == 0.0 {
                    return Err(Error::OutOfRange {
                        type_name: "DOUBLE",
                        expression: "cot(0)".into(),
                    });
                }
                finite(1.0 / v.tan())?
            }
            B::Asin | B::Acos => {
                let v = double(0, warnings);
                if !(-1.0..=1.0).contains(&v) {
                    Value::Null
                } else if self == B::Asin {
                    Value::Double(v.asin())
                } else {
                    Value::Double(v.acos())
                }
            }
            B::Atan => {
                if values.len() == 2 {
                    Value::Double(double(0, warnings).atan2(double(1, warnings)))
                } else {
                    Value::Double(double(0, warnings).atan())
                }
            }
            B::Degrees => finite(double(0, warnings).to_degrees())?,
            B::Radians => Value::Double(double(0, warnings).to_radians()),
            B::Hour | B::Minute | B::Second | B::Microsecond => {
                match crate::func::to_time(arg(0), warnings) {
                    Some(time) => {
                        let micros = time.micros().unsigned_abs();
                        let seconds = micros / MICROS_PER_SECOND as u64;
                        Value::Int(
                            i64::try_from(match self {
                                B::Hour => seconds / 3600,
                                B::Minute => seconds / 60 % 60,
                                B::Second => seconds % 60,
                                _ => micros % MICROS_PER_SECOND as u64,
                            })
                            .unwrap_or(0),
                        )
                    }
                    None => Value::Null,
                }
            }
            B::DayOfWeek
            | B::Weekday
            | B::DayOfYear
            | B::Quarter
            | B::LastDay
            | B::Date
            | B::DayName
            | B::MonthName
            | B::ToDays => match arg(0).to_datetime(warnings) {
                Some(datetime) => date_part(self, datetime.date()),
                None => Value::Null,
            },
            B::Time => match crate::func::to_time(arg(0), warnings) {
                Some(time) => {
                    let fsp = match result {
                        SqlType::Time { fsp } => *fsp,
                        _ => 0,
                    };
                    Time::new(time.micros(), fsp).map_or(Value::Null, Value::Time)
                }
                None => Value::Null,
            },
            B::FromDays => {
                let days = int(0, warnings);
                match i64::try_from(days) {
                    Ok(days) if days >= 366 => Date::from_day_number(days - to_days_offset())
                        .map_or(Value::Null, Value::Date),
                    _ => Value::Null,
                }
            }
            B::DateFormat => match arg(0).to_datetime(warnings) {
                Some(datetime) => string(date_format(&datetime, &text(1))?),
                None => Value::Null,
            },
        })
    }
}

/// The natural logarithm, NaN (so: NULL and a warning) for x <= 0.
fn positive_ln(x: f64) -> f64 {
    if x > 0.0 {
        x.ln()
    } else {
        f64::NAN
    }
}

fn hex_upper(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .flat_map(|b| format!("{b:02X}").into_bytes())
        .collect()
}

fn hex_lower(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .flat_map(|b| format!("{b:02x}").into_bytes())
        .collect()
}

/// UNHEX: pairs of hex digits (an odd count has a leading 0); None on a
/// non-hex character.
fn unhex(text: &[u8]) -> Option<Vec<u8>> {
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(text.len() / 2 + 1);
    let mut rest = text;
    if text.len() % 2 == 1 {
        out.push(digit(text[0])?);
        rest = &text[1..];
    }
    for pair in rest.chunks(2) {
        out.push(digit(pair[0])? << 4 | digit(pair[1])?);
    }
    Some(out)
}

/// LPAD/RPAD to `length` characters; None (NULL) for a negative length or
/// an empty pad that would be needed.
fn pad_chars(
    source: &[u8],
    length: i128,
    pad: &[u8],
    collation: Collation,
    left: bool,
) -> Option<Vec<u8>> {
    let length = usize::try_from(length).ok()?.min(1 << 26);
    let bounds = collation.char_boundaries(source);
    let count = bounds.len().saturating_sub(1);
    if length <= count {
        return Some(source[..bounds[length]].to_vec());
    }
    let pad_bounds = collation.char_boundaries(pad);
    let pad_count = pad_bounds.len().saturating_sub(1);
    if pad_count == 0 {
        return None;
    }
    let needed = length - count;
    let mut filler = Vec::new();
    for i in 0..needed {
        let at = i % pad_count;
        filler.extend_from_slice(&pad[pad_bounds[at]..pad_bounds[at + 1]]);
    }
    Some(if left {
        [filler, source.to_vec()].concat()
    } else {
        [source.to_vec(), filler].concat()
    })
}

/// SUBSTRING_INDEX(s, delimiter, count): before the count-th delimiter
/// from the left (count > 0) or after the count-th from the right.
fn substring_index(source: &[u8], delimiter: &[u8], count: i128) -> Vec<u8> {
    if delimiter.is_empty() || count == 0 {
        return Vec::new();
    }
    let positions: Vec<usize> = (0..source.len().saturating_sub(delimiter.len() - 1))
        .filter(|&i| source[i..].starts_with(delimiter))
        .fold(Vec::new(), |mut found, i| {
            // Non-overlapping, left to right.
            if found.last().is_none_or(|&last| i >= last + delimiter.len()) {
                found.push(i);
            }
            found
        });
    let wanted = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
    if wanted > positions.len() {
        return source.to_vec();
    }
    if count > 0 {
        source[..positions[wanted - 1]].to_vec()
    } else {
        source[positions[positions.len() - wanted] + delimiter.len()..].to_vec()
    }
}

/// TO_DAYS(d) - our day number of d: TO_DAYS('2007-10-07') is 733321.
fn to_days_offset() -> i64 {
    let known = Date::new(2007, 10, 7).map_or(0, |d| d.day_number());
    733_321 - known
}

/// 0 = Monday .. 6 = Sunday.
fn weekday(date: Date) -> usize {
    let thursday = Date::new(1970, 1, 1).map_or(0, |d| d.day_number());
    usize::try_from((date.day_number() - thursday + 3).rem_euclid(7)).unwrap_or(0)
}

fn date_part(function: Builtin, date: Date) -> Value {
    use Builtin as B;
    let day_of_year = || {
        let first = Date::new(i64::from(date.year()), 1, 1).map_or(0, |d| d.day_number());
        date.day_number() - first + 1
    };
    match function {
        B::DayOfWeek => Value::Int(i64::try_from((weekday(date) + 1) % 7 + 1).unwrap_or(0)),
        B::Weekday => Value::Int(i64::try_from(weekday(date)).unwrap_or(0)),
        B::DayOfYear => Value::Int(day_of_year()),
        B::Quarter => Value::Int(i64::from((date.month() - 1) / 3 + 1)),
        B::LastDay => Date::new(
            i64::from(date.year()),
            date.month(),
            days_in_month(i64::from(date.year()), date.month()),
        )
        .map_or(Value::Null, Value::Date),
        B::Date => Value::Date(date),
        B::DayName => Value::string(DAY_NAMES[weekday(date)]),
        B::MonthName => Value::string(MONTH_NAMES[(date.month() as usize).saturating_sub(1) % 12]),
        B::ToDays => Value::Int(date.day_number() + to_days_offset()),
        _ => Value::Null,
    }
}

fn ordinal_suffix(day: u32) -> &'static str {
    match (day % 10, day % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    }
}

/// DATE_FORMAT with MySQL's specifiers (week numbers excepted).
fn date_format(datetime: &DateTime, format: &[u8]) -> Result<Vec<u8>> {
    let date = datetime.date();
    let micros = datetime.micros_of_day();
    let seconds = micros / MICROS_PER_SECOND;
    let (hour, minute, second) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let hour12 = if hour % 12 == 0 { 12 } else { hour % 12 };
    let am_pm = if hour < 12 { "AM" } else { "PM" };
    let mut out = String::new();
    let mut chars = format.iter().copied();
    while let Some(c) = chars.next() {
        if c != b'%' {
            out.push(c as char);
            continue;
        }
        let Some(spec) = chars.next() else {
            break;
        };
        let piece = match spec {
            b'a' => DAY_NAMES[weekday(date)][..3].to_string(),
            b'b' => MONTH_NAMES[(date.month() as usize).saturating_sub(1) % 12][..3].to_string(),
            b'c' => date.month().to_string(),
            b'D' => format!("{}{}", date.day(), ordinal_suffix(date.day())),
            b'd' => format!("{:02}", date.day()),
            b'e' => date.day().to_string(),
            b'f' => format!("{:06}", micros % MICROS_PER_SECOND),
            b'H' => format!("{hour:02}"),
            b'h' | b'I' => format!("{hour12:02}"),
            b'i' => format!("{minute:02}"),
            b'j' => {
                let first = Date::new(i64::from(date.year()), 1, 1).map_or(0, |d| d.day_number());
                format!("{:03}", date.day_number() - first + 1)
            }
            b'k' => hour.to_string(),
            b'l' => hour12.to_string(),
            b'M' => MONTH_NAMES[(date.month() as usize).saturating_sub(1) % 12].to_string(),
            b'm' => format!("{:02}", date.month()),
            b'p' => am_pm.to_string(),
            b'r' => format!("{hour12:02}:{minute:02}:{second:02} {am_pm}"),
            b'S' | b's' => format!("{second:02}"),
            b'T' => format!("{hour:02}:{minute:02}:{second:02}"),
            b'W' => DAY_NAMES[weekday(date)].to_string(),
            b'w' => ((weekday(date) + 1) % 7).to_string(),
            b'Y' => format!("{:04}", date.year()),
            b'y' => format!("{:02}", date.year() % 100),
            b'U' | b'u' | b'V' | b'v' | b'X' | b'x' => {
                return Err(Error::Unsupported {
                    what: format!("DATE_FORMAT week specifier %{}", spec as char),
                })
            }
            other => (other as char).to_string(),
        };
        out.push_str(&piece);
    }
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_follow_mysql() {
        assert_eq!(unhex(b"4D7953514C"), Some(b"MySQL".to_vec()));
        assert_eq!(unhex(b"F"), Some(vec![0x0F]));
        assert_eq!(unhex(b"GG"), None);
        assert_eq!(
            substring_index(b"www.mysql.com", b".", 2),
            b"www.mysql".to_vec()
        );
        assert_eq!(
            substring_index(b"www.mysql.com", b".", -2),
            b"mysql.com".to_vec()
        );
        assert_eq!(substring_index(b"a.b", b".", 5), b"a.b".to_vec());
        let c = Collation::Utf8mb4_0900AiCi;
        assert_eq!(pad_chars(b"hi", 4, b"??", c, true), Some(b"??hi".to_vec()));
        assert_eq!(pad_chars(b"hi", 1, b"?", c, true), Some(b"h".to_vec()));
        assert_eq!(
            pad_chars(b"hi", 5, b"ab", c, false),
            Some(b"hiaba".to_vec())
        );
        assert_eq!(pad_chars(b"hi", 5, b"", c, false), None);
        assert_eq!(pad_chars(b"hi", -1, b"x", c, false), None);
        let day = Date::new(2007, 10, 7).unwrap();
        assert_eq!(date_part(Builtin::ToDays, day).to_string(), "733321");
        // 2007-10-07 was a Sunday.
        assert_eq!(date_part(Builtin::DayOfWeek, day).to_string(), "1");
        assert_eq!(date_part(Builtin::Weekday, day).to_string(), "6");
        let datetime = DateTime::new(
            Date::new(2009, 10, 4).unwrap(),
            22 * 3_600_000_000 + 23 * 60_000_000,
            0,
        )
        .unwrap();
        assert_eq!(
            date_format(&datetime, b"%W %M %Y %D %j %H:%i:%s %p %%").unwrap(),
            b"Sunday October 2009 4th 277 22:23:00 PM %".to_vec()
        );
    }
}
