//! The row format tables store in the clustered index, and the conversion
//! of a value into a column's type on its way there (strict mode).
//!
//! Row, all little-endian:
//! ```text
//! version u8 (1) | null bitmap: ceil(columns / 8) bytes, bit i of byte i/8 set
//! when column i is NULL | for each non-NULL column, in order, its value:
//!   integers           8 bytes (i64, or u64 for UNSIGNED)
//!   FLOAT              4 bytes (f32 bits);  DOUBLE 8 bytes (f64 bits)
//!   DECIMAL(p,s)       16 bytes: the mantissa at scale s (i128)
//!   strings and bytes  length u32 | bytes
//!   DATE               4 bytes: day number (i32)
//!   DATETIME/TIMESTAMP 8 bytes: microseconds since 0000-01-01 (i64);
//!                      TIMESTAMP in UTC (the session converts)
//!   TIME               8 bytes: signed microseconds (i64)
//! ```
//! The column types come from the table's definition, never from the row,
//! so a row is only readable with its table's column list. Adding a column
//! (ALTER TABLE) will need a column count in the row or a new version.

use crate::decimal::Decimal;
use crate::error::Warnings;
use crate::expr::{CastTarget, EvalContext, Expr};
use crate::temporal::{Date, DateTime, Time};
use crate::types::{SqlType, TypeClass};
use crate::value::Value;

pub const ROW_VERSION: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    #[error("row format version {found}; this build reads {ROW_VERSION}")]
    UnknownVersion { found: u8 },
    #[error("row truncated at column {column} (byte {offset_bytes})")]
    Truncated { column: usize, offset_bytes: usize },
    #[error("row has {extra_bytes} bytes after its last column")]
    TrailingBytes { extra_bytes: usize },
    #[error("row column {column}: value {value} does not fit type {type_name}")]
    Mismatch {
        column: usize,
        value: String,
        type_name: String,
    },
    #[error("row column {column}: invalid stored value")]
    Invalid { column: usize },
    #[error("row is empty")]
    Empty,
}

/// Why a value cannot be stored in a column (strict mode).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// MySQL 1264.
    #[error("Out of range value")]
    OutOfRange,
    /// MySQL 1366 (numbers) / 1292 (dates): the text is not a value of the type.
    #[error("Incorrect {type_name} value: '{value}'")]
    Incorrect {
        type_name: &'static str,
        value: String,
    },
    /// MySQL 1406.
    #[error("Data too long")]
    TooLong,
}

impl ConvertError {
    pub fn code(&self) -> u16 {
        match self {
            ConvertError::OutOfRange => 1264,
            ConvertError::Incorrect { type_name, .. } if type_name.starts_with('d') => 1292,
            ConvertError::Incorrect { .. } => 1366,
            ConvertError::TooLong => 1406,
        }
    }
}

/// Converts `value` to what a column of `sql_type` stores, refusing what
/// MySQL's strict mode refuses. NULL passes (nullability is the caller's).
pub fn convert_for_column(value: Value, sql_type: &SqlType) -> Result<Value, ConvertError> {
    if value.is_null() {
        return Ok(value);
    }
    let mut warnings = Warnings::default();
    let incorrect = |type_name: &'static str, value: &Value| ConvertError::Incorrect {
        type_name,
        value: value.to_string(),
    };
    match sql_type {
        SqlType::Null => Ok(Value::Null),
        SqlType::Int { width, unsigned } => {
            let number = value
                .to_i128(&mut warnings)
                .ok_or_else(|| incorrect("integer", &value))?;
            if warnings.total_count() > 0 {
                return Err(incorrect("integer", &value));
            }
            let (low, high) = width.range_i128(*unsigned);
            if number < low || number > high {
                return Err(ConvertError::OutOfRange);
            }
            Ok(if *unsigned {
                Value::UInt(u64::try_from(number).map_err(|_| ConvertError::OutOfRange)?)
            } else {
                Value::Int(i64::try_from(number).map_err(|_| ConvertError::OutOfRange)?)
            })
        }
        SqlType::Decimal { precision, scale } => {
            let decimal = value
                .to_decimal(&mut warnings)
                .ok_or(ConvertError::OutOfRange)?;
            if warnings.total_count() > 0 {
                return Err(incorrect("decimal", &value));
            }
            let rounded = decimal
                .rescale(u32::from(*scale))
                .ok_or(ConvertError::OutOfRange)?;
            if rounded.integer_digits() > u32::from(*precision) - u32::from(*scale) {
                return Err(ConvertError::OutOfRange);
            }
            Ok(Value::Decimal(rounded))
        }
        SqlType::Float | SqlType::Double => {
            let number = value
                .to_f64(&mut warnings)
                .ok_or_else(|| incorrect("double", &value))?;
            if warnings.total_count() > 0 {
                return Err(incorrect("double", &value));
            }
            if !number.is_finite() || (*sql_type == SqlType::Float && (number as f32).is_infinite())
            {
                return Err(ConvertError::OutOfRange);
            }
            Ok(Value::Double(if *sql_type == SqlType::Float {
                f64::from(number as f32)
            } else {
                number
            }))
        }
        SqlType::Char { .. }
        | SqlType::VarChar { .. }
        | SqlType::Text { .. }
        | SqlType::Binary { .. }
        | SqlType::VarBinary { .. }
        | SqlType::Blob => {
            let collation = sql_type
                .collation()
                .unwrap_or(crate::Collation::Utf8mb4_0900AiCi);
            let mut bytes = value.to_text().unwrap_or_default();
            if !collation.is_binary() && std::str::from_utf8(&bytes).is_err() {
                return Err(incorrect("string", &value));
            }
            if let SqlType::Char { .. } = sql_type {
                // CHAR drops trailing spaces (PAD_CHAR_TO_FULL_LENGTH off).
                while bytes.last() == Some(&b' ') {
                    bytes.pop();
                }
            }
            let limit = match sql_type {
                SqlType::Char { length_chars, .. } | SqlType::VarChar { length_chars, .. } => {
                    usize::try_from(*length_chars).unwrap_or(usize::MAX)
                }
                SqlType::Binary { length_bytes } | SqlType::VarBinary { length_bytes } => {
                    usize::try_from(*length_bytes).unwrap_or(usize::MAX)
                }
                _ => 65_535,
            };
            let length = match sql_type {
                SqlType::Text { .. } | SqlType::Blob => bytes.len(),
                _ => collation.char_count(&bytes),
            };
            if length > limit {
                return Err(ConvertError::TooLong);
            }
            if let SqlType::Binary { length_bytes } = sql_type {
                // BINARY(n) pads with zero bytes to n.
                bytes.resize(usize::try_from(*length_bytes).unwrap_or(0), 0);
            }
            Ok(Value::Bytes(bytes, collation))
        }
        SqlType::Date
        | SqlType::DateTime { .. }
        | SqlType::Timestamp { .. }
        | SqlType::Time { .. } => {
            let (target, type_name) = match sql_type {
                SqlType::Date => (CastTarget::Date, "date"),
                SqlType::Time { fsp } => (CastTarget::Time { fsp: *fsp }, "datetime"),
                SqlType::DateTime { fsp } | SqlType::Timestamp { fsp } => {
                    (CastTarget::DateTime { fsp: *fsp }, "datetime")
                }
                _ => return Err(incorrect("datetime", &value)),
            };
            if value.class() != TypeClass::Temporal && value.class() != TypeClass::String {
                // Numbers as dates (20240101) go through the same cast.
            }
            let cast = Expr::Cast {
                operand: Box::new(Expr::Literal(value.clone())),
                target,
            };
            let mut context = EvalContext::new(DateTime::from_date(
                Date::new(2000, 1, 1).ok_or(ConvertError::OutOfRange)?,
            ));
            let converted = cast
                .eval(&[], &mut context)
                .map_err(|_| incorrect(type_name, &value))?;
            if converted.is_null() || context.warnings.total_count() > 0 {
                return Err(incorrect(type_name, &value));
            }
            Ok(converted)
        }
    }
}

fn null_bitmap_bytes(columns: usize) -> usize {
    columns.div_ceil(8)
}

/// Encodes `values` (already converted to their columns' types).
pub fn encode(values: &[Value], types: &[SqlType], out: &mut Vec<u8>) -> Result<(), RowError> {
    assert_eq!(values.len(), types.len(), "one value per column");
    out.push(ROW_VERSION);
    let bitmap_at = out.len();
    out.resize(bitmap_at + null_bitmap_bytes(types.len()), 0);
    for (column, (value, sql_type)) in values.iter().zip(types).enumerate() {
        let mismatch = || RowError::Mismatch {
            column,
            value: value.to_string(),
            type_name: sql_type.sql_name(),
        };
        match (sql_type, value) {
            (_, Value::Null) => out[bitmap_at + column / 8] |= 1 << (column % 8),
            (SqlType::Int { .. }, Value::Int(v)) => out.extend_from_slice(&v.to_le_bytes()),
            (SqlType::Int { .. }, Value::UInt(v)) => out.extend_from_slice(&v.to_le_bytes()),
            (SqlType::Float, Value::Double(v)) => {
                out.extend_from_slice(&(*v as f32).to_bits().to_le_bytes())
            }
            (SqlType::Double, Value::Double(v)) => {
                out.extend_from_slice(&v.to_bits().to_le_bytes())
            }
            (SqlType::Decimal { scale, .. }, Value::Decimal(d)) => {
                let scaled = d.rescale(u32::from(*scale)).ok_or_else(mismatch)?;
                out.extend_from_slice(&scaled.mantissa().to_le_bytes())
            }
            (
                SqlType::Char { .. }
                | SqlType::VarChar { .. }
                | SqlType::Text { .. }
                | SqlType::Binary { .. }
                | SqlType::VarBinary { .. }
                | SqlType::Blob,
                Value::Bytes(bytes, _),
            ) => {
                let length = u32::try_from(bytes.len()).map_err(|_| mismatch())?;
                out.extend_from_slice(&length.to_le_bytes());
                out.extend_from_slice(bytes);
            }
            (SqlType::Date, Value::Date(d)) => {
                let day = i32::try_from(d.day_number()).map_err(|_| mismatch())?;
                out.extend_from_slice(&day.to_le_bytes())
            }
            (SqlType::DateTime { .. } | SqlType::Timestamp { .. }, Value::DateTime(d)) => {
                out.extend_from_slice(&d.total_micros().to_le_bytes())
            }
            (SqlType::Time { .. }, Value::Time(t)) => {
                out.extend_from_slice(&t.micros().to_le_bytes())
            }
            _ => return Err(mismatch()),
        }
    }
    Ok(())
}

/// Decodes a row of a table whose columns have `types`.
pub fn decode(bytes: &[u8], types: &[SqlType]) -> Result<Vec<Value>, RowError> {
    let Some((&version, rest)) = bytes.split_first() else {
        return Err(RowError::Empty);
    };
    if version != ROW_VERSION {
        return Err(RowError::UnknownVersion { found: version });
    }
    let bitmap_bytes = null_bitmap_bytes(types.len());
    let Some((bitmap, mut rest)) = rest.split_at_checked(bitmap_bytes) else {
        return Err(RowError::Truncated {
            column: 0,
            offset_bytes: 1,
        });
    };
    let mut values = Vec::with_capacity(types.len());
    for (column, sql_type) in types.iter().enumerate() {
        if bitmap[column / 8] & (1 << (column % 8)) != 0 {
            values.push(Value::Null);
            continue;
        }
        let offset_bytes = bytes.len() - rest.len();
        let truncated = RowError::Truncated {
            column,
            offset_bytes,
        };
        let mut take = |n: usize| -> Result<&[u8], RowError> {
            let (head, tail) = rest.split_at_checked(n).ok_or(truncated.clone())?;
            rest = tail;
            Ok(head)
        };
        let fixed8 = |b: &[u8]| -> [u8; 8] { b.try_into().unwrap_or([0; 8]) };
        let invalid = RowError::Invalid { column };
        let value = match sql_type {
            SqlType::Int { unsigned: true, .. } => {
                Value::UInt(u64::from_le_bytes(fixed8(take(8)?)))
            }
            SqlType::Int { .. } => Value::Int(i64::from_le_bytes(fixed8(take(8)?))),
            SqlType::Float => {
                let b: [u8; 4] = take(4)?.try_into().unwrap_or([0; 4]);
                Value::Double(f64::from(f32::from_bits(u32::from_le_bytes(b))))
            }
            SqlType::Double => Value::Double(f64::from_bits(u64::from_le_bytes(fixed8(take(8)?)))),
            SqlType::Decimal { scale, .. } => {
                let b: [u8; 16] = take(16)?.try_into().unwrap_or([0; 16]);
                Value::Decimal(
                    Decimal::new(i128::from_le_bytes(b), u32::from(*scale)).ok_or(invalid)?,
                )
            }
            SqlType::Char { .. }
            | SqlType::VarChar { .. }
            | SqlType::Text { .. }
            | SqlType::Binary { .. }
            | SqlType::VarBinary { .. }
            | SqlType::Blob => {
                let b: [u8; 4] = take(4)?.try_into().unwrap_or([0; 4]);
                let length = usize::try_from(u32::from_le_bytes(b)).map_err(|_| invalid.clone())?;
                let text = take(length)?.to_vec();
                Value::Bytes(
                    text,
                    sql_type
                        .collation()
                        .unwrap_or(crate::Collation::Utf8mb4_0900AiCi),
                )
            }
            SqlType::Date => {
                let b: [u8; 4] = take(4)?.try_into().unwrap_or([0; 4]);
                Value::Date(Date::from_day_number(i64::from(i32::from_le_bytes(b))).ok_or(invalid)?)
            }
            SqlType::DateTime { fsp } | SqlType::Timestamp { fsp } => Value::DateTime(
                DateTime::from_total_micros(i64::from_le_bytes(fixed8(take(8)?)), *fsp)
                    .ok_or(invalid)?,
            ),
            SqlType::Time { fsp } => {
                Value::Time(Time::new(i64::from_le_bytes(fixed8(take(8)?)), *fsp).ok_or(invalid)?)
            }
            SqlType::Null => Value::Null,
        };
        values.push(value);
    }
    if !rest.is_empty() {
        return Err(RowError::TrailingBytes {
            extra_bytes: rest.len(),
        });
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collation::Collation;
    use crate::types::IntWidth;

    fn all_types() -> Vec<SqlType> {
        vec![
            SqlType::Int {
                width: IntWidth::Int,
                unsigned: false,
            },
            SqlType::BIGINT_UNSIGNED,
            SqlType::Float,
            SqlType::Double,
            SqlType::Decimal {
                precision: 10,
                scale: 2,
            },
            SqlType::varchar(20),
            SqlType::Blob,
            SqlType::Date,
            SqlType::DateTime { fsp: 6 },
            SqlType::Time { fsp: 0 },
        ]
    }

    fn converted(texts: &[&str], types: &[SqlType]) -> Vec<Value> {
        texts
            .iter()
            .zip(types)
            .map(|(text, t)| convert_for_column(Value::string(text), t).expect("converts"))
            .collect()
    }

    // Every type round-trips, NULLs included; the bytes start with the
    // version and the null bitmap (fixed bytes for a small row).
    #[test]
    fn rows_round_trip() {
        let types = all_types();
        let values = converted(
            &[
                "-7",
                "18446744073709551615",
                "1.5",
                "2.25",
                "12.345",
                "héllo",
                "bytes",
                "2024-02-29",
                "2024-02-29 10:11:12.123456",
                "-01:02:03",
            ],
            &types,
        );
        let mut bytes = Vec::new();
        encode(&values, &types, &mut bytes).expect("encodes");
        let back = decode(&bytes, &types).expect("decodes");
        let texts: Vec<String> = back.iter().map(Value::to_string).collect();
        assert_eq!(
            texts,
            [
                "-7",
                "18446744073709551615",
                "1.5",
                "2.25",
                "12.35",
                "héllo",
                "bytes",
                "2024-02-29",
                "2024-02-29 10:11:12.123456",
                "-01:02:03"
            ]
        );
        let mut nulls = values.clone();
        nulls[1] = Value::Null;
        nulls[9] = Value::Null;
        let mut bytes = Vec::new();
        encode(&nulls, &types, &mut bytes).expect("encodes");
        assert_eq!(&bytes[..3], &[ROW_VERSION, 0b0000_0010, 0b0000_0010]);
        assert!(decode(&bytes, &types).expect("decodes")[9].is_null());
        let small = [SqlType::BIGINT];
        let mut bytes = Vec::new();
        encode(&[Value::Int(1)], &small, &mut bytes).expect("encodes");
        assert_eq!(bytes, [1, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    }

    // Truncated, oversized and foreign-version rows are refused, not misread.
    #[test]
    fn corrupt_rows_are_refused() {
        let types = all_types();
        let values = converted(
            &[
                "1",
                "2",
                "3",
                "4",
                "5",
                "six",
                "7",
                "2000-01-01",
                "2000-01-01",
                "00:00:01",
            ],
            &types,
        );
        let mut bytes = Vec::new();
        encode(&values, &types, &mut bytes).expect("encodes");
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], &types).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            decode(&longer, &types),
            Err(RowError::TrailingBytes { extra_bytes: 1 })
        ));
        let mut other = bytes.clone();
        other[0] = 2;
        assert!(matches!(
            decode(&other, &types),
            Err(RowError::UnknownVersion { found: 2 })
        ));
    }

    // Strict mode: out of range, bad numbers, long strings and bad dates
    // are errors with MySQL's numbers.
    #[test]
    fn strict_conversions() {
        let tiny = SqlType::Int {
            width: IntWidth::Tiny,
            unsigned: false,
        };
        let code = |v: Value, t: &SqlType| convert_for_column(v, t).map_err(|e| e.code());
        assert_eq!(code(Value::Int(128), &tiny).err(), Some(1264));
        assert_eq!(code(Value::string("12x"), &tiny).err(), Some(1366));
        assert_eq!(
            code(Value::string("abc"), &SqlType::varchar(2)).err(),
            Some(1406)
        );
        assert_eq!(
            code(Value::string("2024-13-01"), &SqlType::Date).err(),
            Some(1292)
        );
        let decimal = SqlType::Decimal {
            precision: 4,
            scale: 2,
        };
        assert_eq!(code(Value::string("100"), &decimal).err(), Some(1264));
        assert!(code(Value::string("99.994"), &decimal).is_ok());
        let char3 = SqlType::Char {
            length_chars: 3,
            collation: Collation::Utf8mb4_0900AiCi,
        };
        let stored = convert_for_column(Value::string("ab "), &char3).expect("fits");
        assert_eq!(stored.to_string(), "ab");
    }
}
