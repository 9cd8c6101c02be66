//! The seam between the server and the SQL engine: what the server calls.
//!
//! The server owns everything on the wire (framing, handshake, scramble
//! checks, command decoding, result encoding, statement ids, long data,
//! connection ids, timeouts, KILL bookkeeping). The SQL engine implements
//! `Backend` (one, shared by all connections) and `Session` (one per
//! connection) and never sees a packet:
//!
//! - Authentication: the backend hands out the account's stored digest
//!   (`StoredCredential`: SHA1(SHA1(pw)) or SHA256(SHA256(pw))); the server
//!   runs the challenge-response itself, so no password or scramble crosses
//!   the seam. An empty user name is refused before the backend is asked.
//! - Results are streamed into a `ResultSink` the server provides, one row
//!   at a time, as protocol `Value`s borrowed from the engine's row buffers:
//!   nothing is materialized per result set and nothing allocated per row.
//!   The same calls produce text rows (COM_QUERY) or binary rows
//!   (COM_STMT_EXECUTE); the session does not know which.
//! - Dropping a `Session` means the connection is gone (COM_QUIT, a closed
//!   socket, KILL, an idle timeout, a protocol error, server shutdown): the
//!   SQL layer rolls back its open transaction in `Drop`.
//!
//! Error numbers cross the seam as `SqlError` (MySQL's number, SQLSTATE and
//! message); the constants live in `protocol::error::codes`.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::protocol::codes::{self, MysqlError};
use crate::protocol::{
    AuthPlugin, CapabilityFlags, ColumnDefinition, ColumnFlags, ColumnType, StatementId,
    StatusFlags, StoredCredential, Value,
};
use crate::server::Processes;

/// An error as the client sees it: MySQL's error number, SQLSTATE and text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ERROR {code} ({}): {message}", String::from_utf8_lossy(.sql_state))]
pub struct SqlError {
    pub code: u16,
    pub sql_state: [u8; 5],
    /// Cut to 512 bytes when sent, as MySQL does.
    pub message: String,
}

impl SqlError {
    pub fn new(error: MysqlError, message: impl Into<String>) -> Self {
        Self {
            code: error.code,
            sql_state: error.sql_state,
            message: message.into(),
        }
    }

    pub fn mysql_error(&self) -> MysqlError {
        MysqlError {
            code: self.code,
            sql_state: self.sql_state,
        }
    }
}

/// The SQL engine as the server sees it; one per server, shared by every
/// connection thread.
pub trait Backend: Send + Sync + 'static {
    /// The stored credential of `user` connecting from `host` (the peer's IP
    /// address as text), or `None` if there is no such account. Never called
    /// with an empty user name.
    fn credential(&self, user: &str, host: &str) -> Option<StoredCredential>;

    /// A session for a client that has authenticated. Refuse a
    /// `context.database` that does not exist (1049) or that the user may not
    /// use (1044); the server sends the error and closes.
    fn open_session(&self, context: SessionContext) -> Result<Box<dyn Session>, SqlError>;
}

/// One client connection's SQL state. Called from one thread at a time.
/// Dropping it means the connection is gone: roll back what is open.
pub trait Session: Send {
    /// Run the statements in `sql`, reporting each one's result to `results`:
    /// either `columns`, any number of `row`s and `done`, or just `done`.
    /// More than one statement is allowed only if `multi_statements` (else
    /// the SQL layer answers as MySQL does, with a parse error, 1064). Stop at
    /// the first failing statement and return its error; statements already
    /// reported stay reported. An error from `results` means the client is
    /// gone or the sink was misused: return it.
    fn execute(
        &mut self,
        sql: &str,
        multi_statements: bool,
        results: &mut dyn ResultSink,
    ) -> Result<(), SqlError>;

    /// Prepare one statement under `statement_id` (chosen by the server,
    /// unique within the connection until `close_prepared`).
    fn prepare(&mut self, statement_id: StatementId, sql: &str) -> Result<Prepared, SqlError>;

    /// Execute a prepared statement; `params` has one value per placeholder
    /// (the server checked the count). Results as for `execute`, one
    /// statement.
    fn execute_prepared(
        &mut self,
        statement_id: StatementId,
        params: &[Value<'_>],
        results: &mut dyn ResultSink,
    ) -> Result<(), SqlError>;

    /// Forget a prepared statement. Unknown ids are the server's to filter;
    /// this is only called for ids `prepare` accepted.
    fn close_prepared(&mut self, statement_id: StatementId);

    /// COM_INIT_DB (`USE` from a client library): switch the default database.
    fn init_db(&mut self, database: &str) -> Result<(), SqlError>;

    /// COM_FIELD_LIST: the columns of `table` in the default database whose
    /// names match the LIKE pattern `wildcard` (empty: all).
    fn field_list(&mut self, table: &str, wildcard: &str) -> Result<Vec<ListedField>, SqlError>;

    /// COM_RESET_CONNECTION: roll back, drop temporary tables, release
    /// locks, reset session variables and forget every prepared statement,
    /// as if the client had reconnected (user and database stay).
    fn reset_connection(&mut self) -> Result<(), SqlError>;

    /// Status flags for OK packets sent outside `execute` (COM_PING,
    /// COM_INIT_DB, ...): IN_TRANS, AUTOCOMMIT, IN_TRANS_READONLY,
    /// NO_BACKSLASH_ESCAPES.
    fn status(&self) -> StatusFlags;

    /// The default database, for the process list.
    fn database(&self) -> Option<&str>;

    /// Whether this session's user may kill other users' connections
    /// (MySQL's CONNECTION_ADMIN or SUPER). Own connections always may be.
    fn may_kill_other_users(&self) -> bool;
}

/// What the server tells the SQL layer about a new session.
#[derive(Debug, Clone)]
pub struct SessionContext {
    pub connection_id: u32,
    pub user: String,
    /// The peer's IP address as text.
    pub host: String,
    /// Default database from the handshake; check it exists.
    pub database: Option<String>,
    /// Collation id the client asked for in the handshake.
    pub charset: u8,
    /// Capabilities in force (client's and server's intersected).
    pub capabilities: CapabilityFlags,
    pub plugin: AuthPlugin,
    pub connect_attributes: Vec<(String, String)>,
    /// Poll `interrupt.check()` between rows and in long loops: KILL and
    /// shutdown land there.
    pub interrupt: Interrupt,
    /// The server's connections, for `KILL` and `SHOW PROCESSLIST`.
    pub processes: Processes,
}

/// Prepared statement metadata, sent in COM_STMT_PREPARE_OK. At most 65535
/// of each.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Prepared {
    /// One per placeholder; `Column::placeholder()` when the type is open.
    pub params: Vec<Column>,
    /// The result's columns; empty for statements without rows.
    pub columns: Vec<Column>,
}

/// A column's metadata, owned (for prepared statements and field lists;
/// `ResultSink::columns` takes borrowed `ColumnDefinition`s directly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub schema: String,
    pub table: String,
    pub org_table: String,
    pub name: String,
    pub org_name: String,
    /// Collation id; 63 (binary) for numbers and temporal types.
    pub charset: u16,
    pub column_length: u32,
    pub column_type: ColumnType,
    pub flags: ColumnFlags,
    pub decimals: u8,
}

impl Column {
    /// What MySQL describes a `?` with when it cannot tell its type.
    pub fn placeholder() -> Self {
        Self::from_definition(&ColumnDefinition::PARAMETER_PLACEHOLDER)
    }

    pub fn from_definition(definition: &ColumnDefinition<'_>) -> Self {
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        Self {
            schema: text(definition.schema),
            table: text(definition.table),
            org_table: text(definition.org_table),
            name: text(definition.name),
            org_name: text(definition.org_name),
            charset: definition.charset,
            column_length: definition.column_length,
            column_type: definition.column_type,
            flags: definition.flags,
            decimals: definition.decimals,
        }
    }

    pub fn definition(&self) -> ColumnDefinition<'_> {
        ColumnDefinition {
            schema: self.schema.as_bytes(),
            table: self.table.as_bytes(),
            org_table: self.org_table.as_bytes(),
            name: self.name.as_bytes(),
            org_name: self.org_name.as_bytes(),
            charset: self.charset,
            column_length: self.column_length,
            column_type: self.column_type,
            flags: self.flags,
            decimals: self.decimals,
        }
    }
}

/// One column in a COM_FIELD_LIST answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedField {
    pub column: Column,
    /// The column's DEFAULT as text; `None` for no default (sent as NULL).
    pub default_value: Option<Vec<u8>>,
}

/// How a statement ended, for the OK packet (statements without rows) or
/// the end of a result set's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary<'a> {
    /// Rows changed; ignored after a result set (MySQL sends 0 there).
    pub affected_rows: u64,
    pub last_insert_id: u64,
    /// IN_TRANS, AUTOCOMMIT, ... after the statement. The server adds
    /// MORE_RESULTS_EXISTS itself when another statement's result follows.
    pub status: StatusFlags,
    pub warning_count: u16,
    /// Human-readable info ("Rows matched: 1  Changed: 1  Warnings: 0").
    pub info: &'a str,
}

/// Where a session reports statement results; implemented by the server,
/// which encodes them for the client as they come. Per statement the calls
/// are `columns`, `row`*, `done` for a result set, or only `done`. An error
/// means the client is gone or the calls were out of order: stop and return
/// it.
pub trait ResultSink {
    /// Start a result set. At least one column.
    fn columns(&mut self, columns: &[ColumnDefinition<'_>]) -> Result<(), SqlError>;
    /// One row: a value per column, each of a kind its column type can carry
    /// (integers for integer types, `Bytes` for strings, `Decimal` text for
    /// DECIMAL, ...). Text rows accept anything; binary rows check.
    fn row(&mut self, values: &[Value<'_>]) -> Result<(), SqlError>;
    /// End the statement: after rows, their end; otherwise an OK.
    fn done(&mut self, summary: &Summary<'_>) -> Result<(), SqlError>;
}

/// Why a connection's work should stop, shared between its thread and
/// whoever asks it to stop (KILL, shutdown), and the running statement's
/// time limit (max_execution_time), checked at the same places. Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct Interrupt(Arc<InterruptState>);

#[derive(Debug)]
struct InterruptState {
    /// An `InterruptReason` as u8; 0: none.
    reason: AtomicU8,
    /// When the running statement must stop, in microseconds after
    /// `origin`; 0: no limit. Only the connection's own thread sets it.
    deadline_us: AtomicU64,
    origin: Instant,
}

impl Default for Interrupt {
    fn default() -> Self {
        Self(Arc::new(InterruptState {
            reason: AtomicU8::new(0),
            deadline_us: AtomicU64::new(0),
            origin: Instant::now(),
        }))
    }
}

/// What an `Interrupt` asks for; later reasons never downgrade earlier ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum InterruptReason {
    /// KILL QUERY: stop the running statement; the connection stays.
    Query = 1,
    /// KILL [CONNECTION]: stop, then the connection closes.
    Connection = 2,
    /// Server shutdown: stop, then the connection closes.
    Shutdown = 3,
}

impl Interrupt {
    pub fn new() -> Self {
        Self::default()
    }

    /// Ok, or the error the running statement must fail with: 1317 after
    /// a KILL, 1053 during shutdown, 3024 past the statement's time limit.
    /// The SQL layer calls it between rows, so it is also where a long
    /// statement on a fiber gives its core's other sessions a turn
    /// (`yield_if_due`: every 2 ms of running).
    pub fn check(&self) -> Result<(), SqlError> {
        floe_rt::sched::yield_if_due();
        match self.reason() {
            None => {
                let deadline_us = self.0.deadline_us.load(Ordering::Relaxed);
                if deadline_us != 0 && self.elapsed_us() >= deadline_us {
                    return Err(SqlError::new(
                        codes::ER_QUERY_TIMEOUT,
                        "Query execution was interrupted, maximum statement execution time exceeded",
                    ));
                }
                Ok(())
            }
            Some(InterruptReason::Query | InterruptReason::Connection) => Err(SqlError::new(
                codes::ER_QUERY_INTERRUPTED,
                "Query execution was interrupted",
            )),
            Some(InterruptReason::Shutdown) => Err(SqlError::new(
                codes::ER_SERVER_SHUTDOWN,
                "Server shutdown in progress",
            )),
        }
    }

    pub fn reason(&self) -> Option<InterruptReason> {
        match self.0.reason.load(Ordering::Acquire) {
            1 => Some(InterruptReason::Query),
            2 => Some(InterruptReason::Connection),
            3 => Some(InterruptReason::Shutdown),
            _ => None,
        }
    }

    /// Raise to `reason` unless a stronger reason is already set.
    pub fn raise(&self, reason: InterruptReason) {
        self.0.reason.fetch_max(reason as u8, Ordering::AcqRel);
    }

    /// Limit the statement about to run to `limit` from now (None: no
    /// limit); `check` fails with 3024 once it is spent. The statement's
    /// end calls this with None.
    pub fn set_time_limit(&self, limit: Option<Duration>) {
        let deadline_us = limit.map_or(0, |limit| {
            let limit_us = u64::try_from(limit.as_micros()).unwrap_or(u64::MAX);
            self.elapsed_us().saturating_add(limit_us).max(1)
        });
        self.0.deadline_us.store(deadline_us, Ordering::Relaxed);
    }

    fn elapsed_us(&self) -> u64 {
        u64::try_from(self.0.origin.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Clear a KILL QUERY before the next command; stronger reasons stay.
    pub fn clear_query(&self) {
        let _ = self.0.reason.compare_exchange(
            InterruptReason::Query as u8,
            0,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reasons only ever strengthen, KILL QUERY clears, and check() maps each
    // reason to MySQL's error.
    #[test]
    fn interrupt_reasons() {
        let interrupt = Interrupt::new();
        assert_eq!(interrupt.check(), Ok(()));
        interrupt.raise(InterruptReason::Query);
        assert_eq!(interrupt.check().map_err(|e| e.code), Err(1317));
        interrupt.clear_query();
        assert_eq!(interrupt.reason(), None);
        interrupt.raise(InterruptReason::Shutdown);
        interrupt.raise(InterruptReason::Query);
        interrupt.clear_query();
        assert_eq!(interrupt.reason(), Some(InterruptReason::Shutdown));
        assert_eq!(interrupt.check().map_err(|e| e.code), Err(1053));
        let error = SqlError::new(codes::ER_PARSE_ERROR, "near 'x'");
        assert_eq!(error.to_string(), "ERROR 1064 (42000): near 'x'");
    }

    // A statement's time limit fails check() with 3024 once spent (waited
    // for by polling, bounded), a KILL still reads as 1317, and clearing
    // the limit or a generous one lets check() pass.
    #[test]
    fn statement_time_limit() {
        let interrupt = Interrupt::new();
        interrupt.set_time_limit(Some(Duration::from_secs(3600)));
        assert_eq!(interrupt.check(), Ok(()));
        interrupt.set_time_limit(Some(Duration::ZERO));
        let mut code = None;
        for _ in 0..100_000_000u64 {
            if let Err(e) = interrupt.check() {
                code = Some(e.code);
                break;
            }
            std::hint::spin_loop();
        }
        assert_eq!(code, Some(3024), "a spent time limit stops the statement");
        interrupt.raise(InterruptReason::Query);
        assert_eq!(interrupt.check().map_err(|e| e.code), Err(1317));
        interrupt.clear_query();
        interrupt.set_time_limit(None);
        assert_eq!(interrupt.check(), Ok(()));
    }
}
