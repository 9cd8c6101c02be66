//! SQL column types and what the MySQL protocol says about them: the type
//! code, display length, decimals and flags of a column definition.

use crate::collation::Collation;
use crate::decimal::{DECIMAL_PRECISION_MAX, DECIMAL_SCALE_MAX};
use crate::error::{Error, Result};

/// MySQL's protocol column type codes (`enum_field_types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ColumnTypeCode {
    Tiny = 1,
    Short = 2,
    Long = 3,
    Float = 4,
    Double = 5,
    Null = 6,
    Timestamp = 7,
    LongLong = 8,
    Int24 = 9,
    Date = 10,
    Time = 11,
    DateTime = 12,
    NewDecimal = 246,
    Blob = 252,
    VarString = 253,
    String = 254,
}

/// Column definition flags (the protocol's `*_FLAG` bits).
pub mod flags {
    pub const NOT_NULL: u16 = 1;
    pub const PRIMARY_KEY: u16 = 2;
    pub const UNIQUE_KEY: u16 = 4;
    pub const MULTIPLE_KEY: u16 = 8;
    pub const BLOB: u16 = 16;
    pub const UNSIGNED: u16 = 32;
    pub const ZEROFILL: u16 = 64;
    pub const BINARY: u16 = 128;
    pub const AUTO_INCREMENT: u16 = 512;
    pub const TIMESTAMP: u16 = 1024;
    pub const NUM: u16 = 32768;
}

/// "Decimals" sent for a DOUBLE/FLOAT whose scale is not fixed (NOT_FIXED_DEC).
pub const DECIMALS_NOT_FIXED: u8 = 31;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntWidth {
    Tiny,
    Small,
    Medium,
    Int,
    Big,
}

impl IntWidth {
    pub fn bytes(self) -> u32 {
        match self {
            IntWidth::Tiny => 1,
            IntWidth::Small => 2,
            IntWidth::Medium => 3,
            IntWidth::Int => 4,
            IntWidth::Big => 8,
        }
    }

    /// The range a column of this width stores.
    pub fn range_i128(self, unsigned: bool) -> (i128, i128) {
        let bits = self.bytes() * 8;
        if unsigned {
            (0, (1i128 << bits) - 1)
        } else {
            (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        }
    }
}

/// A SQL type: of a column, or of an expression's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    /// The type of a bare NULL literal.
    Null,
    Int {
        width: IntWidth,
        unsigned: bool,
    },
    Decimal {
        precision: u8,
        scale: u8,
    },
    Float,
    Double,
    Char {
        length_chars: u32,
        collation: Collation,
    },
    VarChar {
        length_chars: u32,
        collation: Collation,
    },
    Text {
        collation: Collation,
    },
    Binary {
        length_bytes: u32,
    },
    VarBinary {
        length_bytes: u32,
    },
    Blob,
    Date,
    DateTime {
        fsp: u8,
    },
    Timestamp {
        fsp: u8,
    },
    Time {
        fsp: u8,
    },
}

/// Broad families that decide comparison and arithmetic rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeClass {
    Null,
    Int,
    Decimal,
    Double,
    String,
    Temporal,
}

impl SqlType {
    pub const BIGINT: SqlType = SqlType::Int {
        width: IntWidth::Big,
        unsigned: false,
    };
    pub const BIGINT_UNSIGNED: SqlType = SqlType::Int {
        width: IntWidth::Big,
        unsigned: true,
    };

    /// DECIMAL(p,s) checked against what Floe supports.
    pub fn decimal(precision: u32, scale: u32) -> Result<SqlType> {
        if precision > DECIMAL_PRECISION_MAX || scale > DECIMAL_SCALE_MAX {
            return Err(Error::DecimalTooBig {
                precision,
                scale,
                max_precision: DECIMAL_PRECISION_MAX,
                max_scale: DECIMAL_SCALE_MAX,
            });
        }
        if scale > precision {
            return Err(Error::DecimalScaleAbovePrecision {
                context: format!("DECIMAL({precision},{scale})"),
            });
        }
        Ok(SqlType::Decimal {
            precision: u8::try_from(precision.max(1)).unwrap_or(u8::MAX),
            scale: u8::try_from(scale).unwrap_or(u8::MAX),
        })
    }

    /// A decimal type clamped into the supported range (for derived result types).
    pub(crate) fn decimal_clamped(precision: u32, scale: u32) -> SqlType {
        let scale = scale.min(DECIMAL_SCALE_MAX);
        let precision = precision.clamp(scale.max(1), DECIMAL_PRECISION_MAX);
        SqlType::Decimal {
            precision: u8::try_from(precision).unwrap_or(u8::MAX),
            scale: u8::try_from(scale).unwrap_or(u8::MAX),
        }
    }

    pub fn varchar(length_chars: u32) -> SqlType {
        SqlType::VarChar {
            length_chars,
            collation: Collation::Utf8mb4_0900AiCi,
        }
    }

    pub fn class(&self) -> TypeClass {
        match self {
            SqlType::Null => TypeClass::Null,
            SqlType::Int { .. } => TypeClass::Int,
            SqlType::Decimal { .. } => TypeClass::Decimal,
            SqlType::Float | SqlType::Double => TypeClass::Double,
            SqlType::Char { .. }
            | SqlType::VarChar { .. }
            | SqlType::Text { .. }
            | SqlType::Binary { .. }
            | SqlType::VarBinary { .. }
            | SqlType::Blob => TypeClass::String,
            SqlType::Date
            | SqlType::DateTime { .. }
            | SqlType::Timestamp { .. }
            | SqlType::Time { .. } => TypeClass::Temporal,
        }
    }

    pub fn is_unsigned(&self) -> bool {
        matches!(self, SqlType::Int { unsigned: true, .. })
    }

    /// Collation of a string type; None for non-strings.
    pub fn collation(&self) -> Option<Collation> {
        match self {
            SqlType::Char { collation, .. }
            | SqlType::VarChar { collation, .. }
            | SqlType::Text { collation } => Some(*collation),
            SqlType::Binary { .. } | SqlType::VarBinary { .. } | SqlType::Blob => {
                Some(Collation::Binary)
            }
            _ => None,
        }
    }

    /// Digits after the point for DECIMAL, fsp for temporal types, 0 otherwise.
    pub fn scale(&self) -> u32 {
        match self {
            SqlType::Decimal { scale, .. } => u32::from(*scale),
            SqlType::DateTime { fsp } | SqlType::Timestamp { fsp } | SqlType::Time { fsp } => {
                u32::from(*fsp)
            }
            _ => 0,
        }
    }

    pub fn type_code(&self) -> ColumnTypeCode {
        match self {
            SqlType::Null => ColumnTypeCode::Null,
            SqlType::Int { width, .. } => match width {
                IntWidth::Tiny => ColumnTypeCode::Tiny,
                IntWidth::Small => ColumnTypeCode::Short,
                IntWidth::Medium => ColumnTypeCode::Int24,
                IntWidth::Int => ColumnTypeCode::Long,
                IntWidth::Big => ColumnTypeCode::LongLong,
            },
            SqlType::Decimal { .. } => ColumnTypeCode::NewDecimal,
            SqlType::Float => ColumnTypeCode::Float,
            SqlType::Double => ColumnTypeCode::Double,
            SqlType::Char { .. } | SqlType::Binary { .. } => ColumnTypeCode::String,
            SqlType::VarChar { .. } | SqlType::VarBinary { .. } => ColumnTypeCode::VarString,
            SqlType::Text { .. } | SqlType::Blob => ColumnTypeCode::Blob,
            SqlType::Date => ColumnTypeCode::Date,
            SqlType::DateTime { .. } => ColumnTypeCode::DateTime,
            SqlType::Timestamp { .. } => ColumnTypeCode::Timestamp,
            SqlType::Time { .. } => ColumnTypeCode::Time,
        }
    }

    /// The column length MySQL sends: characters times bytes per character for text.
    pub fn display_length(&self) -> u32 {
        let fraction = |fsp: u8| if fsp > 0 { u32::from(fsp) + 1 } else { 0 };
        match self {
            SqlType::Null => 0,
            SqlType::Int { width, unsigned } => {
                let signed_length = match width {
                    IntWidth::Tiny => 4,
                    IntWidth::Small => 6,
                    IntWidth::Medium => 9,
                    IntWidth::Int => 11,
                    IntWidth::Big => 20,
                };
                // BIGINT UNSIGNED is 20 digits, as is signed BIGINT with its sign.
                if *unsigned && *width != IntWidth::Big {
                    signed_length - 1
                } else {
                    signed_length
                }
            }
            SqlType::Decimal { precision, scale } => {
                u32::from(*precision) + u32::from(*scale > 0) + 1
            }
            SqlType::Float => 12,
            SqlType::Double => 22,
            SqlType::Char {
                length_chars,
                collation,
            }
            | SqlType::VarChar {
                length_chars,
                collation,
            } => length_chars.saturating_mul(collation.max_bytes_per_char()),
            SqlType::Text { collation } => 65_535u32.saturating_mul(collation.max_bytes_per_char()),
            SqlType::Binary { length_bytes } | SqlType::VarBinary { length_bytes } => *length_bytes,
            SqlType::Blob => 65_535,
            SqlType::Date => 10,
            SqlType::DateTime { fsp } | SqlType::Timestamp { fsp } => 19 + fraction(*fsp),
            SqlType::Time { fsp } => 10 + fraction(*fsp),
        }
    }

    /// The "decimals" byte of a column definition.
    pub fn decimals(&self) -> u8 {
        match self {
            SqlType::Float | SqlType::Double => DECIMALS_NOT_FIXED,
            SqlType::Decimal { scale, .. } => *scale,
            SqlType::DateTime { fsp } | SqlType::Timestamp { fsp } | SqlType::Time { fsp } => *fsp,
            _ => 0,
        }
    }

    /// Type-implied flags (UNSIGNED, BINARY, BLOB, NUM, TIMESTAMP); the caller adds
    /// NOT_NULL and key flags from the column or expression.
    pub fn flags(&self) -> u16 {
        let mut bits = 0;
        match self {
            SqlType::Int { unsigned, .. } => {
                bits |= flags::NUM;
                if *unsigned {
                    bits |= flags::UNSIGNED;
                }
            }
            SqlType::Decimal { .. } | SqlType::Float | SqlType::Double => bits |= flags::NUM,
            SqlType::Binary { .. } | SqlType::VarBinary { .. } => bits |= flags::BINARY,
            SqlType::Blob => bits |= flags::BINARY | flags::BLOB,
            SqlType::Text { .. } => bits |= flags::BLOB,
            SqlType::Date | SqlType::DateTime { .. } | SqlType::Time { .. } => {
                bits |= flags::BINARY
            }
            SqlType::Timestamp { .. } => bits |= flags::BINARY | flags::TIMESTAMP,
            _ => {}
        }
        bits
    }

    /// The character set/collation id sent with the column.
    pub fn collation_id(&self) -> u16 {
        match self.collation() {
            Some(collation) => collation.id(),
            None => Collation::Binary.id(),
        }
    }

    /// The name MySQL shows in SHOW CREATE TABLE / error messages.
    pub fn sql_name(&self) -> String {
        let int_name = |width: &IntWidth| match width {
            IntWidth::Tiny => "tinyint",
            IntWidth::Small => "smallint",
            IntWidth::Medium => "mediumint",
            IntWidth::Int => "int",
            IntWidth::Big => "bigint",
        };
        let with_fsp = |name: &str, fsp: u8| {
            if fsp > 0 {
                format!("{name}({fsp})")
            } else {
                name.to_string()
            }
        };
        match self {
            SqlType::Null => "null".into(),
            SqlType::Int {
                width,
                unsigned: false,
            } => int_name(width).into(),
            SqlType::Int {
                width,
                unsigned: true,
            } => format!("{} unsigned", int_name(width)),
            SqlType::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
            SqlType::Float => "float".into(),
            SqlType::Double => "double".into(),
            SqlType::Char { length_chars, .. } => format!("char({length_chars})"),
            SqlType::VarChar { length_chars, .. } => format!("varchar({length_chars})"),
            SqlType::Text { .. } => "text".into(),
            SqlType::Binary { length_bytes } => format!("binary({length_bytes})"),
            SqlType::VarBinary { length_bytes } => format!("varbinary({length_bytes})"),
            SqlType::Blob => "blob".into(),
            SqlType::Date => "date".into(),
            SqlType::DateTime { fsp } => with_fsp("datetime", *fsp),
            SqlType::Timestamp { fsp } => with_fsp("timestamp", *fsp),
            SqlType::Time { fsp } => with_fsp("time", *fsp),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Type codes and lengths match what MySQL 8 sends for common columns.
    #[test]
    fn protocol_codes_and_lengths() {
        assert_eq!(SqlType::BIGINT.type_code() as u8, 8);
        assert_eq!(SqlType::BIGINT.display_length(), 20);
        let int_unsigned = SqlType::Int {
            width: IntWidth::Int,
            unsigned: true,
        };
        assert_eq!(
            (
                int_unsigned.type_code() as u8,
                int_unsigned.display_length()
            ),
            (3, 10)
        );
        assert_eq!(int_unsigned.flags() & flags::UNSIGNED, flags::UNSIGNED);
        let decimal = SqlType::decimal(10, 2).unwrap_or(SqlType::Null);
        assert_eq!(
            (
                decimal.type_code() as u8,
                decimal.display_length(),
                decimal.decimals()
            ),
            (246, 12, 2)
        );
        assert_eq!(SqlType::varchar(10).display_length(), 40);
        assert_eq!(SqlType::varchar(10).type_code() as u8, 253);
        assert_eq!(SqlType::DateTime { fsp: 3 }.display_length(), 23);
        assert_eq!(SqlType::Double.decimals(), 31);
    }

    // DECIMAL beyond what Floe supports is refused with the limits named.
    #[test]
    fn decimal_limits_are_checked() {
        assert_eq!(SqlType::decimal(65, 2).map_err(|e| e.code()), Err(1426));
        assert_eq!(SqlType::decimal(5, 6).map_err(|e| e.code()), Err(1427));
        assert!(SqlType::decimal(38, 30).is_ok());
    }

    // Integer ranges follow the storage width.
    #[test]
    fn int_ranges() {
        assert_eq!(IntWidth::Tiny.range_i128(false), (-128, 127));
        assert_eq!(IntWidth::Medium.range_i128(true), (0, 16_777_215));
        assert_eq!(IntWidth::Big.range_i128(true).1, i128::from(u64::MAX));
    }
}
