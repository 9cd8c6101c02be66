//! Floe's MySQL server edge: the wire protocol (protocol version 10, pure
//! code over byte buffers in `protocol`), the seam the SQL engine implements
//! (`backend`: `Backend`, `Session`, `ResultSink`), and the server that joins
//! them over TCP (`server`: listener, connection phase, command loop,
//! connection table, KILL, timeouts, shutdown).
#![forbid(unsafe_code)]

pub mod backend;
pub mod protocol;
pub mod server;

pub use backend::{
    Backend, Column, Interrupt, InterruptReason, ListedField, Prepared, ResultSink, Session,
    SessionContext, SqlError, Summary,
};
pub use server::{
    Entropy, KillRequester, KillScope, OsEntropy, ProcessInfo, Processes, RunningServer, Server,
    ServerConfig, ShutdownReport,
};
