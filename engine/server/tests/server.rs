//! The server over real TCP sockets on loopback, driven by a client built
//! from the protocol module, against the test double in `common`.

mod common;

use std::io::Write;
use std::net::Shutdown;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use floe_server::protocol::{
    AuthPlugin, CapabilityFlags, Command, SetOption, StatementId, StatusFlags, Value,
};
use floe_server::ServerConfig;

fn server() -> (floe_server::RunningServer, std::sync::Arc<TestBackend>) {
    start(ServerConfig::default())
}

// Text queries, errors and the small commands each get MySQL's answer, and
// an error leaves the connection usable; checked with and without
// CLIENT_DEPRECATE_EOF.
#[test]
fn queries_errors_and_commands() {
    let (server, backend) = server();
    let addr = server.local_addr();
    for deprecate_eof in [true, false] {
        let mut client = Client::connect_with(
            addr,
            "app",
            "pw",
            AuthPlugin::CachingSha2Password,
            None,
            client_capabilities(deprecate_eof),
        )
        .expect("connects");
        client.select(1);
        client.select(-9_000_000_000);
        let error = client.query("SELEKT 1").expect_err("parse error");
        assert_eq!((error.code, error.sql_state.as_str()), (1064, "42000"));
        assert!(
            error.message.contains("near 'SELEKT 1'"),
            "{}",
            error.message
        );
        client.select(2);

        let result = client.query("INSERT").expect("insert");
        assert_eq!(
            result,
            QueryResult::Ok {
                affected_rows: 1,
                last_insert_id: 7,
                status: StatusFlags::AUTOCOMMIT
            }
        );
        let result = client.query("BEGIN").expect("begin");
        assert!(result.status().contains(StatusFlags::IN_TRANS));

        client.send(&Command::Ping);
        let ok = client.read_payload();
        assert_eq!(ok[0], 0x00, "OK to COM_PING");

        client.send(&Command::InitDb { schema: b"shop" });
        assert_eq!(client.read_payload()[0], 0x00);
        client.send(&Command::InitDb { schema: b"missing" });
        assert_eq!(parse_err(&client.read_payload()).code, 1049);

        client.send(&Command::Statistics);
        let text = String::from_utf8(client.read_payload()).expect("text");
        assert!(text.starts_with("Uptime: "), "{text}");
        assert!(text.contains("  Threads: "), "{text}");

        // COM_FIELD_LIST: definitions, each with its default, then the end.
        client.send(&Command::FieldList {
            table: b"t",
            wildcard: b"",
        });
        let first = client.read_payload();
        assert!(first.ends_with(&[0xfb]), "no default: NULL");
        let second = client.read_payload();
        assert!(second.ends_with(&[1, b'x']), "default 'x'");
        assert_eq!(client.read_payload()[0], 0xfe);
        client.send(&Command::FieldList {
            table: b"nope",
            wildcard: b"",
        });
        assert_eq!(parse_err(&client.read_payload()).code, 1146);

        // Well-formed but unknown command: 1047, connection stays.
        client.send_raw(&[0x11]); // COM_CHANGE_USER
        assert_eq!(parse_err(&client.read_payload()).code, 1047);
        // Statement that is not UTF-8: 1300, connection stays.
        client.send_raw(&[0x03, b'S', 0xff, 0xfe]);
        assert_eq!(parse_err(&client.read_payload()).code, 1300);
        client.select(3);

        // The process list shows the connection, its user and database.
        let processes = server.processes().list();
        let me = processes
            .iter()
            .find(|process| process.id == client.connection_id)
            .expect("listed");
        assert_eq!(me.user, "app");
        assert_eq!(me.host, "127.0.0.1");
        assert_eq!(me.database.as_deref(), Some("shop"));
        assert_eq!(me.command, "Sleep");

        client.send(&Command::Quit);
        assert!(client.closed(), "COM_QUIT closes");
    }
    wait_until("both sessions are dropped", || {
        backend.counters.sessions_open.load(Ordering::SeqCst) == 0
    });
    // The second session quit inside BEGIN: rolled back, as was the first.
    assert_eq!(backend.counters.rolled_back.load(Ordering::SeqCst), 2);
    server.shutdown(Duration::from_secs(10));
}

// Several statements in one COM_QUERY give one result each, all but the
// last flagged MORE_RESULTS_EXISTS; the first error ends the sequence.
// COM_SET_OPTION switches this per connection.
#[test]
fn multi_statements() {
    let (server, _backend) = server();
    let mut client = Client::connect(server.local_addr(), "app", "pw").expect("connects");
    let (results, error) = client.query_all("SELECT 1; SELECT 2; INSERT");
    assert_eq!(error, None);
    assert_eq!(results.len(), 3);
    for result in &results[..2] {
        assert!(result.status().contains(StatusFlags::MORE_RESULTS_EXISTS));
    }
    assert!(!results[2]
        .status()
        .contains(StatusFlags::MORE_RESULTS_EXISTS));
    let (results, error) = client.query_all("SELECT 1; bogus; SELECT 3");
    assert_eq!(results.len(), 1);
    assert_eq!(error.map(|error| error.code), Some(1064));

    client.send(&Command::SetOption(SetOption::MultiStatementsOff));
    assert_eq!(client.read_payload()[0], 0xfe, "EOF answers COM_SET_OPTION");
    let (results, error) = client.query_all("SELECT 1; SELECT 2");
    assert!(results.is_empty());
    assert_eq!(error.map(|error| error.code), Some(1064));
    client.send(&Command::SetOption(SetOption::MultiStatementsOn));
    assert_eq!(client.read_payload()[0], 0xfe);
    assert_eq!(client.query_all("SELECT 1; SELECT 2").0.len(), 2);

    // A client without CLIENT_MULTI_STATEMENTS gets one statement only.
    let mut capabilities = client_capabilities(true);
    capabilities.remove(CapabilityFlags::MULTI_STATEMENTS);
    let mut single = Client::connect_with(
        server.local_addr(),
        "app",
        "pw",
        AuthPlugin::CachingSha2Password,
        None,
        capabilities,
    )
    .expect("connects");
    assert_eq!(
        single.query_all("SELECT 1; SELECT 2").1.map(|e| e.code),
        Some(1064)
    );
    server.shutdown(Duration::from_secs(10));
}

// Prepared statements over the binary protocol: parameters of each kind
// decode, long data arrives, and close/reset/fetch/unknown ids get MySQL's
// answers; COM_RESET_CONNECTION forgets statements.
#[test]
fn prepared_statements() {
    let (server, _backend) = server();
    let mut client = Client::connect(server.local_addr(), "app", "pw").expect("connects");
    let (echo, params, columns) = client.prepare("SELECT ?").expect("prepares");
    assert_eq!((params, columns), (1, 1));
    for (value, text) in [
        (Value::Int(42), Some("42")),
        (Value::UInt(u64::MAX), Some("18446744073709551615")),
        (Value::Bytes(b"hello"), Some("hello")),
        (Value::Double(2.5), Some("2.5")),
        (Value::Null, None),
    ] {
        let result = client.execute(echo, &[value]).expect("executes");
        let QueryResult::Rows { rows, .. } = result else {
            panic!("rows expected");
        };
        assert_eq!(rows, vec![vec![text.map(str::to_owned)]], "{value:?}");
    }
    let (five, params, _) = client.prepare("SELECT 5").expect("prepares");
    assert_eq!(params, 0);
    let QueryResult::Rows { rows, .. } = client.execute(five, &[]).expect("executes") else {
        panic!("rows expected");
    };
    assert_eq!(rows, vec![vec![Some("5".to_owned())]]);
    let (insert, _, columns) = client.prepare("INSERT").expect("prepares");
    assert_eq!(columns, 0);
    assert!(matches!(
        client.execute(insert, &[]),
        Ok(QueryResult::Ok {
            affected_rows: 1,
            ..
        })
    ));
    assert_eq!(
        client.prepare("bogus").map_err(|error| error.code),
        Err(1064)
    );

    // Long data in two pieces, then an execution that sends only its type.
    for piece in [&b"long "[..], b"data"] {
        client.send(&Command::StmtSendLongData {
            statement_id: StatementId(echo),
            param_index: 0,
            data: piece,
        });
    }
    let mut execute = vec![0x17];
    execute.extend_from_slice(&echo.to_le_bytes());
    execute.extend_from_slice(&[0, 1, 0, 0, 0]); // flags, iteration count
    execute.extend_from_slice(&[0, 1, 0xfd, 0]); // null bitmap, bound, VAR_STRING
    client.send_raw(&execute);
    let QueryResult::Rows { rows, .. } = client.read_result(true).expect("executes") else {
        panic!("rows expected");
    };
    assert_eq!(rows, vec![vec![Some("long data".to_owned())]]);
    // Long data for a placeholder that does not exist: reported at execute.
    client.send(&Command::StmtSendLongData {
        statement_id: StatementId(echo),
        param_index: 3,
        data: b"x",
    });
    assert_eq!(
        client.execute(echo, &[Value::Int(1)]).map_err(|e| e.code),
        Err(1210)
    );
    assert!(
        client.execute(echo, &[Value::Int(1)]).is_ok(),
        "error reported once"
    );

    client.send(&Command::StmtReset {
        statement_id: StatementId(echo),
    });
    assert_eq!(client.read_payload()[0], 0x00);
    client.send(&Command::StmtFetch {
        statement_id: StatementId(echo),
        row_count: 1,
    });
    assert_eq!(parse_err(&client.read_payload()).code, 1421);
    client.send(&Command::StmtClose {
        statement_id: StatementId(echo),
    });
    // No reply to COM_STMT_CLOSE; the statement is gone.
    assert_eq!(
        client.execute(echo, &[Value::Int(1)]).map_err(|e| e.code),
        Err(1243)
    );
    client.send(&Command::StmtReset {
        statement_id: StatementId(echo),
    });
    assert_eq!(parse_err(&client.read_payload()).code, 1243);

    client.send(&Command::ResetConnection);
    assert_eq!(client.read_payload()[0], 0x00);
    assert_eq!(
        client.execute(five, &[]).map_err(|error| error.code),
        Err(1243)
    );
    client.select(6);
    server.shutdown(Duration::from_secs(10));
}

// Both plugins authenticate, switching when the client guessed the other
// one; wrong passwords, unknown users and the empty user get 1045, and the
// empty user is never looked up; an unknown database refuses with 1049.
#[test]
fn authentication() {
    let (server, backend) = server();
    let addr = server.local_addr();
    for plugin in [
        AuthPlugin::CachingSha2Password,
        AuthPlugin::MysqlNativePassword,
    ] {
        let caps = client_capabilities(true);
        Client::connect_with(addr, "app", "pw", plugin, None, caps)
            .expect("sha2 account")
            .select(1);
        Client::connect_with(addr, "native", "pw1", plugin, None, caps)
            .expect("native account")
            .select(1);
        for (user, password) in [
            ("app", "wrong"),
            ("native", "pw"),
            ("ghost", "pw"),
            ("", ""),
        ] {
            let error = Client::connect_with(addr, user, password, plugin, None, caps)
                .err()
                .unwrap_or_else(|| panic!("{user}/{password} must be refused"));
            assert_eq!(
                (error.code, error.sql_state.as_str()),
                (1045, "28000"),
                "{user}"
            );
        }
    }
    let lookups = backend.credential_lookups.lock().expect("lookups").clone();
    assert!(lookups.iter().all(|(user, _)| !user.is_empty()));
    assert!(lookups.iter().all(|(_, host)| host == "127.0.0.1"));

    let caps = client_capabilities(true);
    let error = Client::connect_with(
        addr,
        "app",
        "pw",
        AuthPlugin::CachingSha2Password,
        Some("missing"),
        caps,
    )
    .err()
    .expect("refused");
    assert_eq!(error.code, 1049);
    wait_until("no session is open", || {
        backend.counters.sessions_open.load(Ordering::SeqCst) == 0
    });
    server.shutdown(Duration::from_secs(10));
}

// With max_connections 3, a fourth connection gets ERR 1040 in place of
// the greeting; once one closes, the next connects.
#[test]
fn max_connections_answers_1040() {
    let (server, _backend) = start(ServerConfig {
        max_connections: 3,
        ..ServerConfig::default()
    });
    let addr = server.local_addr();
    let mut clients: Vec<Client> = (0..3)
        .map(|_| Client::connect(addr, "app", "pw").expect("within the limit"))
        .collect();
    let error = Client::open(addr).err().expect("over the limit");
    assert_eq!(
        (error.code, error.sql_state.as_str(), error.message.as_str()),
        (1040, "08004", "Too many connections")
    );
    drop(clients.pop());
    wait_until("a slot is free", || {
        server.processes().connection_count() == 2
    });
    Client::connect(addr, "app", "pw")
        .expect("fits again")
        .select(1);
    clients[0].select(2);
    server.shutdown(Duration::from_secs(10));
}

// 1000 authenticated idle connections are held while 64 more run queries
// concurrently; every answer is right, and every session is dropped when
// the clients go.
#[test]
fn thousand_idle_and_sixty_four_busy() {
    const IDLE: usize = 1000;
    const BUSY: usize = 64;
    const QUERIES: i64 = 200;
    let (server, backend) = start(ServerConfig {
        max_connections: (IDLE + BUSY) as u32,
        ..ServerConfig::default()
    });
    let addr = server.local_addr();
    let idle: Vec<Client> = (0..IDLE)
        .map(|index| {
            Client::connect(addr, "app", "pw")
                .unwrap_or_else(|error| panic!("idle connection {index}: {error:?}"))
        })
        .collect();
    assert_eq!(server.processes().connection_count(), IDLE);
    let busy: Vec<_> = (0..BUSY)
        .map(|worker| {
            std::thread::spawn(move || {
                let mut client = Client::connect(addr, "app", "pw").expect("busy connects");
                for query in 0..QUERIES {
                    client.select(worker as i64 * 1_000_000 + query);
                }
                client
            })
        })
        .collect();
    let busy: Vec<Client> = busy
        .into_iter()
        .map(|worker| worker.join().expect("worker"))
        .collect();
    assert_eq!(server.processes().connection_count(), IDLE + BUSY);
    assert_eq!(
        backend.counters.sessions_open.load(Ordering::SeqCst),
        IDLE + BUSY
    );
    // For the record, not asserted: server and clients share this process.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss = status
        .lines()
        .find(|line| line.starts_with("VmRSS"))
        .unwrap_or("VmRSS: unknown");
    println!(
        "held {} connections ({IDLE} idle, {BUSY} busy x {QUERIES} queries); test process {rss}",
        IDLE + BUSY
    );
    drop(idle);
    drop(busy);
    wait_until("every session is dropped", || {
        backend.counters.sessions_open.load(Ordering::SeqCst) == 0
    });
    wait_until("the table is empty", || {
        server.processes().connection_count() == 0
    });
    server.shutdown(Duration::from_secs(10));
}

/// Read the ERR a hostile connection gets, then check it was closed.
fn expect_error_then_close(client: &mut Client, code: u16, case: &str) {
    client.lenient_sequence = true;
    let payload = client
        .try_read_payload()
        .unwrap_or_else(|| panic!("{case}: closed without an error"));
    let error = parse_err(&payload);
    assert_eq!(error.code, code, "{case}: {error:?}");
    assert!(client.closed(), "{case}: connection left open");
}

// Each kind of hostile input closes only its own connection, with an error
// where the protocol allows one: oversized and garbage handshakes, a silent
// client, truncated frames, short and over-long command packets, wrong
// sequence ids, huge sizes, a stalled packet, and garbage after the
// handshake. A connection made before keeps working throughout.
type Start = fn(
    ServerConfig,
) -> (
    floe_server::RunningServer,
    std::sync::Arc<common::TestBackend>,
);

#[test]
fn hostile_input_closes_only_that_connection() {
    hostile_input(start);
}

/// The same on one thread per connection (no scheduler).
#[test]
fn hostile_input_closes_only_that_connection_on_threads() {
    hostile_input(common::start_on_threads);
}

fn hostile_input(start: Start) {
    let (server, backend) = start(ServerConfig {
        connect_timeout: Duration::from_millis(300),
        net_read_timeout: Duration::from_millis(300),
        max_allowed_packet: floe_server::protocol::MaxAllowedPacket::new(1 << 20)
            .expect("in range"),
        ..ServerConfig::default()
    });
    let addr = server.local_addr();
    let mut bystander = Client::connect(addr, "app", "pw").expect("connects");

    // Handshake: a header announcing 16 MiB, beyond the handshake's limit.
    let (mut client, _) = Client::open(addr).expect("greeting");
    client
        .stream
        .write_all(&[0xff, 0xff, 0xff, 0x01])
        .expect("write");
    expect_error_then_close(&mut client, 1153, "oversized handshake");

    // Handshake: a well-framed packet of garbage.
    let (mut client, _) = Client::open(addr).expect("greeting");
    client.write_payload(&[0x13; 40]);
    expect_error_then_close(&mut client, 1835, "garbage handshake response");

    // Handshake: an old client's two-byte capabilities.
    let (mut client, _) = Client::open(addr).expect("greeting");
    client.write_payload(&[0x00, 0x00, 0x01]);
    expect_error_then_close(&mut client, 1043, "pre-4.1 client");

    // Handshake: nothing at all within connect_timeout.
    let (mut client, _) = Client::open(addr).expect("greeting");
    expect_error_then_close(&mut client, 1043, "silent client");

    // Handshake: a response with the wrong sequence id.
    let (mut client, _) = Client::open(addr).expect("greeting");
    client.stream.write_all(&[1, 0, 0, 7, 0]).expect("write");
    expect_error_then_close(&mut client, 1156, "handshake sequence id");

    let hostile_commands: [(&str, &[u8], u16); 6] = [
        // Header says 100 bytes; 10 come, then the client stops sending.
        (
            "truncated frame",
            &[
                100, 0, 0, 0, 3, b'S', b'E', b'L', b'E', b'C', b'T', b' ', b'1', b' ',
            ],
            1158,
        ),
        // COM_STMT_CLOSE with 2 of its 4 id bytes.
        ("short command", &[3, 0, 0, 0, 0x19, 1, 0], 1835),
        // COM_PING with bytes after it.
        ("over-long command", &[3, 0, 0, 0, 0x0e, 1, 2], 1835),
        // A command that starts with sequence id 5.
        ("sequence id", &[1, 0, 0, 5, 0x0e], 1156),
        // A header announcing 16 MiB, beyond max_allowed_packet (1 MiB).
        ("huge size", &[0xfe, 0xff, 0xff, 0, 0x03], 1153),
        // An empty command packet.
        ("empty command", &[0, 0, 0, 0], 1835),
    ];
    for (case, bytes, code) in hostile_commands {
        let mut client = Client::connect(addr, "app", "pw").expect("connects");
        client.stream.write_all(bytes).expect("write");
        if case == "truncated frame" {
            client.stream.shutdown(Shutdown::Write).expect("half-close");
        }
        expect_error_then_close(&mut client, code, case);
    }

    // A packet that stalls halfway: net_read_timeout.
    let mut client = Client::connect(addr, "app", "pw").expect("connects");
    client
        .stream
        .write_all(&[20, 0, 0, 0, 3, b'S'])
        .expect("write");
    expect_error_then_close(&mut client, 1159, "stalled packet");

    // Garbage after the handshake: an unknown command byte is answered and
    // the connection stays; then bytes that are not framing at all close it.
    let mut client = Client::connect(addr, "app", "pw").expect("connects");
    client.send_raw(&[0x99, 1, 2, 3]);
    assert_eq!(parse_err(&client.read_payload()).code, 1047);
    client.select(1);
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    client.stream.write_all(&garbage).expect("write");
    client.lenient_sequence = true;
    let payload = client.try_read_payload().expect("an error first");
    let code = parse_err(&payload).code;
    assert!([1153, 1156].contains(&code), "garbage got {code}");
    assert!(client.closed(), "garbage: connection left open");

    // The bystander never noticed; new clients still connect.
    bystander.select(42);
    Client::connect(addr, "app", "pw")
        .expect("still accepting")
        .select(43);
    wait_until("only the bystander's session is open", || {
        backend.counters.sessions_open.load(Ordering::SeqCst) == 1
    });
    server.shutdown(Duration::from_secs(10));
}

// A client that vanishes mid-transaction (socket closed, no COM_QUIT) has
// its session dropped, which is where the SQL layer rolls back.
#[test]
fn vanished_session_is_dropped() {
    let (server, backend) = server();
    let mut client = Client::connect(server.local_addr(), "app", "pw").expect("connects");
    let result = client.query("BEGIN").expect("begin");
    assert!(result.status().contains(StatusFlags::IN_TRANS));
    assert_eq!(backend.counters.sessions_open.load(Ordering::SeqCst), 1);
    drop(client);
    wait_until("the session is dropped", || {
        backend.counters.sessions_open.load(Ordering::SeqCst) == 0
    });
    assert_eq!(backend.counters.rolled_back.load(Ordering::SeqCst), 1);
    wait_until("the table is empty", || {
        server.processes().connection_count() == 0
    });
    server.shutdown(Duration::from_secs(10));
}

// COM_PROCESS_KILL stops a running statement (1317) and closes its
// connection; other users may not (1095); unknown ids get 1094. KILL QUERY
// from a session stops the statement and keeps the connection.
#[test]
fn kill() {
    let (server, backend) = server();
    let addr = server.local_addr();
    let spin = |user: &'static str, password: &'static str| {
        let mut client = Client::connect(addr, user, password).expect("connects");
        let id = client.connection_id;
        let worker = std::thread::spawn(move || {
            let outcome = client.query("SPIN");
            (client, outcome)
        });
        (id, worker)
    };
    let (victim, worker) = spin("root", "rootpw");
    wait_until("SPIN runs", || {
        backend.counters.spinning.load(Ordering::SeqCst) == 1
    });
    let mut app = Client::connect(addr, "app", "pw").expect("connects");
    app.send(&Command::ProcessKill {
        connection_id: victim,
    });
    assert_eq!(parse_err(&app.read_payload()).code, 1095);
    app.send(&Command::ProcessKill {
        connection_id: 999_999,
    });
    let error = parse_err(&app.read_payload());
    assert_eq!(
        (error.code, error.message.as_str()),
        (1094, "Unknown thread id: 999999")
    );
    let mut root = Client::connect(addr, "root", "rootpw").expect("connects");
    root.send(&Command::ProcessKill {
        connection_id: victim,
    });
    assert_eq!(root.read_payload()[0], 0x00);
    let (mut client, outcome) = worker.join().expect("worker");
    assert_eq!(outcome.map_err(|error| error.code), Err(1317));
    assert!(client.closed(), "killed connection closes");

    // KILL QUERY, from SQL: the statement fails, the connection stays.
    let (victim, worker) = spin("app", "pw");
    wait_until("SPIN runs", || {
        backend.counters.spinning.load(Ordering::SeqCst) == 1
    });
    root.query(&format!("KILL {victim}")).expect("kill query");
    let (mut client, outcome) = worker.join().expect("worker");
    assert_eq!(outcome.map_err(|error| error.code), Err(1317));
    client.select(5);
    server.shutdown(Duration::from_secs(10));
}

// A connection idle past wait_timeout (interactive_timeout for a client
// that says it is interactive) gets MySQL's 4031 and is closed, and its
// session dropped.
#[test]
fn idle_timeout_closes_with_4031() {
    let (server, backend) = start(ServerConfig {
        wait_timeout: Duration::from_millis(200),
        interactive_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    });
    let mut capabilities = client_capabilities(true);
    for interactive in [false, true] {
        capabilities.set(CapabilityFlags::INTERACTIVE, interactive);
        let mut client = Client::connect_with(
            server.local_addr(),
            "app",
            "pw",
            AuthPlugin::CachingSha2Password,
            None,
            capabilities,
        )
        .expect("connects");
        client.select(1);
        // Unsolicited, so with sequence id 0, as mysqld sends it.
        expect_error_then_close(&mut client, 4031, "idle");
    }
    wait_until("the session is dropped", || {
        backend.counters.sessions_open.load(Ordering::SeqCst) == 0
    });
    server.shutdown(Duration::from_secs(10));
}

// Shutdown stops accepting, interrupts a running statement (1053), tells
// idle clients (1053), drops every session (rolling back the open
// transaction) and returns only then.
#[test]
fn shutdown_drops_every_session() {
    let (server, backend) = server();
    let addr = server.local_addr();
    let mut idle: Vec<Client> = (0..5)
        .map(|_| Client::connect(addr, "app", "pw").expect("connects"))
        .collect();
    idle[0].query("BEGIN").expect("begin");
    let mut spinner = Client::connect(addr, "app", "pw").expect("connects");
    let worker = std::thread::spawn(move || {
        let outcome = spinner.query("SPIN");
        (spinner, outcome)
    });
    wait_until("SPIN runs", || {
        backend.counters.spinning.load(Ordering::SeqCst) == 1
    });
    let report = server.shutdown(Duration::from_secs(30));
    assert_eq!(report.connections_closed, 6);
    assert_eq!(report.connections_still_running, 0);
    assert_eq!(backend.counters.sessions_open.load(Ordering::SeqCst), 0);
    assert_eq!(backend.counters.rolled_back.load(Ordering::SeqCst), 1);
    let (mut spinner, outcome) = worker.join().expect("worker");
    assert_eq!(outcome.map_err(|error| error.code), Err(1053));
    expect_error_then_close(&mut spinner, 1053, "busy at shutdown");
    for client in &mut idle {
        expect_error_then_close(client, 1053, "idle at shutdown");
    }
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the listener is closed"
    );
}

// Packets of 16 MiB and more are reassembled on the way in and split on the
// way out.
#[test]
fn large_packets_both_ways() {
    let (server, _backend) = server();
    let mut client = Client::connect(server.local_addr(), "app", "pw").expect("connects");
    let mut sql = b"SELECT 7".to_vec();
    sql.resize(17 << 20, b' ');
    client.send(&Command::Query {
        attributes: vec![],
        sql: &sql,
    });
    let QueryResult::Rows { rows, .. } = client.read_result(false).expect("runs") else {
        panic!("rows expected");
    };
    assert_eq!(rows, vec![vec![Some("7".to_owned())]]);
    let bytes = (16 << 20) + 100;
    let QueryResult::Rows { rows, .. } = client.query(&format!("REPEAT {bytes}")).expect("runs")
    else {
        panic!("rows expected");
    };
    assert_eq!(rows[0][0].as_ref().map(String::len), Some(bytes));
    client.select(8);
    server.shutdown(Duration::from_secs(10));
}
