//! One client connection: the connection phase, then the command loop,
//! until the client quits, the socket fails, a timeout passes, the
//! connection is killed or the server shuts down. Whatever ends it, the
//! `Session` is dropped before the connection leaves the table, so the SQL
//! layer has rolled back by the time shutdown sees the table empty.
//!
//! Anything the client sends is decoded fully before it is acted on
//! (`PacketCodec`, `Command::parse`, `decode_params`). A packet that breaks
//! the framing or the command's structure is answered with an ERR (in
//! sequence, where the protocol allows one) and closes this connection
//! only; a well-formed command the server cannot serve gets an ERR and the
//! connection goes on.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use floe_rt::sched::{self, Interest};

use super::registry::{time_left, Entry, KillRequester, KillScope, Slot};
use super::wire::{ResultWriter, Wire, BUFFER_KEEP_BYTES};
use super::Shared;
use crate::backend::{Backend, InterruptReason, Session, SessionContext, SqlError};
use crate::protocol::auth::SCRAMBLE_BYTES;
use crate::protocol::codes;
use crate::protocol::handshake::FAST_AUTH_SUCCESS;
use crate::protocol::response::emit_end_of_rows;
use crate::protocol::wire::{put_lenenc_bytes, put_lenenc_null};
use crate::protocol::{
    CapabilityFlags, Command, ConnectionPhase, CredentialStore, Decoded, HandshakeStep,
    MaxAllowedPacket, PacketCodec, ParamType, ParamValue, ProtocolError, Scramble, ServerGreeting,
    SetOption, StatementId, StoredCredential, Value,
};

/// Smallest read from the socket; a command usually arrives in one.
const READ_BYTES_MIN: usize = 16 << 10;
/// Largest read: a 64 MiB packet arrives in reads of this size, so buffer
/// memory grows only with bytes that actually came.
const READ_BYTES_MAX: usize = 1 << 20;
/// Statement text kept per prepared statement for the process list.
const STATEMENT_INFO_BYTES_MAX: usize = 1024;

/// Serve one accepted connection on the calling thread.
pub(crate) fn run(stream: Arc<TcpStream>, peer: SocketAddr, slot: Slot, shared: &Arc<Shared>) {
    let entry = Arc::clone(&slot.entry);
    let id = entry.id;
    let mut connection = Connection::new(stream, peer, entry, shared);
    let end = connection.serve();
    // The session is gone by now (dropped inside `serve`); leaving the
    // table is last.
    drop(connection);
    log::debug!("connection {id} from {peer}: closed: {end}");
    drop(slot);
}

/// Why a connection ended, for the log.
#[derive(Debug)]
enum End {
    Quit,
    ClientClosed,
    Killed,
    Shutdown,
    HandshakeTimeout,
    IdleTimeout,
    ReadTimeout,
    Truncated,
    Io(io::Error),
    Protocol(ProtocolError),
    Refused(ProtocolError),
    SessionRefused(SqlError),
    Entropy(io::Error),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Quit => f.write_str("COM_QUIT"),
            End::ClientClosed => f.write_str("client closed the connection"),
            End::Killed => f.write_str("killed"),
            End::Shutdown => f.write_str("server shutdown"),
            End::HandshakeTimeout => f.write_str("no handshake within connect_timeout"),
            End::IdleTimeout => f.write_str("idle past wait_timeout"),
            End::ReadTimeout => f.write_str("packet incomplete after net_read_timeout"),
            End::Truncated => f.write_str("client closed the connection inside a packet"),
            End::Io(error) => write!(f, "socket error: {error}"),
            End::Protocol(error) => write!(f, "malformed input: {error}"),
            End::Refused(error) => write!(f, "handshake refused: {error}"),
            End::SessionRefused(error) => write!(f, "session refused: {error}"),
            End::Entropy(error) => write!(f, "no random bytes for the scramble: {error}"),
        }
    }
}

/// What a read of one packet ran into.
enum ReadFailure {
    Closed { mid_packet: bool },
    TimedOut { mid_packet: bool },
    Io(io::Error),
    Protocol(ProtocolError),
}

/// How long a read may wait.
#[derive(Clone, Copy)]
enum Wait {
    /// Connection phase: the whole phase must end by this instant.
    Handshake(Instant),
    /// Command phase: this long for the first byte of a command
    /// (wait_timeout), net_read_timeout once a packet has started.
    Command(Duration),
}

/// A prepared statement's protocol state; the session holds its plan.
struct Statement {
    param_count: u16,
    /// Types bound by the last execution that sent them.
    bound_types: Vec<ParamType>,
    /// COM_STMT_SEND_LONG_DATA bytes per placeholder since the last
    /// execution or reset; empty until the first arrives.
    long_data: Vec<Option<Vec<u8>>>,
    long_data_bytes: u64,
    /// An error from COM_STMT_SEND_LONG_DATA (which gets no reply), reported
    /// by the next execution, as MySQL does.
    long_data_error: Option<SqlError>,
    /// The statement text's start, for the process list.
    info: String,
}

impl Statement {
    fn clear_long_data(&mut self) {
        self.long_data.clear();
        self.long_data_bytes = 0;
        self.long_data_error = None;
    }
}

/// The credential store the connection phase sees: the backend, with the
/// peer's host and without anonymous access.
struct Accounts<'a> {
    backend: &'a dyn Backend,
    host: &'a str,
}

impl CredentialStore for Accounts<'_> {
    fn credential(&self, user: &str) -> Option<StoredCredential> {
        // An empty user name never reaches the backend: no anonymous access,
        // whatever accounts the dictionary holds. It is denied (1045) like
        // an unknown user.
        if user.is_empty() {
            return None;
        }
        self.backend.credential(user, self.host)
    }
}

struct Connection<'s> {
    shared: &'s Shared,
    entry: Arc<Entry>,
    peer: SocketAddr,
    wire: Wire,
    /// Bytes read and not yet decoded start at `input_start`.
    input: Vec<u8>,
    input_start: usize,
    /// The codec has absorbed part of a packet (a 16 MiB fragment).
    mid_packet: bool,
    /// The last decoded payload.
    packet: Vec<u8>,
    user: String,
    capabilities: CapabilityFlags,
    multi_statements: bool,
    statements: HashMap<u32, Statement>,
    next_statement_id: u32,
}

/// Go on with the next command, or close.
type Flow = Result<(), End>;

impl<'s> Connection<'s> {
    fn new(
        stream: Arc<TcpStream>,
        peer: SocketAddr,
        entry: Arc<Entry>,
        shared: &'s Shared,
    ) -> Self {
        Self {
            shared,
            entry,
            peer,
            // Tight limit until the client has authenticated.
            wire: Wire::new(
                stream,
                PacketCodec::new(MaxAllowedPacket::HANDSHAKE),
                shared.config.net_write_timeout,
            ),
            input: Vec::new(),
            input_start: 0,
            mid_packet: false,
            packet: Vec::new(),
            user: String::new(),
            capabilities: CapabilityFlags::PROTOCOL_41,
            multi_statements: false,
            statements: HashMap::new(),
            next_statement_id: 1,
        }
    }

    fn serve(&mut self) -> End {
        let mut session = match self.handshake() {
            Ok(session) => session,
            Err(end) => return end,
        };
        let end = self.command_loop(session.as_mut());
        // Dropping the session rolls back whatever it had open.
        drop(session);
        end
    }

    fn handshake(&mut self) -> Result<Box<dyn Session>, End> {
        let shared = self.shared;
        let config = &shared.config;
        let deadline = Instant::now() + config.connect_timeout;
        let mut random = [0; SCRAMBLE_BYTES];
        if let Err(error) = shared.entropy.fill(&mut random) {
            log::warn!("connection {}: no random bytes: {error}", self.entry.id);
            let _ = self
                .wire
                .error(
                    codes::ER_HANDSHAKE_ERROR,
                    "Bad handshake: server has no entropy",
                )
                .and_then(|()| self.wire.flush());
            return Err(End::Entropy(error));
        }
        let greeting = ServerGreeting {
            server_version: config.server_version.clone(),
            ..ServerGreeting::default()
        };
        let mut phase =
            ConnectionPhase::new(greeting, self.entry.id, Scramble::from_random(random));
        match self.wire.try_packet(|out| phase.emit_greeting(out)) {
            Ok(written) => written.and_then(|()| self.wire.flush()).map_err(End::Io)?,
            // Only a NUL in the configured version fails, and
            // `Server::start` refuses that configuration.
            Err(error) => return Err(End::Refused(error)),
        }
        let host = self.peer.ip().to_string();
        let accounts = Accounts {
            backend: shared.backend.as_ref(),
            host: &host,
        };
        let client = loop {
            if let Err(failure) = self.read_packet(Wait::Handshake(deadline)) {
                return Err(self.read_failed(failure, true));
            }
            match phase.on_packet(&self.packet, &accounts) {
                Ok(HandshakeStep::SwitchPlugin(request)) => {
                    self.wire.packet(|out| request.emit(out)).map_err(End::Io)?;
                    self.wire.flush().map_err(End::Io)?;
                }
                Ok(HandshakeStep::Authenticated {
                    client,
                    fast_auth_success,
                }) => {
                    if fast_auth_success {
                        self.wire
                            .packet(|out| out.extend_from_slice(&FAST_AUTH_SUCCESS))
                            .map_err(End::Io)?;
                    }
                    break client;
                }
                Err(mut error) => {
                    if let ProtocolError::AccessDenied { host: denied, .. } = &mut error {
                        denied.clone_from(&host);
                    }
                    let _ = self
                        .wire
                        .protocol_error(&error)
                        .and_then(|()| self.wire.flush());
                    return Err(End::Refused(error));
                }
            }
        };
        self.capabilities = client.capabilities;
        self.wire.capabilities = client.capabilities;
        self.wire
            .codec
            .set_max_allowed_packet(config.max_allowed_packet);
        self.multi_statements = client
            .capabilities
            .contains(CapabilityFlags::MULTI_STATEMENTS);
        self.user.clone_from(&client.user);
        let context = SessionContext {
            connection_id: self.entry.id,
            user: client.user,
            host,
            database: client.database,
            charset: client.charset,
            capabilities: client.capabilities,
            plugin: client.plugin,
            connect_attributes: client.connect_attributes,
            interrupt: self.entry.interrupt.clone(),
            processes: shared.processes.clone(),
        };
        match shared.backend.open_session(context) {
            Ok(session) => {
                self.wire
                    .ok(session.status())
                    .and_then(|()| self.wire.flush())
                    .map_err(End::Io)?;
                self.entry.authenticated(&self.user, session.database());
                log::debug!(
                    "connection {} from {}: user '{}' authenticated",
                    self.entry.id,
                    self.peer,
                    self.user
                );
                Ok(session)
            }
            Err(error) => {
                let _ = self.wire.sql_error(&error).and_then(|()| self.wire.flush());
                Err(End::SessionRefused(error))
            }
        }
    }

    fn command_loop(&mut self, session: &mut dyn Session) -> End {
        let config = &self.shared.config;
        let idle_timeout = if self.capabilities.contains(CapabilityFlags::INTERACTIVE) {
            config.interactive_timeout
        } else {
            config.wait_timeout
        };
        loop {
            self.wire.codec.start_command();
            self.release_idle_memory();
            if let Err(failure) = self.read_packet(Wait::Command(idle_timeout)) {
                return self.read_failed(failure, false);
            }
            self.entry.interrupt.clear_query();
            let packet = std::mem::take(&mut self.packet);
            let flow = self.dispatch(&packet, session);
            self.packet = packet;
            self.entry.command_ended(session.database());
            // The answer goes out even when the command ends the connection
            // (the ERR that explains why).
            let flushed = self.wire.flush();
            if let Err(end) = flow.and_then(|()| flushed.map_err(End::Io)) {
                return end;
            }
            if let Some(end) = self.stopped() {
                return end;
            }
        }
    }

    /// If KILL or shutdown asked this connection to stop: tell a client of
    /// shutdown why (an unsolicited ERR, sequence id 0, as mysqld sends its
    /// timeout error), and end.
    fn stopped(&mut self) -> Option<End> {
        match self.entry.interrupt.reason() {
            None | Some(InterruptReason::Query) => None,
            Some(InterruptReason::Connection) => Some(End::Killed),
            Some(InterruptReason::Shutdown) => {
                self.wire.codec.start_command();
                let _ = self
                    .wire
                    .error(codes::ER_SERVER_SHUTDOWN, "Server shutdown in progress")
                    .and_then(|()| self.wire.flush());
                Some(End::Shutdown)
            }
        }
    }

    /// Decode the next packet into `self.packet`, reading as needed.
    fn read_packet(&mut self, wait: Wait) -> Result<(), ReadFailure> {
        loop {
            let available = self.input.get(self.input_start..).unwrap_or_default();
            match self.wire.codec.decode(available) {
                Ok(Decoded::Packet {
                    payload,
                    consumed_bytes,
                }) => {
                    match payload {
                        Cow::Borrowed(bytes) => {
                            self.packet.clear();
                            self.packet.extend_from_slice(bytes);
                        }
                        Cow::Owned(bytes) => self.packet = bytes,
                    }
                    self.input_start += consumed_bytes;
                    self.mid_packet = false;
                    return Ok(());
                }
                Ok(Decoded::NeedMore {
                    consumed_bytes,
                    more_bytes_min,
                }) => {
                    self.input_start += consumed_bytes;
                    if consumed_bytes > 0 {
                        self.mid_packet = true;
                    }
                    self.input.drain(..self.input_start);
                    self.input_start = 0;
                    self.read_more(more_bytes_min, wait)?;
                }
                Err(error) => return Err(ReadFailure::Protocol(error)),
            }
        }
    }

    /// One read from the socket, of at least `more_bytes_min` bytes' room.
    fn read_more(&mut self, more_bytes_min: usize, wait: Wait) -> Result<(), ReadFailure> {
        let mid_packet = self.mid_packet || !self.input.is_empty();
        let timeout = match wait {
            Wait::Handshake(deadline) => time_left(deadline),
            Wait::Command(_) if mid_packet => self.shared.config.net_read_timeout,
            Wait::Command(idle_timeout) => idle_timeout,
        };
        let deadline = Instant::now() + timeout;
        let have_bytes = self.input.len();
        let room_bytes = more_bytes_min.clamp(READ_BYTES_MIN, READ_BYTES_MAX);
        self.input.resize(have_bytes + room_bytes, 0);
        let read = loop {
            let room = self.input.get_mut(have_bytes..).unwrap_or_default();
            match (&*self.wire.stream).read(room) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    // Nothing yet: park this fiber (or thread) until the
                    // socket is readable or the timeout passes.
                    let fd = self.wire.stream.as_raw_fd();
                    match sched::wait_fd(fd, Interest::Readable, Some(deadline)) {
                        Ok(true) => {}
                        Ok(false) => break Err(error),
                        Err(error) => break Err(error),
                    }
                }
                other => break other,
            }
        };
        match read {
            Ok(0) => {
                self.input.truncate(have_bytes);
                Err(ReadFailure::Closed { mid_packet })
            }
            Ok(read_bytes) => {
                self.input.truncate(have_bytes + read_bytes);
                Ok(())
            }
            Err(error) => {
                self.input.truncate(have_bytes);
                match error.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                        Err(ReadFailure::TimedOut { mid_packet })
                    }
                    io::ErrorKind::Interrupted => Ok(()),
                    _ => Err(ReadFailure::Io(error)),
                }
            }
        }
    }

    /// Answer what a failed read allows, and end.
    fn read_failed(&mut self, failure: ReadFailure, in_handshake: bool) -> End {
        let (end, error) = match failure {
            ReadFailure::Closed { mid_packet } => {
                // KILL and shutdown wake a blocked read by closing its side.
                if let Some(end) = self.stopped() {
                    return end;
                }
                if !mid_packet {
                    return End::ClientClosed;
                }
                let error = SqlError::new(
                    codes::ER_NET_READ_ERROR,
                    "Got an error reading communication packets: the client closed the \
                     connection inside a packet",
                );
                (End::Truncated, error)
            }
            ReadFailure::TimedOut { .. } if in_handshake => {
                let error = SqlError::new(
                    codes::ER_HANDSHAKE_ERROR,
                    format!(
                        "Bad handshake: not completed within connect_timeout ({} s)",
                        self.shared.config.connect_timeout.as_secs_f64()
                    ),
                );
                (End::HandshakeTimeout, error)
            }
            ReadFailure::TimedOut { mid_packet: true } => {
                let error = SqlError::new(
                    codes::ER_NET_READ_INTERRUPTED,
                    "Got timeout reading communication packets",
                );
                (End::ReadTimeout, error)
            }
            ReadFailure::TimedOut { mid_packet: false } => {
                let error = SqlError::new(
                    codes::ER_CLIENT_INTERACTION_TIMEOUT,
                    "The client was disconnected by the server because of inactivity. See \
                     wait_timeout and interactive_timeout for configuring this behavior.",
                );
                (End::IdleTimeout, error)
            }
            ReadFailure::Io(error) => return End::Io(error),
            ReadFailure::Protocol(error) => {
                log::debug!("connection {} from {}: {error}", self.entry.id, self.peer);
                // Answer in sequence with the packet we refused.
                match error {
                    ProtocolError::SequenceMismatch { found, .. } => {
                        self.wire.codec.set_sequence_id(found.wrapping_add(1));
                    }
                    ProtocolError::PacketTooLarge { .. } => {
                        let refused = self.wire.codec.sequence_id();
                        self.wire.codec.set_sequence_id(refused.wrapping_add(1));
                    }
                    _ => {}
                }
                let _ = self
                    .wire
                    .protocol_error(&error)
                    .and_then(|()| self.wire.flush());
                return End::Protocol(error);
            }
        };
        // Best effort: the client may be gone already.
        let _ = self.wire.sql_error(&error).and_then(|()| self.wire.flush());
        end
    }

    /// Give back buffer memory a large packet took, so idle connections
    /// stay small.
    fn release_idle_memory(&mut self) {
        if self.input_start == self.input.len() {
            self.input.clear();
            self.input_start = 0;
            if self.input.capacity() > BUFFER_KEEP_BYTES {
                self.input.shrink_to(BUFFER_KEEP_BYTES);
            }
        }
        if self.packet.capacity() > BUFFER_KEEP_BYTES {
            self.packet = Vec::new();
        }
    }

    fn dispatch(&mut self, payload: &[u8], session: &mut dyn Session) -> Flow {
        let command = match Command::parse(payload, self.capabilities) {
            Ok(command) => command,
            Err(error) => {
                log::debug!("connection {}: bad command packet: {error}", self.entry.id);
                self.wire.protocol_error(&error).map_err(End::Io)?;
                return if error.closes_connection() {
                    Err(End::Protocol(error))
                } else {
                    Ok(())
                };
            }
        };
        log::trace!("connection {}: {}", self.entry.id, command.name());
        match command {
            Command::Quit => Err(End::Quit),
            Command::Ping => {
                self.entry.command_started("Ping", "");
                self.wire.ok(session.status()).map_err(End::Io)
            }
            Command::Query { sql, .. } => {
                let Some(sql) = self.utf8(sql)? else {
                    return Ok(());
                };
                self.entry.command_started("Query", sql);
                let mut writer = ResultWriter::new(&mut self.wire, false, session.status());
                let outcome = session.execute(sql, self.multi_statements, &mut writer);
                writer.finish(outcome).map_err(End::Io)
            }
            Command::InitDb { schema } => {
                let Some(database) = self.utf8(schema)? else {
                    return Ok(());
                };
                self.entry.command_started("Init DB", database);
                match session.init_db(database) {
                    Ok(()) => self.wire.ok(session.status()),
                    Err(error) => self.wire.sql_error(&error),
                }
                .map_err(End::Io)
            }
            Command::FieldList { table, wildcard } => {
                let (Some(table), Some(wildcard)) = (self.utf8(table)?, self.utf8(wildcard)?)
                else {
                    return Ok(());
                };
                self.entry.command_started("Field List", table);
                self.field_list(session, table, wildcard).map_err(End::Io)
            }
            Command::Statistics => {
                self.entry.command_started("Statistics", "");
                let text = self.shared.processes.statistics();
                self.wire
                    .packet(|out| out.extend_from_slice(text.as_bytes()))
                    .map_err(End::Io)
            }
            Command::ProcessKill { connection_id } => {
                self.entry.command_started("Processlist", "");
                let requester = KillRequester {
                    connection_id: self.entry.id,
                    user: &self.user,
                    may_kill_other_users: session.may_kill_other_users(),
                };
                match self
                    .shared
                    .processes
                    .kill(requester, connection_id, KillScope::Connection)
                {
                    Ok(()) => self.wire.ok(session.status()),
                    Err(error) => self.wire.sql_error(&error),
                }
                .map_err(End::Io)
            }
            Command::SetOption(option) => {
                self.entry.command_started("Set option", "");
                self.multi_statements = option == SetOption::MultiStatementsOn;
                // mysqld answers COM_SET_OPTION with EOF (OK 0xfe with
                // CLIENT_DEPRECATE_EOF), not OK.
                let (status, capabilities) = (session.status(), self.capabilities);
                self.wire
                    .packet(|out| emit_end_of_rows(status, 0, capabilities, out))
                    .map_err(End::Io)
            }
            Command::ResetConnection => {
                self.entry.command_started("Reset connection", "");
                match session.reset_connection() {
                    Ok(()) => {
                        // The session forgot its statements; so do we.
                        self.statements.clear();
                        self.multi_statements = self
                            .capabilities
                            .contains(CapabilityFlags::MULTI_STATEMENTS);
                        self.wire.ok(session.status())
                    }
                    Err(error) => self.wire.sql_error(&error),
                }
                .map_err(End::Io)
            }
            Command::StmtPrepare { sql } => {
                let Some(sql) = self.utf8(sql)? else {
                    return Ok(());
                };
                self.entry.command_started("Prepare", sql);
                self.prepare(session, sql).map_err(End::Io)
            }
            Command::StmtExecute(execute) => self.execute(session, &execute),
            Command::StmtSendLongData {
                statement_id,
                param_index,
                data,
            } => {
                self.entry.command_started("Long Data", "");
                self.send_long_data(statement_id, param_index, data);
                Ok(())
            }
            Command::StmtClose { statement_id } => {
                self.entry.command_started("Close stmt", "");
                // No reply, not even for an unknown id.
                if self.statements.remove(&statement_id.0).is_some() {
                    session.close_prepared(statement_id);
                }
                Ok(())
            }
            Command::StmtReset { statement_id } => {
                self.entry.command_started("Reset stmt", "");
                match self.statements.get_mut(&statement_id.0) {
                    Some(statement) => {
                        statement.clear_long_data();
                        self.wire.ok(session.status())
                    }
                    None => self.unknown_statement(statement_id, "mysqld_stmt_reset"),
                }
                .map_err(End::Io)
            }
            Command::StmtFetch { statement_id, .. } => {
                self.entry.command_started("Fetch", "");
                if self.statements.contains_key(&statement_id.0) {
                    // Results are always sent whole at COM_STMT_EXECUTE.
                    self.wire.error(
                        codes::ER_STMT_HAS_NO_OPEN_CURSOR,
                        &format!("The statement ({}) has no open cursor.", statement_id.0),
                    )
                } else {
                    self.unknown_statement(statement_id, "mysqld_stmt_fetch")
                }
                .map_err(End::Io)
            }
        }
    }

    /// Text the SQL layer takes as `&str`. Statements and names in another
    /// encoding than UTF-8 are refused with 1300 (the connection goes on).
    fn utf8<'p>(&mut self, bytes: &'p [u8]) -> Result<Option<&'p str>, End> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Ok(Some(text)),
            Err(error) => {
                let message = format!(
                    "Invalid utf8mb4 character string: byte {} of the command is not UTF-8",
                    error.valid_up_to()
                );
                self.wire
                    .error(codes::ER_INVALID_CHARACTER_STRING, &message)
                    .map_err(End::Io)?;
                Ok(None)
            }
        }
    }

    fn unknown_statement(&mut self, statement_id: StatementId, handler: &str) -> io::Result<()> {
        self.wire.error(
            codes::ER_UNKNOWN_STMT_HANDLER,
            &format!(
                "Unknown prepared statement handler ({}) given to {handler}",
                statement_id.0
            ),
        )
    }

    fn field_list(
        &mut self,
        session: &mut dyn Session,
        table: &str,
        wildcard: &str,
    ) -> io::Result<()> {
        let fields = match session.field_list(table, wildcard) {
            Ok(fields) => fields,
            Err(error) => return self.wire.sql_error(&error),
        };
        // Each definition carries the column's default, as with mysqld's
        // SEND_DEFAULTS; the list ends like a result set's rows.
        for field in &fields {
            self.wire.packet(|out| {
                field.column.definition().emit(out);
                match &field.default_value {
                    Some(default_value) => put_lenenc_bytes(out, default_value),
                    None => put_lenenc_null(out),
                }
            })?;
        }
        let (status, capabilities) = (session.status(), self.capabilities);
        self.wire
            .packet(|out| emit_end_of_rows(status, 0, capabilities, out))
    }

    fn prepare(&mut self, session: &mut dyn Session, sql: &str) -> io::Result<()> {
        let limit = self.shared.config.max_prepared_statements;
        if self.statements.len() >= limit as usize {
            return self.wire.error(
                codes::ER_MAX_PREPARED_STMT_COUNT_REACHED,
                &format!(
                    "Can't create more than max_prepared_stmt_count statements \
                     (current value: {limit})"
                ),
            );
        }
        let statement_id = self.allocate_statement_id();
        let prepared = match session.prepare(statement_id, sql) {
            Ok(prepared) => prepared,
            Err(error) => return self.wire.sql_error(&error),
        };
        let (Ok(param_count), Ok(column_count)) = (
            u16::try_from(prepared.params.len()),
            u16::try_from(prepared.columns.len()),
        ) else {
            session.close_prepared(statement_id);
            return self.wire.error(
                codes::ER_PS_MANY_PARAM,
                "Prepared statement contains too many placeholders",
            );
        };
        self.wire.packet(|out| {
            crate::protocol::PrepareOk {
                statement_id: statement_id.0,
                column_count,
                param_count,
                warning_count: 0,
            }
            .emit(out)
        })?;
        let status = session.status();
        if param_count > 0 {
            self.wire.definitions(
                prepared.params.iter().map(|param| param.definition()),
                status,
            )?;
        }
        if column_count > 0 {
            self.wire.definitions(
                prepared.columns.iter().map(|column| column.definition()),
                status,
            )?;
        }
        let mut end = sql.len().min(STATEMENT_INFO_BYTES_MAX);
        while !sql.is_char_boundary(end) {
            end -= 1;
        }
        self.statements.insert(
            statement_id.0,
            Statement {
                param_count,
                bound_types: Vec::new(),
                long_data: Vec::new(),
                long_data_bytes: 0,
                long_data_error: None,
                info: sql.get(..end).unwrap_or_default().to_owned(),
            },
        );
        Ok(())
    }

    /// The next statement id not in use, skipping 0.
    fn allocate_statement_id(&mut self) -> StatementId {
        // At most max_prepared_statements ids are in use, so this ends.
        loop {
            let id = self.next_statement_id;
            self.next_statement_id = self.next_statement_id.wrapping_add(1);
            if id != 0 && !self.statements.contains_key(&id) {
                return StatementId(id);
            }
        }
    }

    fn execute(
        &mut self,
        session: &mut dyn Session,
        execute: &crate::protocol::StmtExecute<'_>,
    ) -> Flow {
        let statement_id = execute.statement_id;
        let Some(statement) = self.statements.get_mut(&statement_id.0) else {
            return self
                .unknown_statement(statement_id, "mysqld_stmt_execute")
                .map_err(End::Io);
        };
        self.entry.command_started("Execute", &statement.info);
        if let Some(error) = statement.long_data_error.take() {
            statement.clear_long_data();
            return self.wire.sql_error(&error).map_err(End::Io);
        }
        let long_data_sent: Vec<bool> = statement.long_data.iter().map(Option::is_some).collect();
        let params = match execute.decode_params(
            statement.param_count,
            &statement.bound_types,
            &long_data_sent,
        ) {
            Ok(params) => params,
            Err(error) => {
                log::debug!(
                    "connection {}: COM_STMT_EXECUTE {}: {error}",
                    self.entry.id,
                    statement_id.0
                );
                self.wire.protocol_error(&error).map_err(End::Io)?;
                return if error.closes_connection() {
                    Err(End::Protocol(error))
                } else {
                    Ok(())
                };
            }
        };
        if let Some(types) = params.new_types {
            statement.bound_types = types;
        }
        let long_data = &statement.long_data;
        let values: Vec<Value<'_>> = params
            .values
            .iter()
            .enumerate()
            .map(|(index, param)| match param {
                ParamValue::Value(value) => *value,
                ParamValue::LongData => Value::Bytes(
                    long_data
                        .get(index)
                        .and_then(Option::as_deref)
                        .unwrap_or_default(),
                ),
            })
            .collect();
        let mut writer = ResultWriter::new(&mut self.wire, true, session.status());
        let outcome = session.execute_prepared(statement_id, &values, &mut writer);
        let written = writer.finish(outcome);
        drop(values);
        // Long data is for one execution, as in mysqld.
        statement.clear_long_data();
        written.map_err(End::Io)
    }

    /// COM_STMT_SEND_LONG_DATA gets no reply; a problem is kept for the
    /// statement's next execution to report.
    fn send_long_data(&mut self, statement_id: StatementId, param_index: u16, data: &[u8]) {
        let Some(statement) = self.statements.get_mut(&statement_id.0) else {
            log::debug!(
                "connection {}: long data for unknown statement {}",
                self.entry.id,
                statement_id.0
            );
            return;
        };
        if statement.long_data_error.is_some() {
            return;
        }
        if param_index >= statement.param_count {
            statement.long_data_error = Some(SqlError::new(
                codes::ER_WRONG_ARGUMENTS,
                "Incorrect arguments to mysqld_stmt_send_long_data",
            ));
            return;
        }
        let limit_bytes = u64::from(self.shared.config.max_allowed_packet.bytes());
        let total_bytes = statement.long_data_bytes + data.len() as u64;
        if total_bytes > limit_bytes {
            statement.long_data.clear();
            statement.long_data_error = Some(SqlError::new(
                codes::ER_NET_PACKET_TOO_LARGE,
                format!(
                    "Parameter of prepared statement which is set through \
                     mysql_send_long_data() is longer than 'max_allowed_packet' \
                     ({limit_bytes}) bytes"
                ),
            ));
            return;
        }
        statement.long_data_bytes = total_bytes;
        if statement.long_data.is_empty() {
            statement
                .long_data
                .resize(usize::from(statement.param_count), None);
        }
        if let Some(slot) = statement.long_data.get_mut(usize::from(param_index)) {
            slot.get_or_insert_with(Vec::new).extend_from_slice(data);
        }
    }
}
