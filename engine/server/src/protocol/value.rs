//! Values as they travel on the wire, and their two encodings.
//!
//! `Value` is protocol-level: the SQL engine converts its own values into it
//! for results, and gets it from decoded statement parameters. It borrows
//! strings, blobs and decimal text from the packet or the row it came from,
//! so neither direction allocates per value.
//!
//! Binary encoding (prepared statements: parameters and binary rows), by
//! column type:
//!
//! | type | bytes |
//! | --- | --- |
//! | TINY | int<1> |
//! | SHORT, YEAR | int<2> |
//! | LONG, INT24 | int<4> |
//! | LONGLONG | int<8> |
//! | FLOAT | IEEE 754 binary32, little-endian |
//! | DOUBLE | IEEE 754 binary64, little-endian |
//! | DECIMAL, NEWDECIMAL | string<lenenc>, the decimal as text |
//! | strings, blobs, ENUM, SET, BIT, JSON, GEOMETRY, VECTOR | string<lenenc> |
//! | DATE, DATETIME, TIMESTAMP | length int<1> in {0, 4, 7, 11}, then year int<2>, month, day, hour, minute, second int<1> each, microsecond int<4>, as far as the length reaches |
//! | TIME | length int<1> in {0, 8, 12}, then is_negative int<1>, days int<4>, hour, minute, second int<1> each, microsecond int<4>, as far as the length reaches |
//! | NULL | nothing (NULLs live in the NULL bitmap) |
//!
//! Integers carry no sign on the wire: the UNSIGNED column flag (or the
//! 0x80 flag byte of a parameter type) says how to read them.
//!
//! Text encoding (text resultset rows): every value is a string<lenenc> of
//! its text form; NULL is the single byte 0xfb. Calendar fields are not
//! range-checked here (month 13 passes through); that is the SQL engine's job.

use super::error::ProtocolError;
use super::flags::ColumnType;
use super::wire::{self, Reader};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DateTime {
    pub date: Date,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub microsecond: u32,
}

/// A TIME value: a signed duration of `days * 24 + hour` hours and so on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Time {
    pub negative: bool,
    pub days: u32,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub microsecond: u32,
}

/// One value on the wire.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null,
    Int(i64),
    UInt(u64),
    Float(f32),
    Double(f64),
    /// DECIMAL / NEWDECIMAL, as its text (`-12.50`): exact, never a float.
    Decimal(&'a [u8]),
    /// Strings and blobs, in the column's (or connection's) character set.
    Bytes(&'a [u8]),
    Date(Date),
    DateTime(DateTime),
    Time(Time),
}

impl Value<'_> {
    /// The variant's name, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Int(_) => "Int",
            Value::UInt(_) => "UInt",
            Value::Float(_) => "Float",
            Value::Double(_) => "Double",
            Value::Decimal(_) => "Decimal",
            Value::Bytes(_) => "Bytes",
            Value::Date(_) => "Date",
            Value::DateTime(_) => "DateTime",
            Value::Time(_) => "Time",
        }
    }
}

const DATETIME_LENGTHS: &[u8] = &[0, 4, 7, 11];
const TIME_LENGTHS: &[u8] = &[0, 8, 12];

/// Read one binary-encoded value of `column_type` (a non-NULL parameter).
/// `unsigned` is the parameter's 0x80 flag. `what` and `index` name the
/// parameter in errors.
pub fn read_binary_value<'a>(
    reader: &mut Reader<'a>,
    column_type: ColumnType,
    unsigned: bool,
    what: &'static str,
    index: usize,
) -> Result<Value<'a>, ProtocolError> {
    use ColumnType as T;
    const FIELD: &str = "parameter value";
    let integer = |bits: u64, width: u32| -> Value<'a> {
        if unsigned {
            Value::UInt(bits)
        } else {
            // Sign-extend from `width` bits.
            let shift = 64 - width;
            Value::Int(((bits << shift) as i64) >> shift)
        }
    };
    Ok(match column_type {
        T::Null => Value::Null,
        T::Tiny => integer(u64::from(reader.u8(FIELD)?), 8),
        T::Short | T::Year => integer(u64::from(reader.u16(FIELD)?), 16),
        T::Long | T::Int24 => integer(u64::from(reader.u32(FIELD)?), 32),
        T::LongLong => integer(reader.u64(FIELD)?, 64),
        T::Float => Value::Float(f32::from_le_bytes(reader.array(FIELD)?)),
        T::Double => Value::Double(f64::from_le_bytes(reader.array(FIELD)?)),
        T::Decimal | T::NewDecimal => Value::Decimal(reader.lenenc_bytes(FIELD)?),
        T::VarChar
        | T::VarString
        | T::String
        | T::Enum
        | T::Set
        | T::TinyBlob
        | T::MediumBlob
        | T::LongBlob
        | T::Blob
        | T::Bit
        | T::Json
        | T::Geometry
        | T::Vector => Value::Bytes(reader.lenenc_bytes(FIELD)?),
        T::Date | T::DateTime | T::Timestamp => {
            let date_time = read_binary_datetime(reader)?;
            let has_time = date_time.hour != 0
                || date_time.minute != 0
                || date_time.second != 0
                || date_time.microsecond != 0;
            if column_type == T::Date && !has_time {
                Value::Date(date_time.date)
            } else {
                Value::DateTime(date_time)
            }
        }
        T::Time => Value::Time(read_binary_time(reader)?),
        T::NewDate
        | T::Timestamp2
        | T::DateTime2
        | T::Time2
        | T::TypedArray
        | T::Invalid
        | T::Bool => {
            return Err(ProtocolError::UnknownParameterType {
                what,
                index,
                type_code: column_type.code(),
            })
        }
    })
}

fn read_binary_datetime(reader: &mut Reader<'_>) -> Result<DateTime, ProtocolError> {
    const FIELD: &str = "binary DATETIME";
    let length_bytes = reader.u8(FIELD)?;
    if !DATETIME_LENGTHS.contains(&length_bytes) {
        return Err(ProtocolError::BadTemporalLength {
            field: FIELD,
            length_bytes,
            expected: DATETIME_LENGTHS,
        });
    }
    let mut value = DateTime::default();
    if length_bytes >= 4 {
        value.date = Date {
            year: reader.u16(FIELD)?,
            month: reader.u8(FIELD)?,
            day: reader.u8(FIELD)?,
        };
    }
    if length_bytes >= 7 {
        value.hour = reader.u8(FIELD)?;
        value.minute = reader.u8(FIELD)?;
        value.second = reader.u8(FIELD)?;
    }
    if length_bytes == 11 {
        value.microsecond = reader.u32(FIELD)?;
    }
    Ok(value)
}

fn read_binary_time(reader: &mut Reader<'_>) -> Result<Time, ProtocolError> {
    const FIELD: &str = "binary TIME";
    let length_bytes = reader.u8(FIELD)?;
    if !TIME_LENGTHS.contains(&length_bytes) {
        return Err(ProtocolError::BadTemporalLength {
            field: FIELD,
            length_bytes,
            expected: TIME_LENGTHS,
        });
    }
    let mut value = Time::default();
    if length_bytes >= 8 {
        value.negative = reader.u8(FIELD)? != 0;
        value.days = reader.u32(FIELD)?;
        value.hour = reader.u8(FIELD)?;
        value.minute = reader.u8(FIELD)?;
        value.second = reader.u8(FIELD)?;
    }
    if length_bytes == 12 {
        value.microsecond = reader.u32(FIELD)?;
    }
    Ok(value)
}

/// Append the binary encoding of a non-NULL `value` for a column of
/// `column_type`. A value that does not fit the column's wire width is
/// refused rather than truncated; `index` names the column in the error.
pub fn write_binary_value(
    out: &mut Vec<u8>,
    column_type: ColumnType,
    value: &Value<'_>,
    index: usize,
) -> Result<(), ProtocolError> {
    use ColumnType as T;
    let mismatch = || ProtocolError::ValueDoesNotFitColumn {
        index,
        value_kind: value.kind(),
        column_type,
    };
    // Integers: the bit pattern must fit the width as signed or unsigned.
    let integer_bits = |bits: u32| -> Result<u64, ProtocolError> {
        let fits = match *value {
            Value::Int(v) => {
                let min = -(1i128 << (bits - 1));
                let max = (1i128 << bits) - 1;
                (min..=max).contains(&i128::from(v))
            }
            Value::UInt(v) => bits == 64 || v < (1u64 << bits),
            _ => false,
        };
        match *value {
            Value::Int(v) if fits => Ok(v as u64),
            Value::UInt(v) if fits => Ok(v),
            _ => Err(mismatch()),
        }
    };
    match column_type {
        T::Tiny => wire::put_u8(out, integer_bits(8)? as u8),
        T::Short | T::Year => wire::put_u16(out, integer_bits(16)? as u16),
        T::Long | T::Int24 => wire::put_u32(out, integer_bits(32)? as u32),
        T::LongLong => wire::put_u64(out, integer_bits(64)?),
        T::Float => match *value {
            Value::Float(v) => out.extend_from_slice(&v.to_le_bytes()),
            _ => return Err(mismatch()),
        },
        T::Double => match *value {
            Value::Double(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::Float(v) => out.extend_from_slice(&f64::from(v).to_le_bytes()),
            _ => return Err(mismatch()),
        },
        T::Decimal
        | T::NewDecimal
        | T::VarChar
        | T::VarString
        | T::String
        | T::Enum
        | T::Set
        | T::TinyBlob
        | T::MediumBlob
        | T::LongBlob
        | T::Blob
        | T::Bit
        | T::Json
        | T::Geometry
        | T::Vector => match *value {
            Value::Decimal(bytes) | Value::Bytes(bytes) => wire::put_lenenc_bytes(out, bytes),
            _ => return Err(mismatch()),
        },
        T::Date | T::DateTime | T::Timestamp => match *value {
            Value::Date(date) => write_binary_datetime(
                out,
                &DateTime {
                    date,
                    ..DateTime::default()
                },
            ),
            Value::DateTime(date_time) if column_type != T::Date => {
                write_binary_datetime(out, &date_time)
            }
            _ => return Err(mismatch()),
        },
        T::Time => match *value {
            Value::Time(time) => write_binary_time(out, &time),
            _ => return Err(mismatch()),
        },
        T::Null
        | T::NewDate
        | T::Timestamp2
        | T::DateTime2
        | T::Time2
        | T::TypedArray
        | T::Invalid
        | T::Bool => return Err(mismatch()),
    }
    Ok(())
}

/// Shortest form: 11 bytes with microseconds, 7 with a time, 4 with a
/// date, 0 for the zero value, as MySQL sends it.
fn write_binary_datetime(out: &mut Vec<u8>, value: &DateTime) {
    let length_bytes = if value.microsecond != 0 {
        11
    } else if value.hour != 0 || value.minute != 0 || value.second != 0 {
        7
    } else if value.date != Date::default() {
        4
    } else {
        0
    };
    out.push(length_bytes);
    if length_bytes >= 4 {
        wire::put_u16(out, value.date.year);
        out.extend_from_slice(&[value.date.month, value.date.day]);
    }
    if length_bytes >= 7 {
        out.extend_from_slice(&[value.hour, value.minute, value.second]);
    }
    if length_bytes == 11 {
        wire::put_u32(out, value.microsecond);
    }
}

fn write_binary_time(out: &mut Vec<u8>, value: &Time) {
    let length_bytes = if value.microsecond != 0 {
        12
    } else if value.days != 0 || value.hour != 0 || value.minute != 0 || value.second != 0 {
        8
    } else {
        0
    };
    out.push(length_bytes);
    if length_bytes >= 8 {
        out.push(u8::from(value.negative));
        wire::put_u32(out, value.days);
        out.extend_from_slice(&[value.hour, value.minute, value.second]);
    }
    if length_bytes == 12 {
        wire::put_u32(out, value.microsecond);
    }
}

/// Append the text-protocol encoding of `value`: string<lenenc> of its text
/// form, or 0xfb for NULL. Numbers and temporal values are formatted in
/// place without allocating. Floats use the shortest text that reads back
/// to the same value, in exponent form below 1e-4 and from 1e15 (`1e20`),
/// close to MySQL's output; an engine that needs MySQL's exact float text
/// can send `Bytes` instead.
pub fn write_text_value(out: &mut Vec<u8>, value: &Value<'_>) {
    use std::io::Write;
    let (bytes, formatted): (&[u8], _) = match value {
        Value::Null => {
            wire::put_lenenc_null(out);
            return;
        }
        Value::Decimal(bytes) | Value::Bytes(bytes) => (bytes, false),
        _ => (&[], true),
    };
    if !formatted {
        wire::put_lenenc_bytes(out, bytes);
        return;
    }
    // Every formatted value is shorter than 251 bytes, so its length prefix
    // is one byte: reserve it, write the text, then patch it.
    let prefix_offset = out.len();
    out.push(0);
    // Writing to a Vec cannot fail.
    let _ = match *value {
        Value::Int(v) => write!(out, "{v}"),
        Value::UInt(v) => write!(out, "{v}"),
        // Each type's own shortest form: 0.1f32 prints "0.1", not f64's
        // 0.10000000149011612.
        Value::Float(v) => write_float(out, v, v.abs() >= 1e15 || (v != 0.0 && v.abs() < 1e-4)),
        Value::Double(v) => write_float(out, v, v.abs() >= 1e15 || (v != 0.0 && v.abs() < 1e-4)),
        Value::Date(d) => write!(out, "{:04}-{:02}-{:02}", d.year, d.month, d.day),
        Value::DateTime(dt) => {
            let d = dt.date;
            let _ = write!(
                out,
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                d.year, d.month, d.day, dt.hour, dt.minute, dt.second
            );
            write_microseconds(out, dt.microsecond)
        }
        Value::Time(t) => {
            let hours = u64::from(t.days) * 24 + u64::from(t.hour);
            let sign = if t.negative { "-" } else { "" };
            let _ = write!(out, "{sign}{hours:02}:{:02}:{:02}", t.minute, t.second);
            write_microseconds(out, t.microsecond)
        }
        Value::Null | Value::Decimal(_) | Value::Bytes(_) => Ok(()),
    };
    let text_bytes = out.len() - prefix_offset - 1;
    assert!(text_bytes < 251, "formatted value of {text_bytes} bytes");
    out[prefix_offset] = text_bytes as u8;
}

fn write_float<F: std::fmt::Display + std::fmt::LowerExp>(
    out: &mut Vec<u8>,
    v: F,
    exponent: bool,
) -> std::io::Result<()> {
    use std::io::Write;
    if exponent {
        write!(out, "{v:e}")
    } else {
        write!(out, "{v}")
    }
}

fn write_microseconds(out: &mut Vec<u8>, microsecond: u32) -> std::io::Result<()> {
    use std::io::Write;
    if microsecond == 0 {
        Ok(())
    } else {
        write!(out, ".{microsecond:06}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binary(column_type: ColumnType, value: Value<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        write_binary_value(&mut out, column_type, &value, 0).expect("value fits its column");
        out
    }

    fn read(bytes: &[u8], column_type: ColumnType, unsigned: bool) -> Value<'_> {
        let mut reader = Reader::new(bytes);
        let value = read_binary_value(&mut reader, column_type, unsigned, "test", 0)
            .expect("valid binary value");
        assert!(reader.is_empty(), "{column_type:?} left bytes");
        value
    }

    // Binary integers of every width against fixed bytes, both ways, signed
    // and unsigned.
    #[test]
    fn binary_integers_fixed_bytes() {
        use ColumnType as T;
        let cases: [(T, &[u8], Value<'static>, Value<'static>); 5] = [
            (T::Tiny, &[0xfe], Value::Int(-2), Value::UInt(254)),
            (T::Short, &[0xfe, 0xff], Value::Int(-2), Value::UInt(65534)),
            (T::Year, &[0xe9, 0x07], Value::Int(2025), Value::UInt(2025)),
            (
                T::Long,
                &[0xfe, 0xff, 0xff, 0xff],
                Value::Int(-2),
                Value::UInt(0xffff_fffe),
            ),
            (
                T::LongLong,
                &[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                Value::Int(-2),
                Value::UInt(u64::MAX - 1),
            ),
        ];
        for (column_type, bytes, signed, unsigned) in cases {
            assert_eq!(read(bytes, column_type, false), signed, "{column_type:?}");
            assert_eq!(read(bytes, column_type, true), unsigned, "{column_type:?}");
            assert_eq!(binary(column_type, signed), bytes, "{column_type:?}");
            assert_eq!(binary(column_type, unsigned), bytes, "{column_type:?}");
        }
        assert_eq!(
            read(&[0x01, 0x00, 0x00, 0x00], T::Int24, false),
            Value::Int(1)
        );
    }

    // An integer that does not fit the column's width, or a value of the
    // wrong kind, is refused rather than truncated.
    #[test]
    fn binary_value_mismatch_refused() {
        let mut out = Vec::new();
        for (column_type, value) in [
            (ColumnType::Tiny, Value::Int(256)),
            (ColumnType::Tiny, Value::Int(-129)),
            (ColumnType::Short, Value::UInt(65536)),
            (ColumnType::Long, Value::Bytes(b"1")),
            (ColumnType::Float, Value::Double(1.0)),
            (ColumnType::Date, Value::DateTime(DateTime::default())),
            (ColumnType::VarString, Value::Int(1)),
            (ColumnType::Null, Value::Int(1)),
        ] {
            assert!(
                matches!(
                    write_binary_value(&mut out, column_type, &value, 3),
                    Err(ProtocolError::ValueDoesNotFitColumn { index: 3, .. })
                ),
                "{column_type:?} {value:?}"
            );
        }
        assert!(out.is_empty());
    }

    // Floats, decimals and strings in binary form against fixed bytes.
    #[test]
    fn binary_float_decimal_string_fixed_bytes() {
        let double = [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x3f]; // 1.5
        assert_eq!(read(&double, ColumnType::Double, false), Value::Double(1.5));
        assert_eq!(binary(ColumnType::Double, Value::Double(1.5)), double);
        let float = [0x00, 0x00, 0xc0, 0x3f]; // 1.5f
        assert_eq!(read(&float, ColumnType::Float, false), Value::Float(1.5));
        assert_eq!(binary(ColumnType::Float, Value::Float(1.5)), float);
        let decimal = [0x05, b'-', b'1', b'.', b'5', b'0'];
        assert_eq!(
            read(&decimal, ColumnType::NewDecimal, false),
            Value::Decimal(b"-1.50")
        );
        assert_eq!(
            binary(ColumnType::NewDecimal, Value::Decimal(b"-1.50")),
            decimal
        );
        let foo = [0x03, b'f', b'o', b'o'];
        assert_eq!(
            read(&foo, ColumnType::VarString, false),
            Value::Bytes(b"foo")
        );
        assert_eq!(read(&foo, ColumnType::Blob, false), Value::Bytes(b"foo"));
        assert_eq!(binary(ColumnType::String, Value::Bytes(b"foo")), foo);
    }

    // DATETIME and TIME in each of their lengths, from the documentation's
    // examples, both ways.
    #[test]
    fn binary_temporal_fixed_bytes() {
        let full = DateTime {
            date: Date {
                year: 2010,
                month: 10,
                day: 17,
            },
            hour: 19,
            minute: 27,
            second: 30,
            microsecond: 1,
        };
        let dt11 = [
            0x0b, 0xda, 0x07, 0x0a, 0x11, 0x13, 0x1b, 0x1e, 0x01, 0x00, 0x00, 0x00,
        ];
        let dt7 = [0x07, 0xda, 0x07, 0x0a, 0x11, 0x13, 0x1b, 0x1e];
        let dt4 = [0x04, 0xda, 0x07, 0x0a, 0x11];
        assert_eq!(
            read(&dt11, ColumnType::DateTime, false),
            Value::DateTime(full)
        );
        assert_eq!(binary(ColumnType::DateTime, Value::DateTime(full)), dt11);
        let no_micro = DateTime {
            microsecond: 0,
            ..full
        };
        assert_eq!(
            read(&dt7, ColumnType::Timestamp, false),
            Value::DateTime(no_micro)
        );
        assert_eq!(
            binary(ColumnType::Timestamp, Value::DateTime(no_micro)),
            dt7
        );
        assert_eq!(read(&dt4, ColumnType::Date, false), Value::Date(full.date));
        assert_eq!(binary(ColumnType::Date, Value::Date(full.date)), dt4);
        assert_eq!(
            read(&[0x00], ColumnType::Date, false),
            Value::Date(Date::default())
        );
        assert_eq!(
            binary(ColumnType::DateTime, Value::DateTime(DateTime::default())),
            [0x00]
        );

        let time = Time {
            negative: true,
            days: 120,
            hour: 19,
            minute: 27,
            second: 30,
            microsecond: 1,
        };
        let t12 = [
            0x0c, 0x01, 0x78, 0x00, 0x00, 0x00, 0x13, 0x1b, 0x1e, 0x01, 0x00, 0x00, 0x00,
        ];
        let t8 = [0x08, 0x01, 0x78, 0x00, 0x00, 0x00, 0x13, 0x1b, 0x1e];
        assert_eq!(read(&t12, ColumnType::Time, false), Value::Time(time));
        assert_eq!(binary(ColumnType::Time, Value::Time(time)), t12);
        let whole = Time {
            microsecond: 0,
            ..time
        };
        assert_eq!(read(&t8, ColumnType::Time, false), Value::Time(whole));
        assert_eq!(binary(ColumnType::Time, Value::Time(whole)), t8);
        assert_eq!(
            binary(ColumnType::Time, Value::Time(Time::default())),
            [0x00]
        );
    }

    // Temporal lengths outside the defined set, truncated values and
    // server-internal type codes are typed errors.
    #[test]
    fn binary_malformed_values() {
        let mut reader = Reader::new(&[0x05, 0, 0, 0, 0, 0]);
        assert!(matches!(
            read_binary_value(&mut reader, ColumnType::DateTime, false, "p", 0),
            Err(ProtocolError::BadTemporalLength {
                length_bytes: 5,
                ..
            })
        ));
        let mut reader = Reader::new(&[0x0b, 0xda, 0x07]);
        assert!(matches!(
            read_binary_value(&mut reader, ColumnType::DateTime, false, "p", 0),
            Err(ProtocolError::Truncated { .. })
        ));
        let mut reader = Reader::new(&[0x09]);
        assert!(matches!(
            read_binary_value(&mut reader, ColumnType::Time, false, "p", 0),
            Err(ProtocolError::BadTemporalLength {
                length_bytes: 9,
                ..
            })
        ));
        let mut reader = Reader::new(&[0x01]);
        assert_eq!(
            read_binary_value(&mut reader, ColumnType::Time2, false, "p", 4),
            Err(ProtocolError::UnknownParameterType {
                what: "p",
                index: 4,
                type_code: 0x13
            })
        );
        let mut reader = Reader::new(&[0x01, 0x02]);
        assert!(matches!(
            read_binary_value(&mut reader, ColumnType::Long, false, "p", 0),
            Err(ProtocolError::Truncated { .. })
        ));
    }

    // Text encodings: numbers, floats, temporal values and NULL, against
    // fixed bytes.
    #[test]
    fn text_values_fixed_bytes() {
        let cases: [(Value<'static>, &[u8]); 14] = [
            (Value::Null, b"\xfb"),
            (Value::Int(-42), b"\x03-42"),
            (Value::UInt(u64::MAX), b"\x1418446744073709551615"),
            (Value::Double(1.0), b"\x011"),
            (Value::Double(0.1), b"\x030.1"),
            (Value::Double(1e20), b"\x041e20"),
            (Value::Double(-1.5e-7), b"\x07-1.5e-7"),
            (Value::Float(0.5), b"\x030.5"),
            (Value::Float(0.1), b"\x030.1"),
            (Value::Decimal(b"12.50"), b"\x0512.50"),
            (
                Value::Date(Date {
                    year: 2010,
                    month: 1,
                    day: 2,
                }),
                b"\x0a2010-01-02",
            ),
            (
                Value::DateTime(DateTime {
                    date: Date {
                        year: 2010,
                        month: 1,
                        day: 2,
                    },
                    hour: 3,
                    minute: 4,
                    second: 5,
                    microsecond: 60,
                }),
                b"\x1a2010-01-02 03:04:05.000060",
            ),
            (
                Value::Time(Time {
                    negative: true,
                    days: 1,
                    hour: 2,
                    minute: 3,
                    second: 4,
                    microsecond: 0,
                }),
                b"\x09-26:03:04",
            ),
            (Value::Bytes(b""), b"\x00"),
        ];
        for (value, bytes) in cases {
            let mut out = Vec::new();
            write_text_value(&mut out, &value);
            assert_eq!(out, bytes, "{value:?}");
        }
    }
}
