//! The MySQL server: a TCP listener, the connection phase, and the command
//! loop that turns protocol commands into calls on a `Session`.
//!
//! Where connections run (DESIGN.md, execution model): with a scheduler in
//! `ServerConfig::scheduler`, each connection is a fiber on one of its
//! cores (the least loaded at accept time); without one, an OS thread of
//! its own with a small stack (`thread_stack_bytes`). The code is the same:
//! a connection is one `Connection` value written as plain synchronous
//! code (read a packet, dispatch, write the answer); sockets are
//! nonblocking, and `Connection::read_more` and `Wire::flush` wait through
//! `floe_rt::sched::wait_fd`, which parks the fiber (its core's epoll
//! reports the socket) or blocks the thread in poll(2). Timeouts are
//! deadlines on those waits: `wait_timeout` between commands,
//! `net_read_timeout` inside a packet, `net_write_timeout` per flush,
//! `connect_timeout` for the whole handshake. The acceptor is a thread of
//! its own, blocked in accept(2). What crosses connections is atomics and
//! short critical sections (the connection table, `Interrupt`), with no
//! lock held across a wait, so KILL and shutdown work the same across
//! cores.

mod connection;
mod registry;
mod wire;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub use registry::{KillRequester, KillScope, ProcessInfo, Processes};

use floe_rt::sched::SchedulerHandle;

use crate::backend::{Backend, InterruptReason};
use crate::protocol::codes;
use crate::protocol::{MaxAllowedPacket, PacketCodec};

/// Server settings; the defaults are MySQL's where MySQL has the setting.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Connections at once (in the handshake or authenticated); one more is
    /// answered with 1040 "Too many connections".
    pub max_connections: u32,
    /// Largest client packet accepted after authentication.
    pub max_allowed_packet: MaxAllowedPacket,
    /// Idle time between commands before the server closes the connection
    /// (with error 4031).
    pub wait_timeout: Duration,
    /// The same for clients that set CLIENT_INTERACTIVE (the `mysql` shell).
    pub interactive_timeout: Duration,
    /// Time allowed for the whole connection phase.
    pub connect_timeout: Duration,
    /// Time allowed between the bytes of one packet.
    pub net_read_timeout: Duration,
    /// Time allowed for one write to the client.
    pub net_write_timeout: Duration,
    /// Stack of each connection's thread (without a scheduler; fibers get
    /// the scheduler's stack size).
    pub thread_stack_bytes: usize,
    /// Run connections as fibers on these cores; None: one thread each.
    pub scheduler: Option<SchedulerHandle>,
    /// Prepared statements one connection may hold (MySQL's
    /// max_prepared_stmt_count is global; ours is per connection).
    pub max_prepared_statements: u32,
    /// Announced in the greeting; clients parse the leading "8.0.x".
    pub server_version: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 3306)),
            max_connections: 151,
            max_allowed_packet: MaxAllowedPacket::DEFAULT,
            wait_timeout: Duration::from_secs(28_800),
            interactive_timeout: Duration::from_secs(28_800),
            connect_timeout: Duration::from_secs(10),
            net_read_timeout: Duration::from_secs(30),
            net_write_timeout: Duration::from_secs(60),
            thread_stack_bytes: 256 << 10,
            scheduler: None,
            max_prepared_statements: 16_382,
            server_version: "8.0.36-floe".to_owned(),
        }
    }
}

/// Where scrambles come from; passed in so tests and simulations can
/// supply their own.
pub trait Entropy: Send + Sync + 'static {
    fn fill(&self, bytes: &mut [u8]) -> io::Result<()>;
}

/// The operating system's random number generator (getrandom(2)).
#[derive(Debug, Clone, Copy, Default)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, bytes: &mut [u8]) -> io::Result<()> {
        getrandom::getrandom(bytes).map_err(|error| io::Error::other(error.to_string()))
    }
}

/// What every connection thread shares.
pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) entropy: Arc<dyn Entropy>,
    pub(crate) processes: Processes,
    pub(crate) shutting_down: AtomicBool,
}

/// The server entry point.
pub struct Server;

impl Server {
    /// Bind `config.listen` and start accepting connections on a thread of
    /// their own. Fails only if the address cannot be bound.
    pub fn start(
        config: ServerConfig,
        backend: Arc<dyn Backend>,
        entropy: Arc<dyn Entropy>,
    ) -> io::Result<RunningServer> {
        if config.max_connections == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "max_connections is 0: expected at least 1",
            ));
        }
        if config.server_version.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "server_version contains a NUL byte, which the greeting cannot carry",
            ));
        }
        let listener = TcpListener::bind(config.listen)?;
        let local_addr = listener.local_addr()?;
        let processes = Processes::new(config.max_connections);
        let shared = Arc::new(Shared {
            config,
            backend,
            entropy,
            processes: processes.clone(),
            shutting_down: AtomicBool::new(false),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("mysql-accept".to_owned())
                .spawn(move || accept_loop(&listener, &shared))?
        };
        log::info!("MySQL protocol listening on {local_addr}");
        Ok(RunningServer {
            local_addr,
            shared,
            acceptor,
        })
    }
}

/// A server accepting connections; `shutdown` stops it.
pub struct RunningServer {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: JoinHandle<()>,
}

/// What `RunningServer::shutdown` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Connections open when shutdown began.
    pub connections_closed: usize,
    /// Connections still running a statement when the grace time ran out;
    /// their sessions drop (and roll back) when the statement ends.
    pub connections_still_running: usize,
}

impl RunningServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn processes(&self) -> &Processes {
        &self.shared.processes
    }

    /// Stop accepting, ask every connection to stop (statements fail with
    /// 1053 at their next interrupt check; idle clients get a 1053 error and
    /// the connection closes), and wait up to `grace` for their sessions to
    /// be dropped, which rolls back what they had open.
    pub fn shutdown(self, grace: Duration) -> ShutdownReport {
        let deadline = Instant::now() + grace;
        self.shared.shutting_down.store(true, Ordering::Release);
        // accept() has no timeout: wake it with a connection of our own.
        let wake = SocketAddr::new(wake_address(self.local_addr.ip()), self.local_addr.port());
        match TcpStream::connect_timeout(&wake, Duration::from_secs(1)) {
            Ok(_) => {
                if self.acceptor.join().is_err() {
                    log::error!("MySQL server shutdown: the acceptor thread panicked");
                }
            }
            // Joining would wait forever. The acceptor stays blocked; any
            // connection it still takes sees `shutting_down` and is dropped.
            Err(error) => {
                log::warn!("MySQL server shutdown: cannot wake the acceptor at {wake}: {error}")
            }
        }
        let processes = &self.shared.processes;
        let connections_closed = processes.connection_count();
        processes.stop_all(InterruptReason::Shutdown);
        let connections_still_running = processes.wait_empty(deadline);
        log::info!(
            "MySQL server on {} stopped: {connections_closed} connections closed, \
             {connections_still_running} still running",
            self.local_addr
        );
        ShutdownReport {
            connections_closed,
            connections_still_running,
        }
    }
}

/// Where to connect to reach a listener bound to `ip`.
fn wake_address(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    loop {
        let accepted = listener.accept();
        if shared.shutting_down.load(Ordering::Acquire) {
            return;
        }
        match accepted {
            Ok((stream, peer)) => accept(stream, peer, shared),
            Err(error) => {
                // Out of file descriptors or memory: serving the ones we
                // have is all we can do; retry after a pause rather than
                // spinning on the same error.
                log::warn!("MySQL accept failed: {error}; retrying in 100 ms");
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn accept(stream: TcpStream, peer: SocketAddr, shared: &Arc<Shared>) {
    let config = &shared.config;
    // Answers go out whole, one write each: no Nagle delay wanted.
    // Nonblocking: reads and writes wait through the scheduler (wait_fd),
    // with the timeouts as deadlines.
    let setup = stream
        .set_nodelay(true)
        .and_then(|()| stream.set_nonblocking(true));
    if let Err(error) = setup {
        log::debug!("MySQL connection from {peer}: socket setup: {error}");
        return;
    }
    let stream = Arc::new(stream);
    let slot = match shared
        .processes
        .register(Arc::clone(&stream), peer.ip().to_string())
    {
        Ok(slot) => slot,
        Err(registry::TooManyConnections) => {
            log::debug!(
                "MySQL connection from {peer} refused: {} connections open",
                config.max_connections
            );
            refuse(
                stream,
                config,
                codes::ER_CON_COUNT_ERROR,
                "Too many connections",
            );
            return;
        }
    };
    let id = slot.entry.id;
    let spawned = {
        let shared = Arc::clone(shared);
        let stream = Arc::clone(&stream);
        let name = format!("mysql-conn-{id}");
        let body = move || connection::run(stream, peer, slot, &shared);
        match &config.scheduler {
            Some(scheduler) => scheduler
                .spawn_any(name, body)
                .map(|_core| ())
                .map_err(io::Error::other),
            None => thread::Builder::new()
                .name(name)
                .stack_size(config.thread_stack_bytes)
                .spawn(body)
                .map(|_thread| ()),
        }
    };
    if let Err(error) = spawned {
        log::warn!("MySQL connection {id} from {peer}: cannot start it: {error}");
        refuse(
            stream,
            config,
            codes::ER_CANT_CREATE_THREAD,
            &format!("Can't create a new thread ({error})"),
        );
    }
}

/// Answer a connection we will not serve with one ERR in place of the
/// greeting (sequence id 0), as mysqld does, and close it.
fn refuse(stream: Arc<TcpStream>, config: &ServerConfig, error: codes::MysqlError, message: &str) {
    let codec = PacketCodec::new(MaxAllowedPacket::HANDSHAKE);
    let mut wire = wire::Wire::new(stream, codec, config.net_write_timeout);
    if let Err(write_error) = wire.error(error, message).and_then(|()| wire.flush()) {
        log::debug!("refusing a connection: {write_error}");
    }
}
