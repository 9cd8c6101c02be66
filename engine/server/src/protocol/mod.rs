//! The MySQL client/server protocol, version 10, as a server speaks it.
//!
//! - `packet`: framing (length + sequence id), splitting and reassembly of
//!   large payloads, `max_allowed_packet`.
//! - `wire`: the basic encodings (fixed and length-encoded integers, strings).
//! - `flags`: capability, status and column flags; column type codes.
//! - `handshake`: HandshakeV10, HandshakeResponse41, SSLRequest, AuthSwitchRequest.
//! - `auth`: scrambles and password verification for both plugins.
//! - `connection`: the connection-phase state machine.
//! - `value`: `Value` and its binary and text encodings.
//! - `command`: command-phase packets decoded into `Command`.
//! - `response`: OK, ERR, EOF, column definitions, rows, COM_STMT_PREPARE_OK.
//! - `fuzzing`: entry points for the fuzz targets and the randomized test.
//! - `error`: `ProtocolError` and the MySQL error numbers it maps to.
//!
//! Wire code follows the Packet/Repr split: `wire::Reader` is the
//! length-checked view over a payload; each message is a validated struct
//! with `parse` and `emit`.

pub mod auth;
pub mod command;
pub mod connection;
pub mod error;
pub mod flags;
pub mod fuzzing;
pub mod handshake;
pub mod packet;
pub mod response;
pub mod value;
pub mod wire;

pub use auth::{
    AuthPlugin, CredentialStore, NativePasswordHash, Scramble, Sha2PasswordDigest, StoredCredential,
};
pub use command::{
    Command, ExecuteParams, ParamType, ParamValue, QueryAttribute, SetOption, StatementId,
    StmtExecute,
};
pub use connection::{AuthenticatedClient, ConnectionPhase, HandshakeStep, ServerGreeting};
pub use error::{codes, ProtocolError};
pub use flags::{charset, CapabilityFlags, ColumnFlags, ColumnType, CursorFlags, StatusFlags};
pub use packet::{Decoded, MaxAllowedPacket, PacketCodec, PacketStart};
pub use response::{ColumnDefinition, EofPacket, ErrPacket, OkPacket, PrepareOk};
pub use value::{Date, DateTime, Time, Value};
