//! Shared by the server's integration tests: a small `Backend`/`Session`
//! test double standing in for the SQL layer (it understands a handful of
//! statements and answers everything else with 1064), and a MySQL client
//! built from the protocol module's own encoders and decoders.
#![allow(dead_code)] // each test binary uses a different part

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use floe_rt::sched::{Scheduler, SchedulerConfig, SchedulerHandle};
use floe_server::protocol::auth::{caching_sha2_response, native_password_response};
use floe_server::protocol::codes;
use floe_server::protocol::handshake::{HandshakeResponse41, HandshakeV10, FAST_AUTH_SUCCESS};
use floe_server::protocol::response::{parse_binary_row, parse_text_row};
use floe_server::protocol::wire::Reader;
use floe_server::protocol::{
    AuthPlugin, CapabilityFlags, ColumnDefinition, ColumnFlags, ColumnType, Command, Decoded,
    EofPacket, ErrPacket, MaxAllowedPacket, NativePasswordHash, OkPacket, PacketCodec, Scramble,
    Sha2PasswordDigest, StatementId, StatusFlags, StmtExecute, StoredCredential, Value,
};
use floe_server::{
    Backend, Column, KillRequester, KillScope, ListedField, OsEntropy, Prepared, ResultSink,
    RunningServer, Server, ServerConfig, Session, SessionContext, SqlError, Summary,
};

/// How long any single wait in a test may take before it fails.
pub const TEST_DEADLINE: Duration = Duration::from_secs(60);

/// Accounts: `app`/`pw` (caching_sha2_password), `native`/`pw1`
/// (mysql_native_password), `root`/`rootpw` (may kill others' connections).
pub fn accounts() -> HashMap<String, StoredCredential> {
    HashMap::from([
        (
            "app".to_owned(),
            StoredCredential::CachingSha2Password(Some(Sha2PasswordDigest::from_password(b"pw"))),
        ),
        (
            "native".to_owned(),
            StoredCredential::NativePassword(NativePasswordHash::from_password(b"pw1")),
        ),
        (
            "root".to_owned(),
            StoredCredential::CachingSha2Password(Some(Sha2PasswordDigest::from_password(
                b"rootpw",
            ))),
        ),
    ])
}

/// Counters the test double keeps, shared with the test.
#[derive(Default)]
pub struct Counters {
    pub sessions_open: AtomicUsize,
    pub sessions_opened: AtomicUsize,
    /// Sessions dropped with a transaction open (the SQL layer would roll
    /// back there).
    pub rolled_back: AtomicUsize,
    /// Statements currently inside `SPIN`.
    pub spinning: AtomicUsize,
}

pub struct TestBackend {
    pub accounts: HashMap<String, StoredCredential>,
    /// Every credential lookup, to check what reaches the backend.
    pub credential_lookups: std::sync::Mutex<Vec<(String, String)>>,
    pub counters: Arc<Counters>,
}

impl TestBackend {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            accounts: accounts(),
            credential_lookups: std::sync::Mutex::new(Vec::new()),
            counters: Arc::new(Counters::default()),
        })
    }
}

impl Backend for TestBackend {
    fn credential(&self, user: &str, host: &str) -> Option<StoredCredential> {
        self.credential_lookups
            .lock()
            .expect("lookups")
            .push((user.to_owned(), host.to_owned()));
        self.accounts.get(user).copied()
    }

    fn open_session(&self, context: SessionContext) -> Result<Box<dyn Session>, SqlError> {
        if context.database.as_deref() == Some("missing") {
            return Err(SqlError::new(
                codes::ER_BAD_DB_ERROR,
                "Unknown database 'missing'",
            ));
        }
        self.counters.sessions_open.fetch_add(1, Ordering::SeqCst);
        self.counters.sessions_opened.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(TestSession {
            database: context.database.clone(),
            context,
            counters: Arc::clone(&self.counters),
            in_transaction: false,
            prepared: HashMap::new(),
        }))
    }
}

pub struct TestSession {
    context: SessionContext,
    counters: Arc<Counters>,
    database: Option<String>,
    in_transaction: bool,
    prepared: HashMap<u32, String>,
}

fn column(name: &str, column_type: ColumnType) -> Column {
    Column {
        schema: String::new(),
        table: String::new(),
        org_table: String::new(),
        name: name.to_owned(),
        org_name: String::new(),
        charset: if column_type == ColumnType::VarString {
            255
        } else {
            63
        },
        column_length: 21,
        column_type,
        flags: if column_type == ColumnType::VarString {
            ColumnFlags::empty()
        } else {
            ColumnFlags::NOT_NULL | ColumnFlags::NUM
        },
        decimals: 0,
    }
}

fn parse_error(statement: &str) -> SqlError {
    SqlError::new(
        codes::ER_PARSE_ERROR,
        format!(
            "You have an error in your SQL syntax; check the manual that corresponds to your \
             MySQL server version for the right syntax to use near '{statement}' at line 1"
        ),
    )
}

impl TestSession {
    fn status_flags(&self) -> StatusFlags {
        if self.in_transaction {
            StatusFlags::AUTOCOMMIT | StatusFlags::IN_TRANS
        } else {
            StatusFlags::AUTOCOMMIT
        }
    }

    fn summary(&self) -> Summary<'static> {
        Summary {
            status: self.status_flags(),
            ..Summary::default()
        }
    }

    fn run_one(&mut self, statement: &str, results: &mut dyn ResultSink) -> Result<(), SqlError> {
        let upper = statement.to_ascii_uppercase();
        if let Some(number) = upper.strip_prefix("SELECT ") {
            let number: i64 = number.trim().parse().map_err(|_| parse_error(statement))?;
            let name = number.to_string();
            results.columns(&[column(&name, ColumnType::LongLong).definition()])?;
            results.row(&[Value::Int(number)])?;
            return results.done(&self.summary());
        }
        if let Some(bytes) = upper.strip_prefix("REPEAT ") {
            // One row holding a string of that many bytes.
            let bytes: usize = bytes.trim().parse().map_err(|_| parse_error(statement))?;
            let text = vec![b'x'; bytes];
            results.columns(&[column("repeat", ColumnType::VarString).definition()])?;
            results.row(&[Value::Bytes(&text)])?;
            return results.done(&self.summary());
        }
        if let Some(id) = upper.strip_prefix("KILL ") {
            let id: u32 = id.trim().parse().map_err(|_| parse_error(statement))?;
            let requester = KillRequester {
                connection_id: self.context.connection_id,
                user: &self.context.user,
                may_kill_other_users: self.may_kill_other_users(),
            };
            self.context
                .processes
                .kill(requester, id, KillScope::Query)?;
            return results.done(&self.summary());
        }
        match upper.as_str() {
            "BEGIN" => {
                self.in_transaction = true;
                results.done(&self.summary())
            }
            "COMMIT" | "ROLLBACK" => {
                self.in_transaction = false;
                results.done(&self.summary())
            }
            "INSERT" => results.done(&Summary {
                affected_rows: 1,
                last_insert_id: 7,
                info: "inserted",
                ..self.summary()
            }),
            "SPIN" => {
                // Runs until KILL or shutdown interrupts it (at most the
                // test deadline), polling the interrupt as the SQL layer's
                // executor does between rows.
                self.counters.spinning.fetch_add(1, Ordering::SeqCst);
                let deadline = Instant::now() + TEST_DEADLINE;
                let outcome = loop {
                    if let Err(error) = self.context.interrupt.check() {
                        break Err(error);
                    }
                    if Instant::now() > deadline {
                        break Err(SqlError::new(codes::ER_UNKNOWN_ERROR, "SPIN never killed"));
                    }
                    // Parks the fiber, not its core.
                    floe_rt::sched::sleep(Duration::from_millis(1));
                };
                self.counters.spinning.fetch_sub(1, Ordering::SeqCst);
                outcome
            }
            _ => Err(parse_error(statement)),
        }
    }
}

impl Session for TestSession {
    fn execute(
        &mut self,
        sql: &str,
        multi_statements: bool,
        results: &mut dyn ResultSink,
    ) -> Result<(), SqlError> {
        let statements: Vec<&str> = sql
            .split(';')
            .map(str::trim)
            .filter(|statement| !statement.is_empty())
            .collect();
        if statements.len() > 1 && !multi_statements {
            return Err(parse_error(statements[1]));
        }
        if statements.is_empty() {
            return Err(SqlError {
                code: 1065,
                sql_state: *b"42000",
                message: "Query was empty".to_owned(),
            });
        }
        for statement in statements {
            self.run_one(statement, results)?;
        }
        Ok(())
    }

    fn prepare(&mut self, statement_id: StatementId, sql: &str) -> Result<Prepared, SqlError> {
        let upper = sql.trim().to_ascii_uppercase();
        let prepared = if upper == "SELECT ?" {
            Prepared {
                params: vec![Column::placeholder()],
                columns: vec![column("?", ColumnType::VarString)],
            }
        } else if upper == "SELECT ?, ?" {
            Prepared {
                params: vec![Column::placeholder(), Column::placeholder()],
                columns: vec![
                    column("a", ColumnType::VarString),
                    column("b", ColumnType::VarString),
                ],
            }
        } else if let Some(number) = upper.strip_prefix("SELECT ") {
            number.trim().parse::<i64>().map_err(|_| parse_error(sql))?;
            Prepared {
                params: vec![],
                columns: vec![column("n", ColumnType::LongLong)],
            }
        } else if upper == "INSERT" {
            Prepared::default()
        } else {
            return Err(parse_error(sql));
        };
        self.prepared.insert(statement_id.0, upper);
        Ok(prepared)
    }

    fn execute_prepared(
        &mut self,
        statement_id: StatementId,
        params: &[Value<'_>],
        results: &mut dyn ResultSink,
    ) -> Result<(), SqlError> {
        let Some(sql) = self.prepared.get(&statement_id.0).cloned() else {
            return Err(SqlError::new(codes::ER_UNKNOWN_ERROR, "session lost it"));
        };
        if sql == "INSERT" {
            return results.done(&Summary {
                affected_rows: 1,
                ..self.summary()
            });
        }
        if sql.contains('?') {
            // Echo each parameter as text: the binary decoding is what is
            // under test.
            let texts: Vec<Option<String>> = params.iter().map(value_text).collect();
            let names = ["?", "a", "b"];
            let columns: Vec<Column> = (0..params.len())
                .map(|index| {
                    column(
                        names[if params.len() == 1 { 0 } else { index + 1 }],
                        ColumnType::VarString,
                    )
                })
                .collect();
            let definitions: Vec<ColumnDefinition<'_>> =
                columns.iter().map(Column::definition).collect();
            results.columns(&definitions)?;
            let values: Vec<Value<'_>> = texts
                .iter()
                .map(|text| match text {
                    Some(text) => Value::Bytes(text.as_bytes()),
                    None => Value::Null,
                })
                .collect();
            results.row(&values)?;
            return results.done(&self.summary());
        }
        let number: i64 = sql
            .strip_prefix("SELECT ")
            .and_then(|number| number.trim().parse().ok())
            .ok_or_else(|| parse_error(&sql))?;
        results.columns(&[column("n", ColumnType::LongLong).definition()])?;
        results.row(&[Value::Int(number)])?;
        results.done(&self.summary())
    }

    fn close_prepared(&mut self, statement_id: StatementId) {
        self.prepared.remove(&statement_id.0);
    }

    fn init_db(&mut self, database: &str) -> Result<(), SqlError> {
        if database == "missing" {
            return Err(SqlError::new(
                codes::ER_BAD_DB_ERROR,
                "Unknown database 'missing'",
            ));
        }
        self.database = Some(database.to_owned());
        Ok(())
    }

    fn field_list(&mut self, table: &str, _wildcard: &str) -> Result<Vec<ListedField>, SqlError> {
        if table != "t" {
            return Err(SqlError {
                code: 1146,
                sql_state: *b"42S02",
                message: format!("Table 'db.{table}' doesn't exist"),
            });
        }
        Ok(vec![
            ListedField {
                column: column("id", ColumnType::LongLong),
                default_value: None,
            },
            ListedField {
                column: column("name", ColumnType::VarString),
                default_value: Some(b"x".to_vec()),
            },
        ])
    }

    fn reset_connection(&mut self) -> Result<(), SqlError> {
        self.in_transaction = false;
        self.prepared.clear();
        Ok(())
    }

    fn status(&self) -> StatusFlags {
        self.status_flags()
    }

    fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    fn may_kill_other_users(&self) -> bool {
        self.context.user == "root"
    }
}

impl Drop for TestSession {
    fn drop(&mut self) {
        if self.in_transaction {
            self.counters.rolled_back.fetch_add(1, Ordering::SeqCst);
        }
        self.counters.sessions_open.fetch_sub(1, Ordering::SeqCst);
    }
}

fn value_text(value: &Value<'_>) -> Option<String> {
    Some(match value {
        Value::Null => return None,
        Value::Int(v) => v.to_string(),
        Value::UInt(v) => v.to_string(),
        Value::Float(v) => v.to_string(),
        Value::Double(v) => v.to_string(),
        Value::Decimal(bytes) | Value::Bytes(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        other => format!("{other:?}"),
    })
}

/// The test process's cores: two, unpinned (tests share the machine),
/// alive until the process ends.
fn scheduler() -> SchedulerHandle {
    static SCHEDULER: OnceLock<Scheduler> = OnceLock::new();
    let scheduler = SCHEDULER.get_or_init(|| {
        let available = floe_rt::available_cores();
        Scheduler::start(SchedulerConfig {
            cores: (0..2).map(|i| available[i % available.len()]).collect(),
            pin: false,
            name: "server-test-core".to_owned(),
            ..SchedulerConfig::default()
        })
        .expect("scheduler starts")
    });
    scheduler.handle().clone()
}

/// A server on a free loopback port with `config`'s other settings, its
/// connections fibers on the test process's two cores (as in the appliance).
pub fn start(config: ServerConfig) -> (RunningServer, Arc<TestBackend>) {
    start_with(ServerConfig {
        scheduler: Some(scheduler()),
        ..config
    })
}

/// As `start`, with one thread per connection (no scheduler).
pub fn start_on_threads(config: ServerConfig) -> (RunningServer, Arc<TestBackend>) {
    start_with(ServerConfig {
        scheduler: None,
        ..config
    })
}

fn start_with(config: ServerConfig) -> (RunningServer, Arc<TestBackend>) {
    let backend = TestBackend::new();
    let server = Server::start(
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..config
        },
        backend.clone(),
        Arc::new(OsEntropy),
    )
    .expect("server starts");
    (server, backend)
}

/// Wait until `condition` holds, or fail naming `what`.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + TEST_DEADLINE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// An ERR from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    pub code: u16,
    pub sql_state: String,
    pub message: String,
}

/// One statement's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryResult {
    Rows {
        columns: Vec<String>,
        rows: Vec<Vec<Option<String>>>,
        status: StatusFlags,
    },
    Ok {
        affected_rows: u64,
        last_insert_id: u64,
        status: StatusFlags,
    },
}

impl QueryResult {
    pub fn status(&self) -> StatusFlags {
        match self {
            QueryResult::Rows { status, .. } | QueryResult::Ok { status, .. } => *status,
        }
    }
}

/// A MySQL client over the protocol module, for tests.
pub struct Client {
    pub stream: TcpStream,
    codec: PacketCodec,
    input: Vec<u8>,
    pub capabilities: CapabilityFlags,
    pub connection_id: u32,
    /// Accept whatever sequence id the server answers with: for tests that
    /// write raw bytes past this client's codec.
    pub lenient_sequence: bool,
}

pub fn client_capabilities(deprecate_eof: bool) -> CapabilityFlags {
    let mut capabilities = CapabilityFlags::SERVER_DEFAULT;
    capabilities.set(CapabilityFlags::DEPRECATE_EOF, deprecate_eof);
    capabilities.remove(CapabilityFlags::QUERY_ATTRIBUTES);
    // Not interactive: wait_timeout applies, not interactive_timeout.
    capabilities.remove(CapabilityFlags::INTERACTIVE);
    capabilities
}

impl Client {
    /// Open a TCP connection and read the greeting (or the ERR sent in its
    /// place).
    pub fn open(addr: SocketAddr) -> Result<(Self, Scramble), ServerError> {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(TEST_DEADLINE))
            .expect("read timeout");
        let mut client = Self {
            stream,
            codec: PacketCodec::new(MaxAllowedPacket::new(1 << 30).expect("in range")),
            input: Vec::new(),
            capabilities: client_capabilities(true),
            connection_id: 0,
            lenient_sequence: false,
        };
        let greeting = client.read_payload();
        if greeting.first() == Some(&0xff) {
            return Err(parse_err(&greeting));
        }
        let greeting = HandshakeV10::parse(&greeting).expect("greeting parses");
        client.connection_id = greeting.connection_id;
        Ok((client, greeting.scramble))
    }

    /// Connect and authenticate as `user` with `password`, answering with
    /// `plugin`'s scramble (the server may switch us).
    pub fn connect_with(
        addr: SocketAddr,
        user: &str,
        password: &str,
        plugin: AuthPlugin,
        database: Option<&str>,
        capabilities: CapabilityFlags,
    ) -> Result<Self, ServerError> {
        let (mut client, scramble) = Self::open(addr)?;
        client.capabilities = capabilities;
        let auth = |plugin: AuthPlugin, scramble: &Scramble| -> Vec<u8> {
            if password.is_empty() {
                return Vec::new();
            }
            match plugin {
                AuthPlugin::MysqlNativePassword => {
                    native_password_response(password.as_bytes(), scramble).to_vec()
                }
                AuthPlugin::CachingSha2Password => {
                    caching_sha2_response(password.as_bytes(), scramble).to_vec()
                }
            }
        };
        let mut response = Vec::new();
        HandshakeResponse41 {
            capabilities,
            max_packet_bytes: 1 << 24,
            charset: 255,
            username: user.as_bytes(),
            auth_response: &auth(plugin, &scramble),
            database: database.map(str::as_bytes),
            auth_plugin_name: Some(plugin.name().as_bytes()),
            connect_attributes: vec![(b"_client_name", b"floe-test")],
            zstd_compression_level: None,
        }
        .emit(&mut response)
        .expect("response encodes");
        client.write_payload(&response);
        loop {
            let payload = client.read_payload();
            match payload.first() {
                Some(0x00) => return Ok(client),
                Some(0xff) => return Err(parse_err(&payload)),
                Some(0x01) => assert_eq!(payload, FAST_AUTH_SUCCESS),
                Some(0xfe) => {
                    let mut reader = Reader::new(&payload[1..]);
                    let name = reader.nul_bytes("plugin").expect("switch plugin");
                    let data = reader.rest();
                    let plugin = AuthPlugin::from_name(name).expect("known plugin");
                    let scramble = Scramble::from_bytes(
                        data.get(..20).expect("scramble").try_into().expect("20"),
                    );
                    let answer = auth(plugin, &scramble);
                    client.write_payload(&answer);
                }
                other => panic!("unexpected handshake packet {other:?}"),
            }
        }
    }

    pub fn connect(addr: SocketAddr, user: &str, password: &str) -> Result<Self, ServerError> {
        Self::connect_with(
            addr,
            user,
            password,
            AuthPlugin::CachingSha2Password,
            None,
            client_capabilities(true),
        )
    }

    pub fn write_payload(&mut self, payload: &[u8]) {
        let mut out = Vec::new();
        self.codec.write_packet(&mut out, payload);
        self.stream.write_all(&out).expect("write");
    }

    /// The next packet's payload; panics on EOF or timeout.
    pub fn read_payload(&mut self) -> Vec<u8> {
        self.try_read_payload()
            .expect("server closed the connection")
    }

    /// The next packet's payload, or `None` at end of stream.
    pub fn try_read_payload(&mut self) -> Option<Vec<u8>> {
        loop {
            match self.codec.decode(&self.input) {
                Ok(Decoded::Packet {
                    payload,
                    consumed_bytes,
                }) => {
                    let payload = payload.into_owned();
                    self.input.drain(..consumed_bytes);
                    return Some(payload);
                }
                Ok(Decoded::NeedMore { consumed_bytes, .. }) => {
                    self.input.drain(..consumed_bytes);
                }
                Err(floe_server::protocol::ProtocolError::SequenceMismatch { found, .. })
                    if self.lenient_sequence =>
                {
                    self.codec.set_sequence_id(found);
                    continue;
                }
                Err(error) => panic!("server framing: {error}"),
            }
            let mut buffer = [0; 65536];
            match self.stream.read(&mut buffer) {
                Ok(0) => return None,
                Ok(read_bytes) => self.input.extend_from_slice(&buffer[..read_bytes]),
                Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(error) => panic!("read: {error}"),
            }
        }
    }

    /// Whether the server closed the connection (after any packets left).
    pub fn closed(&mut self) -> bool {
        self.try_read_payload().is_none()
    }

    pub fn send(&mut self, command: &Command<'_>) {
        self.codec.start_command();
        let mut payload = Vec::new();
        command.emit(self.capabilities, &mut payload);
        self.write_payload(&payload);
    }

    /// Start a command whose payload we built ourselves.
    pub fn send_raw(&mut self, payload: &[u8]) {
        self.codec.start_command();
        self.write_payload(payload);
    }

    /// Read one statement's result (a result set or OK), or the ERR.
    pub fn read_result(&mut self, binary: bool) -> Result<QueryResult, ServerError> {
        let first = self.read_payload();
        match first.first() {
            Some(0x00) => {
                let ok = OkPacket::parse(&first, self.capabilities).expect("OK");
                return Ok(QueryResult::Ok {
                    affected_rows: ok.affected_rows,
                    last_insert_id: ok.last_insert_id,
                    status: ok.status,
                });
            }
            Some(0xff) => return Err(parse_err(&first)),
            _ => {}
        }
        let column_count = Reader::new(&first)
            .lenenc_int("column count")
            .expect("column count") as usize;
        let mut columns = Vec::new();
        let mut types = Vec::new();
        for _ in 0..column_count {
            let payload = self.read_payload();
            let definition = ColumnDefinition::parse(&payload).expect("column definition");
            columns.push(String::from_utf8_lossy(definition.name).into_owned());
            types.push((
                definition.column_type,
                definition.flags.contains(ColumnFlags::UNSIGNED),
            ));
        }
        if !self.capabilities.contains(CapabilityFlags::DEPRECATE_EOF) {
            let eof = self.read_payload();
            EofPacket::parse(&eof, self.capabilities).expect("EOF after definitions");
        }
        let mut rows = Vec::new();
        loop {
            let payload = self.read_payload();
            match payload.first() {
                Some(0xff) => return Err(parse_err(&payload)),
                Some(0xfe) if payload.len() < 0xff_ffff => {
                    let status = if self.capabilities.contains(CapabilityFlags::DEPRECATE_EOF) {
                        OkPacket::parse(&payload, self.capabilities)
                            .expect("OK ending rows")
                            .status
                    } else {
                        EofPacket::parse(&payload, self.capabilities)
                            .expect("EOF ending rows")
                            .status
                    };
                    return Ok(QueryResult::Rows {
                        columns,
                        rows,
                        status,
                    });
                }
                _ => {}
            }
            let row = if binary {
                parse_binary_row(&payload, &types)
                    .expect("binary row")
                    .iter()
                    .map(|value| value_text(value))
                    .collect()
            } else {
                parse_text_row(&payload, column_count)
                    .expect("text row")
                    .into_iter()
                    .map(|value| value.map(|bytes| String::from_utf8_lossy(bytes).into_owned()))
                    .collect()
            };
            rows.push(row);
        }
    }

    /// Every result of a COM_QUERY, following MORE_RESULTS_EXISTS; stops at
    /// the first ERR, which is returned with the results before it.
    pub fn query_all(&mut self, sql: &str) -> (Vec<QueryResult>, Option<ServerError>) {
        self.send(&Command::Query {
            attributes: vec![],
            sql: sql.as_bytes(),
        });
        let mut results = Vec::new();
        loop {
            match self.read_result(false) {
                Ok(result) => {
                    let more = result.status().contains(StatusFlags::MORE_RESULTS_EXISTS);
                    results.push(result);
                    if !more {
                        return (results, None);
                    }
                }
                Err(error) => return (results, Some(error)),
            }
        }
    }

    /// One statement's rows as text, or its error.
    pub fn query(&mut self, sql: &str) -> Result<QueryResult, ServerError> {
        let (mut results, error) = self.query_all(sql);
        if let Some(error) = error {
            return Err(error);
        }
        assert_eq!(results.len(), 1, "one result expected for {sql}");
        Ok(results.remove(0))
    }

    /// `SELECT n` and check the single row.
    pub fn select(&mut self, number: i64) {
        let result = self.query(&format!("SELECT {number}")).expect("SELECT");
        let QueryResult::Rows { rows, .. } = result else {
            panic!("rows expected, got {result:?}");
        };
        assert_eq!(rows, vec![vec![Some(number.to_string())]]);
    }

    /// Prepare `sql`; the statement id, param count and column count.
    pub fn prepare(&mut self, sql: &str) -> Result<(u32, u16, u16), ServerError> {
        self.send(&Command::StmtPrepare {
            sql: sql.as_bytes(),
        });
        let payload = self.read_payload();
        if payload.first() == Some(&0xff) {
            return Err(parse_err(&payload));
        }
        let ok = floe_server::protocol::PrepareOk::parse(&payload).expect("PREPARE_OK");
        for count in [ok.param_count, ok.column_count] {
            if count == 0 {
                continue;
            }
            for _ in 0..count {
                ColumnDefinition::parse(&self.read_payload()).expect("definition");
            }
            if !self.capabilities.contains(CapabilityFlags::DEPRECATE_EOF) {
                EofPacket::parse(&self.read_payload(), self.capabilities).expect("EOF");
            }
        }
        Ok((ok.statement_id, ok.param_count, ok.column_count))
    }

    pub fn execute(
        &mut self,
        statement_id: u32,
        params: &[Value<'_>],
    ) -> Result<QueryResult, ServerError> {
        let named: Vec<(&[u8], Value<'_>)> =
            params.iter().map(|value| (&b""[..], *value)).collect();
        let mut payload = Vec::new();
        StmtExecute::emit_request(
            &mut payload,
            StatementId(statement_id),
            Default::default(),
            self.capabilities,
            &named,
        );
        self.send_raw(&payload);
        self.read_result(true)
    }
}

pub fn parse_err(payload: &[u8]) -> ServerError {
    let err = ErrPacket::parse(payload, CapabilityFlags::PROTOCOL_41).expect("ERR parses");
    ServerError {
        code: err.error.code,
        sql_state: String::from_utf8_lossy(&err.error.sql_state).into_owned(),
        message: err.message.to_owned(),
    }
}
