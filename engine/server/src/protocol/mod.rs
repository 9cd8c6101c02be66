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
//! with `parse` and `emit`. Nothing here reads a socket, a clock or a random
//! number generator: the caller owns the loop.
//!
//! Supported: protocol 4.1 clients (CLIENT_PROTOCOL_41), payloads up to
//! `max_allowed_packet` (1 KiB to 1 GiB) including 16 MiB+ splitting,
//! `mysql_native_password`, the `caching_sha2_password` fast path against a
//! stored SHA256(SHA256(password)), plugin switching, connection attributes,
//! CLIENT_DEPRECATE_EOF, CLIENT_QUERY_ATTRIBUTES, the text and binary
//! protocols with every MySQL value type.
//!
//! **Not supported**: TLS (an SSLRequest is refused with a clear error, and
//! CLIENT_SSL is not advertised); `caching_sha2_password` full
//! authentication (needs TLS or RSA; refused with ER_NOT_SUPPORTED_AUTH_MODE);
//! `sha256_password` and other plugins (clients are switched to the
//! account's plugin); empty passwords; the compressed protocol;
//! CLIENT_SESSION_TRACK state changes; CLIENT_OPTIONAL_RESULTSET_METADATA;
//! COM_CHANGE_USER, COM_BINLOG_DUMP and the other replication and obsolete
//! commands (they decode as `UnknownCommand`, ER_UNKNOWN_COM_ERROR);
//! LOAD DATA LOCAL; server-side cursors beyond decoding COM_STMT_FETCH.
//!
//! A connection loop, with a client built from this module's own emitters
//! standing in for the socket's far end:
//!
//! ```
//! use floe_server::protocol::*;
//! use floe_server::protocol::auth::caching_sha2_response;
//! use floe_server::protocol::handshake::{HandshakeResponse41, FAST_AUTH_SUCCESS};
//! use floe_server::protocol::response::{emit_column_count, emit_end_of_rows, emit_text_row};
//!
//! struct Accounts; // the dictionary, later
//! impl CredentialStore for Accounts {
//!     fn credential(&self, user: &str) -> Option<StoredCredential> {
//!         (user == "app").then(|| {
//!             StoredCredential::CachingSha2Password(Some(Sha2PasswordDigest::from_password(b"pw")))
//!         })
//!     }
//! }
//!
//! # fn main() -> Result<(), ProtocolError> {
//! // Tight limit until the client has authenticated.
//! let mut codec = PacketCodec::new(MaxAllowedPacket::HANDSHAKE);
//! let scramble = Scramble::from_random([7; 20]); // from the caller's RNG
//! let mut phase = ConnectionPhase::new(ServerGreeting::default(), 1, scramble);
//! let mut to_client = Vec::new();
//! let start = codec.begin_packet(&mut to_client);
//! phase.emit_greeting(&mut to_client)?;
//! codec.end_packet(&mut to_client, start);
//!
//! // What the client sends back (sequence id 1), as read from the socket.
//! let mut from_client = Vec::new();
//! let mut response = Vec::new();
//! HandshakeResponse41 {
//!     capabilities: CapabilityFlags::SERVER_DEFAULT,
//!     max_packet_bytes: 1 << 24,
//!     charset: 255,
//!     username: b"app",
//!     auth_response: &caching_sha2_response(b"pw", &scramble),
//!     database: None,
//!     auth_plugin_name: Some(b"caching_sha2_password"),
//!     connect_attributes: vec![],
//!     zstd_compression_level: None,
//! }
//! .emit(&mut response)?;
//! let mut client_codec = PacketCodec::new(MaxAllowedPacket::DEFAULT);
//! client_codec.write_packet(&mut Vec::new(), b""); // the greeting took id 0
//! client_codec.write_packet(&mut from_client, &response);
//!
//! // Connection phase: decode, step, answer.
//! let client = loop {
//!     let Decoded::Packet { payload, consumed_bytes } = codec.decode(&from_client)? else {
//!         unreachable!("a socket read would go here");
//!     };
//!     let step = phase.on_packet(&payload, &Accounts);
//!     let mut reply = Vec::new();
//!     match step {
//!         Ok(HandshakeStep::SwitchPlugin(request)) => request.emit(&mut reply),
//!         Ok(HandshakeStep::Authenticated { client, fast_auth_success }) => {
//!             if fast_auth_success {
//!                 codec.write_packet(&mut to_client, &FAST_AUTH_SUCCESS);
//!             }
//!             OkPacket { status: StatusFlags::AUTOCOMMIT, ..OkPacket::default() }
//!                 .emit(client.capabilities, &mut reply);
//!             codec.write_packet(&mut to_client, &reply);
//!             from_client.drain(..consumed_bytes);
//!             break client;
//!         }
//!         Err(error) => {
//!             ErrPacket::emit_protocol_error(&error, CapabilityFlags::SERVER_DEFAULT, &mut reply);
//!             codec.write_packet(&mut to_client, &reply);
//!             return Err(error); // and close the socket
//!         }
//!     }
//!     codec.write_packet(&mut to_client, &reply);
//!     from_client.drain(..consumed_bytes);
//! };
//!
//! // Command phase: the configured limit; each command starts a new sequence.
//! codec.set_max_allowed_packet(MaxAllowedPacket::DEFAULT);
//! let caps = client.capabilities;
//! client_codec.start_command();
//! let mut query = Vec::new();
//! Command::Query { attributes: vec![], sql: b"SELECT 1" }.emit(caps, &mut query);
//! client_codec.write_packet(&mut from_client, &query);
//! codec.start_command();
//! let Decoded::Packet { payload, consumed_bytes } = codec.decode(&from_client)? else {
//!     unreachable!("a socket read would go here");
//! };
//! match Command::parse(&payload, caps) {
//!     Ok(Command::Query { sql, .. }) => {
//!         assert_eq!(sql, b"SELECT 1"); // the SQL session runs it; here, one row
//!         let column = ColumnDefinition {
//!             schema: b"", table: b"", org_table: b"", name: b"1", org_name: b"",
//!             charset: charset::BINARY, column_length: 1,
//!             column_type: ColumnType::LongLong,
//!             flags: ColumnFlags::NOT_NULL | ColumnFlags::NUM, decimals: 0,
//!         };
//!         let mut packet = Vec::new();
//!         emit_column_count(1, &mut packet);
//!         codec.write_packet(&mut to_client, &packet);
//!         packet.clear();
//!         column.emit(&mut packet);
//!         codec.write_packet(&mut to_client, &packet);
//!         // (EofPacket here if !caps.contains(CapabilityFlags::DEPRECATE_EOF))
//!         packet.clear();
//!         emit_text_row(&[Value::Int(1)], &mut packet);
//!         codec.write_packet(&mut to_client, &packet);
//!         packet.clear();
//!         emit_end_of_rows(StatusFlags::AUTOCOMMIT, 0, caps, &mut packet);
//!         codec.write_packet(&mut to_client, &packet);
//!     }
//!     Ok(other) => unreachable!("{}", other.name()),
//!     Err(error) => {
//!         let mut packet = Vec::new();
//!         ErrPacket::emit_protocol_error(&error, caps, &mut packet);
//!         codec.write_packet(&mut to_client, &packet);
//!         // and close if error.closes_connection()
//!     }
//! }
//! from_client.drain(..consumed_bytes);
//! assert_eq!(codec.sequence_id(), 5); // command 0, then 4 packets out
//! # Ok(())
//! # }
//! ```

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
