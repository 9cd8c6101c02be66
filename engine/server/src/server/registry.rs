//! The server's table of connections: ids, the `max_connections` limit,
//! KILL, the process list, COM_STATISTICS figures, and waiting for every
//! connection to end at shutdown.
//!
//! One mutex guards the table; it is taken when a connection comes or goes
//! and by KILL, SHOW PROCESSLIST and COM_STATISTICS, never by a query. Each
//! connection's own figures (state, question count) sit in its entry behind
//! its own lock or atomic, touched only by its thread and by those readers.

use std::collections::HashMap;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::backend::{Interrupt, InterruptReason, SqlError};
use crate::protocol::codes;

/// Longest statement text kept for the process list (SHOW FULL PROCESSLIST
/// in MySQL shows all of it; we keep the first KiB).
const INFO_BYTES_MAX: usize = 1024;

/// A handle on the server's connections, for `KILL` and `SHOW PROCESSLIST`.
/// Cheap to clone.
#[derive(Clone)]
pub struct Processes(Arc<Registry>);

impl std::fmt::Debug for Processes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processes")
            .field("connections", &self.connection_count())
            .finish()
    }
}

/// Who asks for a KILL.
#[derive(Debug, Clone, Copy)]
pub struct KillRequester<'a> {
    pub connection_id: u32,
    pub user: &'a str,
    /// MySQL's CONNECTION_ADMIN / SUPER: may kill other users' connections.
    pub may_kill_other_users: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillScope {
    /// KILL QUERY: the running statement fails with 1317; the connection stays.
    Query,
    /// KILL [CONNECTION]: the statement stops and the connection closes.
    Connection,
}

/// One row of SHOW PROCESSLIST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub id: u32,
    /// Empty until the client has authenticated.
    pub user: String,
    pub host: String,
    pub database: Option<String>,
    /// MySQL's command names: "Connect", "Sleep", "Query", "Execute", ...
    pub command: &'static str,
    /// Seconds in this command.
    pub time_s: u64,
    /// The statement being run (its first KiB), if any.
    pub info: Option<String>,
}

pub(crate) struct Registry {
    connections: Mutex<HashMap<u32, Arc<Entry>>>,
    /// Signalled whenever a connection leaves the table.
    left: Condvar,
    max_connections: u32,
    next_id: Mutex<u32>,
    started: Instant,
    /// Questions of connections that have ended.
    ended_questions: AtomicU64,
}

/// One connection in the table.
pub(crate) struct Entry {
    pub(crate) id: u32,
    host: String,
    /// The connection's socket, to wake its blocked read.
    stream: Arc<TcpStream>,
    pub(crate) interrupt: Interrupt,
    /// Commands received; written by the connection's thread only.
    questions: AtomicU64,
    state: Mutex<EntryState>,
}

struct EntryState {
    user: String,
    database: Option<String>,
    command: &'static str,
    since: Instant,
    info: String,
}

/// The table's slot of a live connection; leaving the table happens when
/// this drops, after the connection's session has been dropped.
pub(crate) struct Slot {
    registry: Arc<Registry>,
    pub(crate) entry: Arc<Entry>,
}

/// The table is full: answer 1040.
#[derive(Debug)]
pub(crate) struct TooManyConnections;

impl Processes {
    pub(crate) fn new(max_connections: u32) -> Self {
        Self(Arc::new(Registry {
            connections: Mutex::new(HashMap::new()),
            left: Condvar::new(),
            max_connections,
            next_id: Mutex::new(1),
            started: Instant::now(),
            ended_questions: AtomicU64::new(0),
        }))
    }

    /// Connections in the table (in the handshake or authenticated).
    pub fn connection_count(&self) -> usize {
        self.0.table().len()
    }

    /// Enter a new connection, or refuse it when `max_connections` are in.
    pub(crate) fn register(
        &self,
        stream: Arc<TcpStream>,
        host: String,
    ) -> Result<Slot, TooManyConnections> {
        let mut table = self.0.table();
        if table.len() >= self.0.max_connections as usize {
            return Err(TooManyConnections);
        }
        let id = self.0.allocate_id(&table);
        let entry = Arc::new(Entry {
            id,
            host,
            stream,
            interrupt: Interrupt::new(),
            questions: AtomicU64::new(0),
            state: Mutex::new(EntryState {
                user: String::new(),
                database: None,
                command: "Connect",
                since: Instant::now(),
                info: String::new(),
            }),
        });
        table.insert(id, Arc::clone(&entry));
        Ok(Slot {
            registry: Arc::clone(&self.0),
            entry,
        })
    }

    /// KILL `target` on behalf of `requester`: 1094 if there is no such
    /// connection, 1095 if it belongs to another user and the requester may
    /// not kill those.
    pub fn kill(
        &self,
        requester: KillRequester<'_>,
        target: u32,
        scope: KillScope,
    ) -> Result<(), SqlError> {
        let entry = self.0.table().get(&target).cloned();
        let Some(entry) = entry else {
            return Err(SqlError::new(
                codes::ER_NO_SUCH_THREAD,
                format!("Unknown thread id: {target}"),
            ));
        };
        let owner_matches = entry.state().user == requester.user;
        if !owner_matches && !requester.may_kill_other_users {
            return Err(SqlError::new(
                codes::ER_KILL_DENIED_ERROR,
                format!("You are not owner of thread {target}"),
            ));
        }
        log::debug!(
            "connection {}: {scope:?} killed by connection {} (user '{}')",
            target,
            requester.connection_id,
            requester.user
        );
        match scope {
            KillScope::Query => entry.interrupt.raise(InterruptReason::Query),
            KillScope::Connection => entry.stop(InterruptReason::Connection),
        }
        Ok(())
    }

    /// The connections, ordered by id.
    pub fn list(&self) -> Vec<ProcessInfo> {
        let entries: Vec<Arc<Entry>> = self.0.table().values().cloned().collect();
        let now = Instant::now();
        let mut list: Vec<ProcessInfo> = entries
            .iter()
            .map(|entry| {
                let state = entry.state();
                ProcessInfo {
                    id: entry.id,
                    user: state.user.clone(),
                    host: entry.host.clone(),
                    database: state.database.clone(),
                    command: state.command,
                    time_s: now.saturating_duration_since(state.since).as_secs(),
                    info: (!state.info.is_empty()).then(|| state.info.clone()),
                }
            })
            .collect();
        list.sort_by_key(|process| process.id);
        list
    }

    /// COM_STATISTICS' text: uptime, threads (connections), questions
    /// (commands received since start) and their average rate.
    pub fn statistics(&self) -> String {
        let live_questions: u64 = self
            .0
            .table()
            .values()
            .map(|entry| entry.questions.load(Ordering::Relaxed))
            .sum();
        let questions = live_questions + self.0.ended_questions.load(Ordering::Relaxed);
        let uptime = self.0.started.elapsed();
        let per_second = questions as f64 / uptime.as_secs_f64().max(1.0);
        format!(
            "Uptime: {}  Threads: {}  Questions: {questions}  Queries per second avg: {per_second:.3}",
            uptime.as_secs(),
            self.connection_count()
        )
    }

    /// Ask every connection to stop: running statements fail with 1053 at
    /// their next interrupt check, blocked reads wake.
    pub(crate) fn stop_all(&self, reason: InterruptReason) {
        let entries: Vec<Arc<Entry>> = self.0.table().values().cloned().collect();
        for entry in entries {
            entry.stop(reason);
        }
    }

    /// Wait until the table is empty or `deadline` passes; returns how many
    /// connections are left.
    pub(crate) fn wait_empty(&self, deadline: Instant) -> usize {
        let mut table = self.0.table();
        loop {
            let now = Instant::now();
            if table.is_empty() || now >= deadline {
                return table.len();
            }
            table = match self.0.left.wait_timeout(table, deadline - now) {
                Ok((table, _)) => table,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

impl Registry {
    fn table(&self) -> MutexGuard<'_, HashMap<u32, Arc<Entry>>> {
        // The table stays consistent even if a holder panicked: every
        // critical section is a single insert, remove or read.
        self.connections
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The next id not in use, skipping 0 (clients read 0 as "none"); ids
    /// wrap after 2^32 connections, as MySQL's do.
    fn allocate_id(&self, table: &HashMap<u32, Arc<Entry>>) -> u32 {
        let mut next = self
            .next_id
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // The table holds at most max_connections < 2^32 ids, so a free one
        // is found within max_connections + 2 steps.
        loop {
            let id = *next;
            *next = next.wrapping_add(1);
            if id != 0 && !table.contains_key(&id) {
                return id;
            }
        }
    }
}

impl Entry {
    fn state(&self) -> MutexGuard<'_, EntryState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Raise `reason` and wake a blocked read: shutting the read side down
    /// makes the connection's next read see end of stream, while anything
    /// it still writes (the error that ends a statement) goes out.
    fn stop(&self, reason: InterruptReason) {
        self.interrupt.raise(reason);
        if let Err(error) = self.stream.shutdown(Shutdown::Read) {
            // Already closed by the peer: nothing to wake.
            log::debug!("connection {}: shutdown(read): {error}", self.id);
        }
    }

    pub(crate) fn authenticated(&self, user: &str, database: Option<&str>) {
        let mut state = self.state();
        user.clone_into(&mut state.user);
        state.database = database.map(str::to_owned);
        state.command = "Sleep";
        state.since = Instant::now();
    }

    /// A command starts: count it and show it in the process list.
    pub(crate) fn command_started(&self, command: &'static str, info: &str) {
        self.questions.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state();
        state.command = command;
        state.since = Instant::now();
        state.info.clear();
        let mut end = info.len().min(INFO_BYTES_MAX);
        while !info.is_char_boundary(end) {
            end -= 1;
        }
        state.info.push_str(info.get(..end).unwrap_or_default());
    }

    /// The command ended; `database` is the session's default database now.
    pub(crate) fn command_ended(&self, database: Option<&str>) {
        let mut state = self.state();
        state.command = "Sleep";
        state.since = Instant::now();
        state.info.clear();
        if state.database.as_deref() != database {
            state.database = database.map(str::to_owned);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let questions = self.entry.questions.load(Ordering::Relaxed);
        self.registry
            .ended_questions
            .fetch_add(questions, Ordering::Relaxed);
        self.registry.table().remove(&self.entry.id);
        self.registry.left.notify_all();
    }
}

/// The time left until `deadline`, at least a millisecond: a zero socket
/// timeout means "none" to the OS, the opposite of what an expired deadline
/// wants.
pub(crate) fn time_left(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}
