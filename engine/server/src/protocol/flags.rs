//! Typed bit sets and codes with MySQL's numbers: capability flags, server
//! status flags, column definition flags, column type codes and the
//! character sets we name. Numbers are MySQL's (`include/mysql_com.h`,
//! `include/field_types.h`) and never change.

/// Defines a bit-set newtype over an unsigned integer with named constants.
/// Unknown bits are kept (`from_bits_retain`), since a peer may set bits
/// newer than this build; callers intersect with what they support.
macro_rules! bit_set {
    ($(#[$meta:meta])* $name:ident($repr:ty) { $($(#[$flag_meta:meta])* $flag:ident = $value:expr;)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name($repr);

        impl $name {
            $($(#[$flag_meta])* pub const $flag: Self = Self($value);)*
            const NAMED: &'static [(&'static str, $repr)] = &[$((stringify!($flag), $value)),*];

            pub const fn empty() -> Self {
                Self(0)
            }
            pub const fn from_bits_retain(bits: $repr) -> Self {
                Self(bits)
            }
            pub const fn bits(self) -> $repr {
                self.0
            }
            /// Whether every bit of `other` is set in `self`.
            pub const fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }
            pub const fn union(self, other: Self) -> Self {
                Self(self.0 | other.0)
            }
            pub const fn intersection(self, other: Self) -> Self {
                Self(self.0 & other.0)
            }
            pub const fn difference(self, other: Self) -> Self {
                Self(self.0 & !other.0)
            }
            pub fn insert(&mut self, other: Self) {
                self.0 |= other.0;
            }
            pub fn remove(&mut self, other: Self) {
                self.0 &= !other.0;
            }
            pub fn set(&mut self, other: Self, on: bool) {
                if on {
                    self.insert(other)
                } else {
                    self.remove(other)
                }
            }
        }

        impl std::ops::BitOr for $name {
            type Output = Self;
            fn bitor(self, other: Self) -> Self {
                self.union(other)
            }
        }

        impl std::ops::BitAnd for $name {
            type Output = Self;
            fn bitand(self, other: Self) -> Self {
                self.intersection(other)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({:#x}", stringify!($name), self.0)?;
                let mut rest = self.0;
                let mut separator = ": ";
                for &(flag_name, bits) in Self::NAMED {
                    if bits != 0 && self.0 & bits == bits {
                        write!(f, "{separator}{flag_name}")?;
                        separator = " | ";
                        rest &= !bits;
                    }
                }
                if rest != 0 {
                    write!(f, "{separator}unknown {rest:#x}")?;
                }
                write!(f, ")")
            }
        }
    };
}

bit_set! {
    /// Capability flags (`CLIENT_*`), exchanged in the handshake.
    CapabilityFlags(u32) {
        LONG_PASSWORD = 1;
        FOUND_ROWS = 1 << 1;
        LONG_FLAG = 1 << 2;
        CONNECT_WITH_DB = 1 << 3;
        NO_SCHEMA = 1 << 4;
        COMPRESS = 1 << 5;
        ODBC = 1 << 6;
        LOCAL_FILES = 1 << 7;
        IGNORE_SPACE = 1 << 8;
        PROTOCOL_41 = 1 << 9;
        INTERACTIVE = 1 << 10;
        SSL = 1 << 11;
        IGNORE_SIGPIPE = 1 << 12;
        TRANSACTIONS = 1 << 13;
        RESERVED = 1 << 14;
        /// Also called RESERVED2: 1-byte-length auth response in HandshakeResponse41.
        SECURE_CONNECTION = 1 << 15;
        MULTI_STATEMENTS = 1 << 16;
        MULTI_RESULTS = 1 << 17;
        PS_MULTI_RESULTS = 1 << 18;
        PLUGIN_AUTH = 1 << 19;
        CONNECT_ATTRS = 1 << 20;
        PLUGIN_AUTH_LENENC_CLIENT_DATA = 1 << 21;
        CAN_HANDLE_EXPIRED_PASSWORDS = 1 << 22;
        SESSION_TRACK = 1 << 23;
        DEPRECATE_EOF = 1 << 24;
        OPTIONAL_RESULTSET_METADATA = 1 << 25;
        ZSTD_COMPRESSION_ALGORITHM = 1 << 26;
        QUERY_ATTRIBUTES = 1 << 27;
        MULTI_FACTOR_AUTHENTICATION = 1 << 28;
        CAPABILITY_EXTENSION = 1 << 29;
        SSL_VERIFY_SERVER_CERT = 1 << 30;
        REMEMBER_OPTIONS = 1 << 31;
    }
}

impl CapabilityFlags {
    /// What this server offers by default. Left out, and why: SSL (no TLS
    /// yet), COMPRESS and ZSTD (no compressed protocol), LOCAL_FILES (LOAD
    /// DATA LOCAL is a client-side file read we do not want), SESSION_TRACK
    /// and OPTIONAL_RESULTSET_METADATA (not implemented), NO_SCHEMA and ODBC
    /// (obsolete), MULTI_FACTOR_AUTHENTICATION.
    pub const SERVER_DEFAULT: Self = Self(
        Self::LONG_PASSWORD.0
            | Self::FOUND_ROWS.0
            | Self::LONG_FLAG.0
            | Self::CONNECT_WITH_DB.0
            | Self::PROTOCOL_41.0
            | Self::INTERACTIVE.0
            | Self::IGNORE_SIGPIPE.0
            | Self::TRANSACTIONS.0
            | Self::SECURE_CONNECTION.0
            | Self::MULTI_STATEMENTS.0
            | Self::MULTI_RESULTS.0
            | Self::PS_MULTI_RESULTS.0
            | Self::PLUGIN_AUTH.0
            | Self::CONNECT_ATTRS.0
            | Self::PLUGIN_AUTH_LENENC_CLIENT_DATA.0
            | Self::DEPRECATE_EOF.0
            | Self::QUERY_ATTRIBUTES.0,
    );
}

bit_set! {
    /// Server status flags (`SERVER_*`), sent in OK and EOF packets.
    StatusFlags(u16) {
        IN_TRANS = 1;
        AUTOCOMMIT = 1 << 1;
        MORE_RESULTS_EXISTS = 1 << 3;
        NO_GOOD_INDEX_USED = 1 << 4;
        NO_INDEX_USED = 1 << 5;
        CURSOR_EXISTS = 1 << 6;
        LAST_ROW_SENT = 1 << 7;
        DB_DROPPED = 1 << 8;
        NO_BACKSLASH_ESCAPES = 1 << 9;
        METADATA_CHANGED = 1 << 10;
        QUERY_WAS_SLOW = 1 << 11;
        PS_OUT_PARAMS = 1 << 12;
        IN_TRANS_READONLY = 1 << 13;
        SESSION_STATE_CHANGED = 1 << 14;
    }
}

bit_set! {
    /// Column definition flags (`*_FLAG` in `mysql_com.h`), 16 bits on the wire.
    ColumnFlags(u16) {
        NOT_NULL = 1;
        PRIMARY_KEY = 1 << 1;
        UNIQUE_KEY = 1 << 2;
        MULTIPLE_KEY = 1 << 3;
        BLOB = 1 << 4;
        UNSIGNED = 1 << 5;
        ZEROFILL = 1 << 6;
        BINARY = 1 << 7;
        ENUM = 1 << 8;
        AUTO_INCREMENT = 1 << 9;
        TIMESTAMP = 1 << 10;
        SET = 1 << 11;
        NO_DEFAULT_VALUE = 1 << 12;
        ON_UPDATE_NOW = 1 << 13;
        PART_KEY = 1 << 14;
        NUM = 1 << 15;
    }
}

bit_set! {
    /// COM_STMT_EXECUTE flags (`enum_cursor_type`).
    CursorFlags(u8) {
        READ_ONLY = 1;
        FOR_UPDATE = 1 << 1;
        SCROLLABLE = 1 << 2;
        /// With CLIENT_QUERY_ATTRIBUTES: a parameter count precedes the parameters.
        PARAMETER_COUNT_AVAILABLE = 1 << 3;
    }
}

/// Column and parameter type codes (`enum_field_types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ColumnType {
    Decimal = 0x00,
    Tiny = 0x01,
    Short = 0x02,
    Long = 0x03,
    Float = 0x04,
    Double = 0x05,
    Null = 0x06,
    Timestamp = 0x07,
    LongLong = 0x08,
    Int24 = 0x09,
    Date = 0x0a,
    Time = 0x0b,
    DateTime = 0x0c,
    Year = 0x0d,
    /// Server-internal in MySQL; never sent to clients.
    NewDate = 0x0e,
    VarChar = 0x0f,
    Bit = 0x10,
    /// Server-internal in MySQL; never sent to clients.
    Timestamp2 = 0x11,
    /// Server-internal in MySQL; never sent to clients.
    DateTime2 = 0x12,
    /// Server-internal in MySQL; never sent to clients.
    Time2 = 0x13,
    /// Server-internal in MySQL; never sent to clients.
    TypedArray = 0x14,
    Vector = 0xf2,
    Invalid = 0xf3,
    Bool = 0xf4,
    Json = 0xf5,
    NewDecimal = 0xf6,
    Enum = 0xf7,
    Set = 0xf8,
    TinyBlob = 0xf9,
    MediumBlob = 0xfa,
    LongBlob = 0xfb,
    Blob = 0xfc,
    VarString = 0xfd,
    String = 0xfe,
    Geometry = 0xff,
}

impl ColumnType {
    pub const fn code(self) -> u8 {
        self as u8
    }

    pub const fn from_code(code: u8) -> Option<Self> {
        use ColumnType as T;
        Some(match code {
            0x00 => T::Decimal,
            0x01 => T::Tiny,
            0x02 => T::Short,
            0x03 => T::Long,
            0x04 => T::Float,
            0x05 => T::Double,
            0x06 => T::Null,
            0x07 => T::Timestamp,
            0x08 => T::LongLong,
            0x09 => T::Int24,
            0x0a => T::Date,
            0x0b => T::Time,
            0x0c => T::DateTime,
            0x0d => T::Year,
            0x0e => T::NewDate,
            0x0f => T::VarChar,
            0x10 => T::Bit,
            0x11 => T::Timestamp2,
            0x12 => T::DateTime2,
            0x13 => T::Time2,
            0x14 => T::TypedArray,
            0xf2 => T::Vector,
            0xf3 => T::Invalid,
            0xf4 => T::Bool,
            0xf5 => T::Json,
            0xf6 => T::NewDecimal,
            0xf7 => T::Enum,
            0xf8 => T::Set,
            0xf9 => T::TinyBlob,
            0xfa => T::MediumBlob,
            0xfb => T::LongBlob,
            0xfc => T::Blob,
            0xfd => T::VarString,
            0xfe => T::String,
            0xff => T::Geometry,
            _ => return None,
        })
    }
}

/// Character set / collation ids as sent in the handshake and column definitions.
pub mod charset {
    /// `utf8mb4_general_ci`.
    pub const UTF8MB4_GENERAL_CI: u16 = 45;
    /// `binary`: for numbers, temporal types and blobs in column definitions.
    pub const BINARY: u16 = 63;
    /// `utf8mb4_0900_ai_ci`, MySQL 8's default and ours.
    pub const UTF8MB4_0900_AI_CI: u16 = 255;
}

#[cfg(test)]
mod tests {
    use super::*;

    // Spot-checks MySQL's numbers for the flags a client relies on most, and
    // that the bit-set operations and Debug output behave.
    #[test]
    fn flag_numbers_and_operations() {
        assert_eq!(CapabilityFlags::PROTOCOL_41.bits(), 0x0200);
        assert_eq!(CapabilityFlags::PLUGIN_AUTH.bits(), 0x0008_0000);
        assert_eq!(CapabilityFlags::DEPRECATE_EOF.bits(), 0x0100_0000);
        assert_eq!(CapabilityFlags::QUERY_ATTRIBUTES.bits(), 0x0800_0000);
        assert_eq!(StatusFlags::AUTOCOMMIT.bits(), 0x0002);
        assert_eq!(StatusFlags::NO_INDEX_USED.bits(), 0x0020);
        assert_eq!(StatusFlags::SESSION_STATE_CHANGED.bits(), 0x4000);
        assert_eq!(ColumnFlags::UNSIGNED.bits(), 0x0020);
        assert_eq!(ColumnFlags::NUM.bits(), 0x8000);

        let mut status = StatusFlags::AUTOCOMMIT | StatusFlags::IN_TRANS;
        assert!(status.contains(StatusFlags::IN_TRANS));
        status.remove(StatusFlags::IN_TRANS);
        assert_eq!(status, StatusFlags::AUTOCOMMIT);
        status.set(StatusFlags::MORE_RESULTS_EXISTS, true);
        assert_eq!(status.bits(), 0x000a);
        assert_eq!(
            format!("{:?}", StatusFlags::from_bits_retain(0x8003)),
            "StatusFlags(0x8003: IN_TRANS | AUTOCOMMIT | unknown 0x8000)"
        );
        assert!(!CapabilityFlags::SERVER_DEFAULT.contains(CapabilityFlags::SSL));
    }

    // Every named column type code maps back to itself, and unnamed codes
    // (0x15..=0xf1) are refused.
    #[test]
    fn column_type_codes_round_trip() {
        let mut named = 0;
        for code in 0..=u8::MAX {
            match ColumnType::from_code(code) {
                Some(column_type) => {
                    assert_eq!(column_type.code(), code);
                    named += 1;
                }
                None => assert!((0x15..=0xf1).contains(&code), "{code:#x}"),
            }
        }
        assert_eq!(named, 35);
        assert_eq!(ColumnType::NewDecimal.code(), 0xf6);
        assert_eq!(ColumnType::VarString.code(), 0xfd);
    }
}
