//! Memcomparable index keys: a tuple of values encodes to bytes whose bytewise
//! order is the SQL order of the tuple (NULL first, each column under its own
//! collation), and no full-tuple encoding is a proper prefix of another.
//!
//! Format, per column, in order:
//! - NULL: `0x00`. Otherwise `0x01` then the payload:
//! - signed integer: 8 bytes big-endian, sign bit flipped;
//! - unsigned integer: 8 bytes big-endian;
//! - DECIMAL(p,s): the mantissa at scale s as i128, 16 bytes big-endian, sign flipped;
//! - DOUBLE/FLOAT: IEEE bits, big-endian, sign flipped for positives and all bits
//!   flipped for negatives; -0.0 is written as 0.0 (they are equal in SQL);
//! - binary strings: the bytes with 0x00 written as 0x00 0xFF, then 0x00 0x01;
//! - collated strings: each collation weight + 1 in 3 bytes big-endian, then
//!   0x00 0x00 0x00 (weights of 'a' and 'A' are equal, so are their keys);
//! - DATE: day number, 4 bytes big-endian;
//! - DATETIME/TIMESTAMP: microseconds since 0000-01-01, 8 bytes big-endian;
//! - TIME: signed microseconds, 8 bytes big-endian, sign flipped.
//!
//! Every payload has a fixed length or its own terminator, which is what makes
//! tuple encodings prefix-free. `decode_key` reads back every kind except
//! collated strings, whose original the row keeps.

use crate::collation::Collation;
use crate::decimal::Decimal;
use crate::error::{Error, Result};
use crate::temporal::{Date, DateTime, Time};
use crate::types::SqlType;
use crate::value::Value;

const NULL_TAG: u8 = 0x00;
const VALUE_TAG: u8 = 0x01;

/// How one key column is encoded; derived from the column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyColumn {
    Signed,
    Unsigned,
    Decimal { scale: u8 },
    Double,
    Bytes,
    Collated(Collation),
    Date,
    DateTime { fsp: u8 },
    Time { fsp: u8 },
}

impl KeyColumn {
    /// The key encoding for a column of `sql_type`; None for a NULL-typed column.
    pub fn for_type(sql_type: &SqlType) -> Option<KeyColumn> {
        Some(match sql_type {
            SqlType::Null => return None,
            SqlType::Int {
                unsigned: false, ..
            } => KeyColumn::Signed,
            SqlType::Int { unsigned: true, .. } => KeyColumn::Unsigned,
            SqlType::Decimal { scale, .. } => KeyColumn::Decimal { scale: *scale },
            SqlType::Float | SqlType::Double => KeyColumn::Double,
            SqlType::Binary { .. } | SqlType::VarBinary { .. } | SqlType::Blob => KeyColumn::Bytes,
            SqlType::Char { collation, .. }
            | SqlType::VarChar { collation, .. }
            | SqlType::Text { collation } => {
                if collation.is_binary() {
                    KeyColumn::Bytes
                } else {
                    KeyColumn::Collated(*collation)
                }
            }
            SqlType::Date => KeyColumn::Date,
            SqlType::DateTime { fsp } | SqlType::Timestamp { fsp } => {
                KeyColumn::DateTime { fsp: *fsp }
            }
            SqlType::Time { fsp } => KeyColumn::Time { fsp: *fsp },
        })
    }

    fn name(self) -> &'static str {
        match self {
            KeyColumn::Signed => "signed integer",
            KeyColumn::Unsigned => "unsigned integer",
            KeyColumn::Decimal { .. } => "DECIMAL",
            KeyColumn::Double => "DOUBLE",
            KeyColumn::Bytes => "binary string",
            KeyColumn::Collated(_) => "collated string",
            KeyColumn::Date => "DATE",
            KeyColumn::DateTime { .. } => "DATETIME",
            KeyColumn::Time { .. } => "TIME",
        }
    }
}

fn flip_i64(value: i64) -> [u8; 8] {
    (u64::from_ne_bytes(value.to_ne_bytes()) ^ (1 << 63)).to_be_bytes()
}

fn unflip_i64(bytes: [u8; 8]) -> i64 {
    i64::from_ne_bytes((u64::from_be_bytes(bytes) ^ (1 << 63)).to_ne_bytes())
}

/// Appends the encoding of `values` (one per column) to `out`.
pub fn encode_key(values: &[Value], columns: &[KeyColumn], out: &mut Vec<u8>) -> Result<()> {
    if values.len() != columns.len() {
        return Err(Error::KeyArity {
            values: values.len(),
            columns: columns.len(),
        });
    }
    for (position, (value, column)) in values.iter().zip(columns).enumerate() {
        encode_column(position, value, *column, out)?;
    }
    Ok(())
}

fn encode_column(
    position: usize,
    value: &Value,
    column: KeyColumn,
    out: &mut Vec<u8>,
) -> Result<()> {
    if value.is_null() {
        out.push(NULL_TAG);
        return Ok(());
    }
    let mismatch = || Error::KeyValueType {
        column: position,
        value: value.to_string(),
        expected: column.name(),
    };
    out.push(VALUE_TAG);
    match (column, value) {
        (KeyColumn::Signed, Value::Int(v)) => out.extend_from_slice(&flip_i64(*v)),
        (KeyColumn::Signed, Value::UInt(v)) => {
            out.extend_from_slice(&flip_i64(i64::try_from(*v).map_err(|_| mismatch())?))
        }
        (KeyColumn::Unsigned, Value::UInt(v)) => out.extend_from_slice(&v.to_be_bytes()),
        (KeyColumn::Unsigned, Value::Int(v)) => {
            out.extend_from_slice(&u64::try_from(*v).map_err(|_| mismatch())?.to_be_bytes())
        }
        (KeyColumn::Decimal { scale }, Value::Int(_) | Value::UInt(_) | Value::Decimal(_)) => {
            let decimal = match value {
                Value::Int(v) => Decimal::from_i64(*v),
                Value::UInt(v) => Decimal::from_u64(*v),
                Value::Decimal(d) => *d,
                _ => return Err(mismatch()),
            };
            // Only exact values: a key that rounded would find the wrong rows.
            let scaled = decimal
                .rescale(u32::from(scale))
                .filter(|s| *s == decimal)
                .ok_or_else(mismatch)?;
            let bits = u128::from_ne_bytes(scaled.mantissa().to_ne_bytes()) ^ (1 << 127);
            out.extend_from_slice(&bits.to_be_bytes());
        }
        (
            KeyColumn::Double,
            Value::Double(_) | Value::Int(_) | Value::UInt(_) | Value::Decimal(_),
        ) => {
            let mut ignored = crate::error::Warnings::default();
            let v = value
                .to_f64(&mut ignored)
                .filter(|v| !v.is_nan())
                .ok_or_else(mismatch)?;
            let v = if v == 0.0 { 0.0 } else { v };
            let bits = v.to_bits();
            let ordered = if bits >> 63 == 1 {
                !bits
            } else {
                bits | (1 << 63)
            };
            out.extend_from_slice(&ordered.to_be_bytes());
        }
        (KeyColumn::Bytes, Value::Bytes(bytes, _)) => {
            for &byte in bytes {
                out.push(byte);
                if byte == 0 {
                    out.push(0xFF);
                }
            }
            out.extend_from_slice(&[0x00, 0x01]);
        }
        (KeyColumn::Collated(collation), Value::Bytes(bytes, _)) => {
            collation.for_each_weight(bytes, |weight| {
                let [_, b1, b2, b3] = (weight + 1).to_be_bytes();
                out.extend_from_slice(&[b1, b2, b3]);
            });
            out.extend_from_slice(&[0, 0, 0]);
        }
        (KeyColumn::Date, Value::Date(d)) => out.extend_from_slice(
            &u32::try_from(d.day_number())
                .map_err(|_| mismatch())?
                .to_be_bytes(),
        ),
        (KeyColumn::DateTime { .. }, Value::DateTime(d)) => out.extend_from_slice(
            &u64::try_from(d.total_micros())
                .map_err(|_| mismatch())?
                .to_be_bytes(),
        ),
        (KeyColumn::DateTime { .. }, Value::Date(d)) => {
            let micros = DateTime::from_date(*d).total_micros();
            out.extend_from_slice(&u64::try_from(micros).map_err(|_| mismatch())?.to_be_bytes())
        }
        (KeyColumn::Time { .. }, Value::Time(t)) => out.extend_from_slice(&flip_i64(t.micros())),
        _ => return Err(mismatch()),
    }
    Ok(())
}

/// The end offset of each of `columns` in `bytes` (an encoding of at least
/// that many columns), without decoding; None when `bytes` is not such an
/// encoding. Used to cut key prefixes (statistics count distinct prefixes).
pub fn column_ends(bytes: &[u8], columns: &[KeyColumn]) -> Option<Vec<usize>> {
    let mut ends = Vec::with_capacity(columns.len());
    let mut offset = 0usize;
    for column in columns {
        let tag = *bytes.get(offset)?;
        offset += 1;
        if tag == VALUE_TAG {
            offset += match column {
                KeyColumn::Signed
                | KeyColumn::Unsigned
                | KeyColumn::Double
                | KeyColumn::DateTime { .. }
                | KeyColumn::Time { .. } => 8,
                KeyColumn::Decimal { .. } => 16,
                KeyColumn::Date => 4,
                KeyColumn::Bytes => {
                    // 0x00 0xFF is an escaped zero; 0x00 0x01 ends.
                    let mut at = offset;
                    loop {
                        match (bytes.get(at)?, bytes.get(at + 1)) {
                            (0, Some(0x01)) => break at + 2 - offset,
                            (0, _) => at += 2,
                            _ => at += 1,
                        }
                    }
                }
                KeyColumn::Collated(_) => {
                    // 3-byte weights (each + 1, so never 0), then 0 0 0.
                    let mut at = offset;
                    loop {
                        if bytes.get(at..at + 3)? == [0, 0, 0] {
                            break at + 3 - offset;
                        }
                        at += 3;
                    }
                }
            };
        } else if tag != NULL_TAG {
            return None;
        }
        if offset > bytes.len() {
            return None;
        }
        ends.push(offset);
    }
    Some(ends)
}

/// Reads a key written by `encode_key` back into values. Collated string columns
/// cannot be decoded (their weights lose case) and are refused.
pub fn decode_key(bytes: &[u8], columns: &[KeyColumn]) -> Result<Vec<Value>> {
    let mut values = Vec::with_capacity(columns.len());
    let mut offset = 0usize;
    for (position, column) in columns.iter().enumerate() {
        let fail = |offset_bytes: usize, reason: &'static str| Error::KeyDecode {
            column: position,
            offset_bytes,
            reason,
        };
        let take = |offset: usize, count: usize| -> Result<&[u8]> {
            bytes
                .get(offset..offset + count)
                .ok_or(fail(offset, "truncated"))
        };
        let tag = *bytes.get(offset).ok_or(fail(offset, "truncated"))?;
        offset += 1;
        if tag == NULL_TAG {
            values.push(Value::Null);
            continue;
        }
        if tag != VALUE_TAG {
            return Err(fail(offset - 1, "bad tag"));
        }
        let fixed8 = |offset: usize| -> Result<[u8; 8]> {
            take(offset, 8)?
                .try_into()
                .map_err(|_| fail(offset, "truncated"))
        };
        let value = match column {
            KeyColumn::Signed => {
                let v = unflip_i64(fixed8(offset)?);
                offset += 8;
                Value::Int(v)
            }
            KeyColumn::Unsigned => {
                let v = u64::from_be_bytes(fixed8(offset)?);
                offset += 8;
                Value::UInt(v)
            }
            KeyColumn::Decimal { scale } => {
                let raw: [u8; 16] = take(offset, 16)?
                    .try_into()
                    .map_err(|_| fail(offset, "truncated"))?;
                let mantissa =
                    i128::from_ne_bytes((u128::from_be_bytes(raw) ^ (1 << 127)).to_ne_bytes());
                let decimal = Decimal::new(mantissa, u32::from(*scale))
                    .ok_or(fail(offset, "decimal out of range"))?;
                offset += 16;
                Value::Decimal(decimal)
            }
            KeyColumn::Double => {
                let ordered = u64::from_be_bytes(fixed8(offset)?);
                let bits = if ordered >> 63 == 1 {
                    ordered & !(1 << 63)
                } else {
                    !ordered
                };
                offset += 8;
                Value::Double(f64::from_bits(bits))
            }
            KeyColumn::Bytes => {
                let mut decoded = Vec::new();
                loop {
                    let byte = *bytes
                        .get(offset)
                        .ok_or(fail(offset, "unterminated string"))?;
                    offset += 1;
                    if byte != 0 {
                        decoded.push(byte);
                        continue;
                    }
                    match bytes.get(offset) {
                        Some(0xFF) => decoded.push(0),
                        Some(0x01) => {
                            offset += 1;
                            break;
                        }
                        _ => return Err(fail(offset, "bad string escape")),
                    }
                    offset += 1;
                }
                Value::Bytes(decoded, Collation::Binary)
            }
            KeyColumn::Collated(_) => {
                return Err(fail(
                    offset,
                    "collated strings are not decodable; read the row",
                ))
            }
            KeyColumn::Date => {
                let raw: [u8; 4] = take(offset, 4)?
                    .try_into()
                    .map_err(|_| fail(offset, "truncated"))?;
                let date = Date::from_day_number(i64::from(u32::from_be_bytes(raw)))
                    .ok_or(fail(offset, "bad date"))?;
                offset += 4;
                Value::Date(date)
            }
            KeyColumn::DateTime { fsp } => {
                let micros = i64::try_from(u64::from_be_bytes(fixed8(offset)?))
                    .map_err(|_| fail(offset, "bad datetime"))?;
                let datetime = DateTime::from_total_micros(micros, *fsp)
                    .ok_or(fail(offset, "bad datetime"))?;
                offset += 8;
                Value::DateTime(datetime)
            }
            KeyColumn::Time { fsp } => {
                let time =
                    Time::new(unflip_i64(fixed8(offset)?), *fsp).ok_or(fail(offset, "bad time"))?;
                offset += 8;
                Value::Time(time)
            }
        };
        values.push(value);
    }
    if offset != bytes.len() {
        return Err(Error::KeyDecode {
            column: columns.len(),
            offset_bytes: offset,
            reason: "trailing bytes",
        });
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::sort_compare;
    use std::cmp::Ordering;

    /// splitmix64: a tiny seeded generator, so failures replay from the printed seed.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, bound: u64) -> u64 {
            self.next() % bound.max(1)
        }
    }

    fn seed() -> u64 {
        let seed = std::env::var("FLOE_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5EED_F10E);
        eprintln!("FLOE_SEED={seed}");
        seed
    }

    const COLUMNS: [KeyColumn; 9] = [
        KeyColumn::Signed,
        KeyColumn::Unsigned,
        KeyColumn::Decimal { scale: 3 },
        KeyColumn::Double,
        KeyColumn::Bytes,
        KeyColumn::Collated(Collation::Utf8mb4_0900AiCi),
        KeyColumn::Date,
        KeyColumn::DateTime { fsp: 6 },
        KeyColumn::Time { fsp: 6 },
    ];

    /// Random values biased to edges and collisions (small alphabets, extremes, signs).
    fn random_value(rng: &mut Rng, column: KeyColumn) -> Value {
        if rng.below(10) == 0 {
            return Value::Null;
        }
        let edge_i64 = [i64::MIN, -1, 0, 1, i64::MAX];
        match column {
            KeyColumn::Signed => match rng.below(3) {
                0 => Value::Int(edge_i64[rng.below(5) as usize % 5]),
                1 => Value::Int(rng.below(7) as i64 - 3),
                _ => Value::Int(rng.next() as i64),
            },
            KeyColumn::Unsigned => match rng.below(3) {
                0 => Value::UInt([0, 1, u64::MAX, 1 << 63][rng.below(4) as usize % 4]),
                1 => Value::UInt(rng.below(5)),
                _ => Value::UInt(rng.next()),
            },
            KeyColumn::Decimal { scale } => {
                let mantissa = match rng.below(3) {
                    0 => i128::from(rng.below(7) as i64 - 3),
                    1 => 10i128.pow(37) - 1 - i128::from(rng.below(3)),
                    _ => i128::from(rng.next() as i64) * i128::from(rng.below(1 << 20)),
                };
                let signed = if rng.below(2) == 0 {
                    mantissa
                } else {
                    -mantissa
                };
                Decimal::new(signed, u32::from(scale))
                    .map(Value::Decimal)
                    .unwrap_or(Value::Null)
            }
            KeyColumn::Double => match rng.below(4) {
                0 => Value::Double(
                    [0.0, -0.0, 1.0, -1.0, f64::MAX, f64::MIN, f64::MIN_POSITIVE]
                        [rng.below(7) as usize % 7],
                ),
                1 => Value::Double(rng.below(5) as f64 - 2.0),
                _ => {
                    let v = f64::from_bits(rng.next());
                    Value::Double(if v.is_finite() { v } else { 0.5 })
                }
            },
            KeyColumn::Bytes | KeyColumn::Collated(_) => {
                let alphabet: &[&str] = &[
                    "a",
                    "A",
                    "b",
                    " ",
                    "\0",
                    "\u{1}",
                    "é",
                    "É",
                    "z",
                    "\u{10FFFF}",
                ];
                let length = rng.below(5);
                let mut text = String::new();
                for _ in 0..length {
                    text.push_str(
                        alphabet[rng.below(alphabet.len() as u64) as usize % alphabet.len()],
                    );
                }
                let mut bytes = text.into_bytes();
                if rng.below(8) == 0 {
                    // Not UTF-8: a stray byte or the start of a truncated sequence.
                    bytes.push([0xFF, 0xE2, 0x82, 0xF0][rng.below(4) as usize % 4]);
                }
                let collation = if let KeyColumn::Collated(c) = column {
                    c
                } else {
                    Collation::Binary
                };
                Value::Bytes(bytes, collation)
            }
            KeyColumn::Date => Date::from_day_number(366 + rng.below(3_652_000) as i64)
                .map(Value::Date)
                .unwrap_or(Value::Null),
            KeyColumn::DateTime { fsp } => {
                let micros = (366 * crate::temporal::MICROS_PER_DAY)
                    + rng.below(3_652_000 * crate::temporal::MICROS_PER_DAY as u64) as i64;
                DateTime::from_total_micros(micros, fsp)
                    .map(Value::DateTime)
                    .unwrap_or(Value::Null)
            }
            KeyColumn::Time { fsp } => {
                let span = crate::temporal::TIME_MICROS_MAX as u64;
                let micros = rng.below(2 * span + 1) as i64 - span as i64;
                Time::new(micros, fsp)
                    .map(Value::Time)
                    .unwrap_or(Value::Null)
            }
        }
    }

    fn encode_one(value: &Value, column: KeyColumn) -> Vec<u8> {
        let mut out = Vec::new();
        encode_key(std::slice::from_ref(value), &[column], &mut out)
            .unwrap_or_else(|e| panic!("{value}: {e}"));
        out
    }

    // For random pairs in every column kind, byte order of keys equals SQL order of values.
    #[test]
    fn key_order_is_sql_order() {
        let seed = seed();
        let mut rng = Rng(seed);
        for round in 0..20_000 {
            let column = COLUMNS[round % COLUMNS.len()];
            let (a, b) = (
                random_value(&mut rng, column),
                random_value(&mut rng, column),
            );
            let (ka, kb) = (encode_one(&a, column), encode_one(&b, column));
            assert_eq!(
                ka.cmp(&kb),
                sort_compare(&a, &b),
                "seed={seed} round={round}: {a:?} vs {b:?}"
            );
        }
    }

    // column_ends finds where each column of a tuple key ends, for every kind.
    #[test]
    fn column_ends_cut_tuples_at_columns() {
        let seed = seed();
        let mut rng = Rng(seed ^ 0xE4D5);
        for round in 0..2_000 {
            let columns: Vec<KeyColumn> = (0..1 + round % 4)
                .map(|_| COLUMNS[rng.below(COLUMNS.len() as u64) as usize])
                .collect();
            let values: Vec<Value> = columns
                .iter()
                .map(|c| {
                    if rng.below(8) == 0 {
                        Value::Null
                    } else {
                        random_value(&mut rng, *c)
                    }
                })
                .collect();
            let mut whole = Vec::new();
            encode_key(&values, &columns, &mut whole).unwrap();
            let ends = column_ends(&whole, &columns).expect("a tuple key");
            for k in 0..columns.len() {
                let mut prefix = Vec::new();
                encode_key(&values[..=k], &columns[..=k], &mut prefix).unwrap();
                assert_eq!(
                    ends[k],
                    prefix.len(),
                    "seed={seed} round={round} column {k}"
                );
            }
            assert_eq!(column_ends(&whole[..whole.len() - 1], &columns), None);
        }
    }

    // No tuple key is a proper prefix of another, and tuples order lexicographically.
    #[test]
    fn tuple_keys_are_prefix_free_and_ordered() {
        let seed = seed();
        let mut rng = Rng(seed ^ 0xABCD);
        let columns = [
            KeyColumn::Collated(Collation::Utf8mb4_0900AiCi),
            KeyColumn::Bytes,
            KeyColumn::Signed,
        ];
        let tuples: Vec<Vec<Value>> = (0..400)
            .map(|_| columns.iter().map(|c| random_value(&mut rng, *c)).collect())
            .collect();
        let keys: Vec<Vec<u8>> = tuples
            .iter()
            .map(|t| {
                let mut out = Vec::new();
                encode_key(t, &columns, &mut out).unwrap_or_else(|e| panic!("seed={seed}: {e}"));
                out
            })
            .collect();
        for (i, (ka, ta)) in keys.iter().zip(&tuples).enumerate() {
            for (kb, tb) in keys.iter().zip(&tuples).skip(i + 1) {
                assert!(
                    ka == kb || !(kb.starts_with(ka) || ka.starts_with(kb)),
                    "seed={seed}: {ta:?} / {tb:?}"
                );
                let sql = ta
                    .iter()
                    .zip(tb)
                    .map(|(a, b)| sort_compare(a, b))
                    .find(|o| *o != Ordering::Equal);
                assert_eq!(
                    ka.cmp(kb),
                    sql.unwrap_or(Ordering::Equal),
                    "seed={seed}: {ta:?} vs {tb:?}"
                );
            }
        }
    }

    // Every decodable kind round-trips through encode and decode.
    #[test]
    fn decodable_kinds_round_trip() {
        let seed = seed();
        let mut rng = Rng(seed ^ 0x1234);
        let columns: Vec<KeyColumn> = COLUMNS
            .iter()
            .copied()
            .filter(|c| !matches!(c, KeyColumn::Collated(_)))
            .collect();
        for round in 0..2_000 {
            let tuple: Vec<Value> = columns.iter().map(|c| random_value(&mut rng, *c)).collect();
            let mut key = Vec::new();
            encode_key(&tuple, &columns, &mut key).unwrap_or_else(|e| panic!("seed={seed}: {e}"));
            let decoded = decode_key(&key, &columns)
                .unwrap_or_else(|e| panic!("seed={seed} round={round}: {e}"));
            for (original, back) in tuple.iter().zip(&decoded) {
                // -0.0 is stored as 0.0; everything else comes back equal and same-kind.
                assert_eq!(
                    sort_compare(original, back),
                    Ordering::Equal,
                    "seed={seed} round={round}"
                );
                assert_eq!(original.class(), back.class(), "seed={seed} round={round}");
            }
        }
    }

    // Truncated, corrupted or mistyped input is an error, never a panic.
    #[test]
    fn bad_input_is_refused() {
        let mut key = Vec::new();
        let columns = [KeyColumn::Signed, KeyColumn::Bytes];
        let tuple = [
            Value::Int(7),
            Value::Bytes(b"x\0y".to_vec(), Collation::Binary),
        ];
        encode_key(&tuple, &columns, &mut key).unwrap_or_else(|e| panic!("{e}"));
        for cut in 0..key.len() {
            assert!(
                decode_key(&key[..cut], &columns).is_err(),
                "prefix of {cut} bytes decoded"
            );
        }
        let mut corrupted = key.clone();
        corrupted[0] = 7;
        assert!(decode_key(&corrupted, &columns).is_err());
        assert!(decode_key(&key, &[KeyColumn::Collated(Collation::Utf8mb4_0900AiCi)]).is_err());
        assert!(encode_key(&[Value::Int(-1)], &[KeyColumn::Unsigned], &mut Vec::new()).is_err());
        assert!(encode_key(&[Value::string("1")], &[KeyColumn::Signed], &mut Vec::new()).is_err());
        assert!(encode_key(&[Value::Int(1)], &columns, &mut Vec::new()).is_err());
        let inexact = Decimal::new(12_345, 4)
            .map(Value::Decimal)
            .unwrap_or(Value::Null);
        assert!(encode_key(
            &[inexact],
            &[KeyColumn::Decimal { scale: 3 }],
            &mut Vec::new()
        )
        .is_err());
    }

    // Case-insensitive strings collide in the key; -0.0 and 0.0 too.
    #[test]
    fn equal_in_sql_means_equal_keys() {
        let ci = KeyColumn::Collated(Collation::Utf8mb4_0900AiCi);
        assert_eq!(
            encode_one(&Value::string("Hello"), ci),
            encode_one(&Value::string("hELLO"), ci)
        );
        assert_ne!(
            encode_one(&Value::string("a"), ci),
            encode_one(&Value::string("a "), ci)
        );
        assert_eq!(
            encode_one(&Value::Double(-0.0), KeyColumn::Double),
            encode_one(&Value::Double(0.0), KeyColumn::Double)
        );
    }
}
