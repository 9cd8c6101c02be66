//! The protocol's error type and the only place MySQL error numbers and
//! SQLSTATEs live (STYLE 3.3). Every variant says what failed and on what;
//! `ProtocolError::mysql_error` maps it to what the client is told.

use super::flags::ColumnType;

/// MySQL error numbers and SQLSTATEs this crate answers with. Names follow
/// MySQL's `ER_*` constants; numbers and states are MySQL's and never change.
pub mod codes {
    /// A MySQL error as the client sees it: number and 5-character SQLSTATE.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct MysqlError {
        pub code: u16,
        pub sql_state: [u8; 5],
    }

    const fn error(code: u16, state: &[u8; 5]) -> MysqlError {
        MysqlError {
            code,
            sql_state: *state,
        }
    }

    pub const ER_CON_COUNT_ERROR: MysqlError = error(1040, b"08004");
    pub const ER_HANDSHAKE_ERROR: MysqlError = error(1043, b"08S01");
    pub const ER_DBACCESS_DENIED_ERROR: MysqlError = error(1044, b"42000");
    pub const ER_ACCESS_DENIED_ERROR: MysqlError = error(1045, b"28000");
    pub const ER_UNKNOWN_COM_ERROR: MysqlError = error(1047, b"08S01");
    pub const ER_BAD_DB_ERROR: MysqlError = error(1049, b"42000");
    pub const ER_SERVER_SHUTDOWN: MysqlError = error(1053, b"08S01");
    pub const ER_PARSE_ERROR: MysqlError = error(1064, b"42000");
    pub const ER_NO_SUCH_THREAD: MysqlError = error(1094, b"HY000");
    pub const ER_KILL_DENIED_ERROR: MysqlError = error(1095, b"HY000");
    pub const ER_UNKNOWN_ERROR: MysqlError = error(1105, b"HY000");
    pub const ER_CANT_CREATE_THREAD: MysqlError = error(1135, b"HY000");
    pub const ER_NET_PACKET_TOO_LARGE: MysqlError = error(1153, b"08S01");
    pub const ER_NET_PACKETS_OUT_OF_ORDER: MysqlError = error(1156, b"08S01");
    pub const ER_NET_READ_ERROR: MysqlError = error(1158, b"08S01");
    pub const ER_NET_READ_INTERRUPTED: MysqlError = error(1159, b"08S01");
    pub const ER_NET_ERROR_ON_WRITE: MysqlError = error(1160, b"08S01");
    pub const ER_WRONG_ARGUMENTS: MysqlError = error(1210, b"HY000");
    pub const ER_UNKNOWN_STMT_HANDLER: MysqlError = error(1243, b"HY000");
    pub const ER_NOT_SUPPORTED_AUTH_MODE: MysqlError = error(1251, b"08004");
    pub const ER_INVALID_CHARACTER_STRING: MysqlError = error(1300, b"HY000");
    pub const ER_QUERY_INTERRUPTED: MysqlError = error(1317, b"70100");
    pub const ER_PS_MANY_PARAM: MysqlError = error(1390, b"HY000");
    pub const ER_STMT_HAS_NO_OPEN_CURSOR: MysqlError = error(1421, b"HY000");
    pub const ER_MAX_PREPARED_STMT_COUNT_REACHED: MysqlError = error(1461, b"42000");
    pub const ER_MALFORMED_PACKET: MysqlError = error(1835, b"HY000");
    pub const ER_QUERY_TIMEOUT: MysqlError = error(3024, b"HY000");
    pub const ER_CLIENT_INTERACTION_TIMEOUT: MysqlError = error(4031, b"HY000");
}

use codes::MysqlError;

/// Everything that can go wrong decoding or encoding MySQL protocol packets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    // --- basic types ---------------------------------------------------
    #[error("{field}: needs {needed_bytes} bytes, the packet has {have_bytes} left")]
    Truncated {
        field: &'static str,
        needed_bytes: u64,
        have_bytes: usize,
    },
    #[error("{field}: byte {prefix:#04x} does not start a length-encoded integer")]
    BadLenencPrefix { field: &'static str, prefix: u8 },
    #[error("{field}: NULL (0xfb) where a value is required")]
    UnexpectedNull { field: &'static str },
    #[error("{field}: no NUL terminator in the {have_bytes} bytes left")]
    MissingNul {
        field: &'static str,
        have_bytes: usize,
    },
    #[error("{what}: {trailing_bytes} bytes left over after the last field")]
    TrailingBytes {
        what: &'static str,
        trailing_bytes: usize,
    },
    #[error("{field}: not valid UTF-8")]
    NotUtf8 { field: &'static str },
    #[error("{field}: contains a NUL byte, so it cannot be sent NUL-terminated")]
    NulInString { field: &'static str },
    #[error("{field}: {length_bytes} bytes do not fit its {max_bytes}-byte limit")]
    FieldTooLong {
        field: &'static str,
        length_bytes: usize,
        max_bytes: usize,
    },

    // --- framing -------------------------------------------------------
    #[error("packet sequence id {found}, expected {expected}")]
    SequenceMismatch { expected: u8, found: u8 },
    #[error(
        "packet payload of at least {payload_bytes} bytes exceeds max_allowed_packet \
         ({max_allowed_packet_bytes} bytes)"
    )]
    PacketTooLarge {
        payload_bytes: u64,
        max_allowed_packet_bytes: u32,
    },

    // --- connection phase ----------------------------------------------
    #[error("client sent an SSLRequest: TLS is not supported by this server yet")]
    TlsNotSupported,
    #[error(
        "client capabilities {capabilities:#010x} lack CLIENT_PROTOCOL_41; \
         clients older than MySQL 4.1 are not supported"
    )]
    ClientTooOld { capabilities: u32 },
    /// `host`: the client's address, filled in by the server (the
    /// protocol state machine does not know it); empty until then.
    #[error("Access denied for user '{user}'{} (using password: {})",
        if host.is_empty() { String::new() } else { format!("@'{host}'") },
        if *.using_password { "YES" } else { "NO" })]
    AccessDenied {
        user: String,
        host: String,
        using_password: bool,
    },
    #[error(
        "user '{user}': caching_sha2_password has no cached SHA-256 digest, and full \
         authentication needs TLS or RSA key exchange, which this server does not support \
         yet; reset the password or use mysql_native_password"
    )]
    FullAuthenticationUnsupported { user: String },
    #[error(
        "user '{user}' authenticates with {plugin}, but the client cannot switch plugins \
         (no CLIENT_PLUGIN_AUTH)"
    )]
    AuthSwitchUnsupported { user: String, plugin: &'static str },
    #[error("connection phase is {state}; no packet from the client is expected now")]
    UnexpectedPacket { state: &'static str },

    // --- command phase -------------------------------------------------
    #[error("empty command packet")]
    EmptyCommand,
    #[error("unknown command byte {code:#04x}")]
    UnknownCommand { code: u8 },
    #[error("COM_SET_OPTION: unknown option {option}")]
    UnknownSetOption { option: u16 },
    #[error("{what} parameter {index}: unknown or unsupported type code {type_code:#04x}")]
    UnknownParameterType {
        what: &'static str,
        index: usize,
        type_code: u8,
    },
    #[error(
        "{field}: binary temporal value of {length_bytes} bytes; expected one of {expected:?}"
    )]
    BadTemporalLength {
        field: &'static str,
        length_bytes: u8,
        expected: &'static [u8],
    },
    #[error("{what}: {sent} parameters sent; the statement has {expected}")]
    ParameterCountMismatch {
        what: &'static str,
        expected: u16,
        sent: u64,
    },
    #[error(
        "COM_STMT_EXECUTE: no parameter types sent (new_params_bound_flag 0) and none bound \
         by an earlier execution"
    )]
    ParameterTypesMissing,
    #[error("{what}: new_params_bound_flag {flag}; expected 0 or 1")]
    BadBindFlag { what: &'static str, flag: u8 },
    #[error("COM_QUERY: parameter_set_count {count}; only 1 is defined")]
    BadParameterSetCount { count: u64 },

    // --- encoding responses (our own values, checked before sending) -----
    #[error("column {index}: a {value_kind} value cannot be sent as type {column_type:?}")]
    ValueDoesNotFitColumn {
        index: usize,
        value_kind: &'static str,
        column_type: ColumnType,
    },
    #[error("row has {value_count} values for {column_count} columns")]
    RowWidthMismatch {
        value_count: usize,
        column_count: usize,
    },
}

impl ProtocolError {
    /// The MySQL error number and SQLSTATE the client gets for this error.
    pub fn mysql_error(&self) -> MysqlError {
        use ProtocolError as E;
        match self {
            E::Truncated { .. }
            | E::BadLenencPrefix { .. }
            | E::UnexpectedNull { .. }
            | E::MissingNul { .. }
            | E::TrailingBytes { .. }
            | E::NotUtf8 { .. }
            | E::UnknownSetOption { .. }
            | E::BadTemporalLength { .. }
            | E::BadBindFlag { .. }
            | E::BadParameterSetCount { .. }
            | E::EmptyCommand => codes::ER_MALFORMED_PACKET,
            E::UnknownParameterType { .. }
            | E::ParameterCountMismatch { .. }
            | E::ParameterTypesMissing => codes::ER_WRONG_ARGUMENTS,
            E::SequenceMismatch { .. } => codes::ER_NET_PACKETS_OUT_OF_ORDER,
            E::PacketTooLarge { .. } => codes::ER_NET_PACKET_TOO_LARGE,
            E::TlsNotSupported | E::ClientTooOld { .. } | E::UnexpectedPacket { .. } => {
                codes::ER_HANDSHAKE_ERROR
            }
            E::AccessDenied { .. } => codes::ER_ACCESS_DENIED_ERROR,
            E::FullAuthenticationUnsupported { .. } | E::AuthSwitchUnsupported { .. } => {
                codes::ER_NOT_SUPPORTED_AUTH_MODE
            }
            E::UnknownCommand { .. } => codes::ER_UNKNOWN_COM_ERROR,
            E::NulInString { .. }
            | E::FieldTooLong { .. }
            | E::ValueDoesNotFitColumn { .. }
            | E::RowWidthMismatch { .. } => codes::ER_UNKNOWN_ERROR,
        }
    }

    /// Whether the connection must be closed after reporting this error:
    /// the byte stream, the handshake or the packet's structure can no
    /// longer be trusted (garbage after the handshake closes, as MySQL's
    /// ER_MALFORMED_PACKET does). Unknown commands, bad statement arguments
    /// and our own encoding errors leave the connection usable.
    pub fn closes_connection(&self) -> bool {
        use ProtocolError as E;
        match self {
            E::UnknownCommand { .. }
            | E::UnknownSetOption { .. }
            | E::UnknownParameterType { .. }
            | E::ParameterCountMismatch { .. }
            | E::ParameterTypesMissing
            | E::NulInString { .. }
            | E::FieldTooLong { .. }
            | E::ValueDoesNotFitColumn { .. }
            | E::RowWidthMismatch { .. } => false,
            E::Truncated { .. }
            | E::BadLenencPrefix { .. }
            | E::UnexpectedNull { .. }
            | E::MissingNul { .. }
            | E::TrailingBytes { .. }
            | E::NotUtf8 { .. }
            | E::SequenceMismatch { .. }
            | E::PacketTooLarge { .. }
            | E::TlsNotSupported
            | E::ClientTooOld { .. }
            | E::AccessDenied { .. }
            | E::FullAuthenticationUnsupported { .. }
            | E::AuthSwitchUnsupported { .. }
            | E::UnexpectedPacket { .. }
            | E::EmptyCommand
            | E::BadTemporalLength { .. }
            | E::BadBindFlag { .. }
            | E::BadParameterSetCount { .. } => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the client-visible numbers of the errors a connection loop sends
    // most, so a refactor cannot silently renumber them.
    #[test]
    fn mysql_numbers_are_mysqls() {
        assert_eq!(
            ProtocolError::UnknownCommand { code: 0x99 }.mysql_error(),
            codes::ER_UNKNOWN_COM_ERROR
        );
        assert_eq!(codes::ER_UNKNOWN_COM_ERROR.code, 1047);
        let denied = ProtocolError::AccessDenied {
            user: "root".into(),
            host: "10.0.2.2".into(),
            using_password: true,
        };
        assert_eq!(denied.mysql_error().code, 1045);
        assert_eq!(&denied.mysql_error().sql_state, b"28000");
        assert_eq!(
            denied.to_string(),
            "Access denied for user 'root'@'10.0.2.2' (using password: YES)"
        );
        assert!(denied.closes_connection());
        let too_large = ProtocolError::PacketTooLarge {
            payload_bytes: 5,
            max_allowed_packet_bytes: 4,
        };
        assert_eq!(too_large.mysql_error().code, 1153);
        assert!(ProtocolError::EmptyCommand.closes_connection());
        assert!(!ProtocolError::UnknownCommand { code: 0x20 }.closes_connection());
    }
}
