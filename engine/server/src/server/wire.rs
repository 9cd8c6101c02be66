//! The sending half of a connection: packets are framed into one output
//! buffer and written to the socket when it passes `FLUSH_BYTES` or when a
//! command's answer is complete, so a small answer costs one write.
//! `ResultWriter` is the `ResultSink` a session streams results into.

use std::io::{self, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use floe_rt::sched::{self, Interest};

use crate::backend::{ResultSink, SqlError, Summary};
use crate::protocol::codes::{self, MysqlError};
use crate::protocol::response::{
    emit_binary_row, emit_column_count, emit_end_of_rows, emit_text_row, eof_after_definitions,
};
use crate::protocol::{
    CapabilityFlags, ColumnDefinition, ColumnType, EofPacket, ErrPacket, OkPacket, PacketCodec,
    ProtocolError, StatusFlags, Value,
};

/// Write to the socket once this much is buffered: large enough that a
/// result set goes out in few writes, small enough to stay in cache.
const FLUSH_BYTES: usize = 64 << 10;
/// After a large answer, give back buffer memory above this, so idle
/// connections stay small.
pub(crate) const BUFFER_KEEP_BYTES: usize = 64 << 10;

/// Writes all of `bytes` to the nonblocking `stream`, waiting for room
/// (parking the fiber, or the thread in poll(2)) until `deadline`.
fn write_all(stream: &TcpStream, mut bytes: &[u8], deadline: Instant) -> io::Result<()> {
    while !bytes.is_empty() {
        match (&*stream).write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let fd = stream.as_raw_fd();
                if !sched::wait_fd(fd, Interest::Writable, Some(deadline))? {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client did not take the answer within net_write_timeout",
                    ));
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub(crate) struct Wire {
    /// Shared with the connection table, which shuts it down to wake a
    /// blocked read: one file descriptor per connection.
    pub(crate) stream: Arc<TcpStream>,
    /// Time allowed for one flush to reach the socket (net_write_timeout).
    write_timeout: Duration,
    /// Sequence ids for both directions; the reader decodes through it too.
    pub(crate) codec: PacketCodec,
    output: Vec<u8>,
    /// Negotiated; PROTOCOL_41 alone before the handshake response.
    pub(crate) capabilities: CapabilityFlags,
}

impl Wire {
    /// `stream` must be nonblocking: waits go through the scheduler.
    pub(crate) fn new(stream: Arc<TcpStream>, codec: PacketCodec, write_timeout: Duration) -> Self {
        Self {
            stream,
            write_timeout,
            codec,
            output: Vec::new(),
            capabilities: CapabilityFlags::PROTOCOL_41,
        }
    }

    /// Frame one packet whose payload `emit` appends.
    pub(crate) fn packet(&mut self, emit: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
        let start = self.codec.begin_packet(&mut self.output);
        emit(&mut self.output);
        self.codec.end_packet(&mut self.output, start);
        self.flush_if_full()
    }

    /// Frame one packet whose payload `emit` may fail to produce; on `Err`
    /// nothing is framed (the sequence id advances only in `end_packet`).
    pub(crate) fn try_packet<E>(
        &mut self,
        emit: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<io::Result<()>, E> {
        let mark = self.output.len();
        let start = self.codec.begin_packet(&mut self.output);
        if let Err(error) = emit(&mut self.output) {
            self.output.truncate(mark);
            return Err(error);
        }
        self.codec.end_packet(&mut self.output, start);
        Ok(self.flush_if_full())
    }

    fn flush_if_full(&mut self) -> io::Result<()> {
        if self.output.len() >= FLUSH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        if !self.output.is_empty() {
            let deadline = Instant::now() + self.write_timeout;
            let result = write_all(&self.stream, &self.output, deadline);
            self.output.clear();
            if self.output.capacity() > BUFFER_KEEP_BYTES {
                self.output.shrink_to(BUFFER_KEEP_BYTES);
            }
            result?;
        }
        Ok(())
    }

    pub(crate) fn ok(&mut self, status: StatusFlags) -> io::Result<()> {
        let capabilities = self.capabilities;
        self.packet(|out| {
            OkPacket {
                status,
                ..OkPacket::default()
            }
            .emit(capabilities, out)
        })
    }

    pub(crate) fn error(&mut self, error: MysqlError, message: &str) -> io::Result<()> {
        let capabilities = self.capabilities;
        self.packet(|out| ErrPacket { error, message }.emit(capabilities, out))
    }

    pub(crate) fn sql_error(&mut self, error: &SqlError) -> io::Result<()> {
        self.error(error.mysql_error(), &error.message)
    }

    pub(crate) fn protocol_error(&mut self, error: &ProtocolError) -> io::Result<()> {
        let capabilities = self.capabilities;
        self.packet(|out| ErrPacket::emit_protocol_error(error, capabilities, out))
    }

    /// Column definitions, then EOF unless CLIENT_DEPRECATE_EOF.
    pub(crate) fn definitions<'c>(
        &mut self,
        columns: impl IntoIterator<Item = ColumnDefinition<'c>>,
        status: StatusFlags,
    ) -> io::Result<()> {
        for column in columns {
            self.packet(|out| column.emit(out))?;
        }
        if eof_after_definitions(self.capabilities) {
            let capabilities = self.capabilities;
            self.packet(|out| {
                EofPacket {
                    warning_count: 0,
                    status,
                }
                .emit(capabilities, out)
            })?;
        }
        Ok(())
    }
}

/// How a statement's end is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndKind {
    Ok,
    EndOfRows,
}

/// A statement's end, held back until it is known whether another result
/// follows (then it carries MORE_RESULTS_EXISTS), so sessions need not
/// know what comes after the statement they just finished.
struct PendingEnd {
    kind: EndKind,
    affected_rows: u64,
    last_insert_id: u64,
    status: StatusFlags,
    warning_count: u16,
    info: String,
}

enum State {
    /// Between statements.
    Idle,
    /// Column definitions sent; rows of this width may follow.
    Rows { column_count: usize },
}

/// The `ResultSink` of one COM_QUERY or COM_STMT_EXECUTE.
pub(crate) struct ResultWriter<'w> {
    wire: &'w mut Wire,
    /// Binary rows (COM_STMT_EXECUTE): the current result's column types.
    binary: bool,
    column_types: Vec<ColumnType>,
    state: State,
    pending: Option<PendingEnd>,
    /// Status for EOF packets before a statement has reported its own.
    status: StatusFlags,
    /// The first write error: the client is gone and the connection closes.
    write_error: Option<io::Error>,
    results: u32,
}

impl<'w> ResultWriter<'w> {
    pub(crate) fn new(wire: &'w mut Wire, binary: bool, status: StatusFlags) -> Self {
        Self {
            wire,
            binary,
            column_types: Vec::new(),
            state: State::Idle,
            pending: None,
            status,
            write_error: None,
            results: 0,
        }
    }

    /// Send what the session's call left: its last statement's end, or the
    /// error it failed with. An `Err` means the socket failed: close.
    pub(crate) fn finish(mut self, outcome: Result<(), SqlError>) -> io::Result<()> {
        if let Some(error) = self.write_error.take() {
            return Err(error);
        }
        match outcome {
            Ok(()) => {
                if let State::Rows { .. } = self.state {
                    log::error!("SQL layer bug: a result set ended without done()");
                    return self.wire.error(
                        codes::ER_UNKNOWN_ERROR,
                        "internal error: result set not ended by the SQL layer",
                    );
                }
                match self.pending.take() {
                    Some(end) => self.emit_end(end, false),
                    None => {
                        log::error!("SQL layer bug: a statement reported no result");
                        self.wire.error(
                            codes::ER_UNKNOWN_ERROR,
                            "internal error: the statement reported no result",
                        )
                    }
                }
            }
            Err(error) => {
                if let Some(end) = self.pending.take() {
                    self.emit_end(end, true)?;
                }
                // An ERR in place of a row also ends a result set.
                self.wire.sql_error(&error)
            }
        }
    }

    fn emit_end(&mut self, end: PendingEnd, more_results: bool) -> io::Result<()> {
        let mut status = end.status;
        status.set(StatusFlags::MORE_RESULTS_EXISTS, more_results);
        let capabilities = self.wire.capabilities;
        match end.kind {
            EndKind::Ok => self.wire.packet(|out| {
                OkPacket {
                    affected_rows: end.affected_rows,
                    last_insert_id: end.last_insert_id,
                    status,
                    warning_count: end.warning_count,
                    info: end.info.as_bytes(),
                    session_state_info: b"",
                }
                .emit(capabilities, out)
            }),
            EndKind::EndOfRows => self
                .wire
                .packet(|out| emit_end_of_rows(status, end.warning_count, capabilities, out)),
        }
    }

    /// A previous statement's end goes out now, marked "more follow".
    fn release_pending(&mut self) -> Result<(), SqlError> {
        if let Some(end) = self.pending.take() {
            let written = self.emit_end(end, true);
            self.check_write(written)?;
        }
        Ok(())
    }

    fn check_write(&mut self, written: io::Result<()>) -> Result<(), SqlError> {
        written.map_err(|error| {
            let message = format!("Got an error writing communication packets: {error}");
            self.write_error = Some(error);
            SqlError::new(codes::ER_NET_ERROR_ON_WRITE, message)
        })
    }

    fn misuse(&self, what: &str) -> SqlError {
        log::error!("SQL layer bug: {what}");
        SqlError::new(codes::ER_UNKNOWN_ERROR, format!("internal error: {what}"))
    }

    fn failed(&self) -> Result<(), SqlError> {
        match &self.write_error {
            None => Ok(()),
            Some(error) => Err(SqlError::new(
                codes::ER_NET_ERROR_ON_WRITE,
                format!("Got an error writing communication packets: {error}"),
            )),
        }
    }
}

impl ResultSink for ResultWriter<'_> {
    fn columns(&mut self, columns: &[ColumnDefinition<'_>]) -> Result<(), SqlError> {
        self.failed()?;
        if let State::Rows { .. } = self.state {
            return Err(self.misuse("columns() inside a result set"));
        }
        if columns.is_empty() {
            return Err(self.misuse("a result set without columns"));
        }
        self.release_pending()?;
        if self.binary {
            self.column_types.clear();
            self.column_types
                .extend(columns.iter().map(|column| column.column_type));
        }
        let status = self.status;
        let written = self
            .wire
            .packet(|out| emit_column_count(columns.len() as u64, out))
            .and_then(|()| self.wire.definitions(columns.iter().copied(), status));
        self.check_write(written)?;
        self.state = State::Rows {
            column_count: columns.len(),
        };
        Ok(())
    }

    fn row(&mut self, values: &[Value<'_>]) -> Result<(), SqlError> {
        self.failed()?;
        let State::Rows { column_count } = self.state else {
            return Err(self.misuse("row() outside a result set"));
        };
        if values.len() != column_count {
            return Err(self.misuse(&format!(
                "a row of {} values for {column_count} columns",
                values.len()
            )));
        }
        let written = if self.binary {
            let column_types = &self.column_types;
            match self
                .wire
                .try_packet(|out| emit_binary_row(column_types, values, out))
            {
                Ok(written) => written,
                // A value its column type cannot carry: the SQL layer's bug.
                // Nothing was framed; the statement fails with this error.
                Err(error) => return Err(self.misuse(&format!("binary row: {error}"))),
            }
        } else {
            self.wire.packet(|out| emit_text_row(values, out))
        };
        self.check_write(written)
    }

    fn done(&mut self, summary: &Summary<'_>) -> Result<(), SqlError> {
        self.failed()?;
        self.release_pending()?;
        let kind = match self.state {
            State::Rows { .. } => EndKind::EndOfRows,
            State::Idle => EndKind::Ok,
        };
        self.state = State::Idle;
        self.status = summary.status;
        self.results += 1;
        self.pending = Some(PendingEnd {
            kind,
            affected_rows: if kind == EndKind::Ok {
                summary.affected_rows
            } else {
                0
            },
            last_insert_id: summary.last_insert_id,
            status: summary.status,
            warning_count: summary.warning_count,
            info: summary.info.to_owned(),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ColumnFlags, Decoded, MaxAllowedPacket};
    use std::io::Read;
    use std::net::TcpListener;

    fn connected_wire() -> (Wire, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        server.set_nonblocking(true).expect("nonblocking");
        let mut wire = Wire::new(
            Arc::new(server),
            PacketCodec::new(MaxAllowedPacket::DEFAULT),
            Duration::from_secs(60),
        );
        wire.capabilities = CapabilityFlags::SERVER_DEFAULT;
        (wire, client)
    }

    fn payloads(mut client: TcpStream) -> Vec<Vec<u8>> {
        let mut bytes = Vec::new();
        client.read_to_end(&mut bytes).expect("read");
        let mut codec = PacketCodec::new(MaxAllowedPacket::DEFAULT);
        let mut rest = &bytes[..];
        let mut out = Vec::new();
        while !rest.is_empty() {
            let Ok(Decoded::Packet {
                payload,
                consumed_bytes,
            }) = codec.decode(rest)
            else {
                panic!("framing");
            };
            out.push(payload.to_vec());
            rest = &rest[consumed_bytes..];
        }
        out
    }

    const LONGLONG: ColumnDefinition<'static> = ColumnDefinition {
        schema: b"",
        table: b"",
        org_table: b"",
        name: b"n",
        org_name: b"",
        charset: 63,
        column_length: 20,
        column_type: ColumnType::LongLong,
        flags: ColumnFlags::NOT_NULL,
        decimals: 0,
    };

    // A SQL layer that calls the sink out of order, with the wrong width or
    // with a value its column type cannot carry gets an error, and nothing
    // malformed reaches the client: the stream stays count, definition,
    // row, end, in sequence.
    #[test]
    fn misuse_is_refused_without_framing() {
        let (mut wire, client) = connected_wire();
        let mut writer = ResultWriter::new(&mut wire, true, StatusFlags::AUTOCOMMIT);
        assert_eq!(writer.row(&[Value::Int(1)]).map_err(|e| e.code), Err(1105));
        assert_eq!(writer.columns(&[]).map_err(|e| e.code), Err(1105));
        writer.columns(&[LONGLONG]).expect("columns");
        assert_eq!(writer.columns(&[LONGLONG]).map_err(|e| e.code), Err(1105));
        assert_eq!(
            writer.row(&[Value::Bytes(b"x")]).map_err(|e| e.code),
            Err(1105)
        );
        assert_eq!(
            writer
                .row(&[Value::Int(1), Value::Int(2)])
                .map_err(|e| e.code),
            Err(1105)
        );
        writer.row(&[Value::Int(7)]).expect("row");
        writer
            .done(&Summary {
                status: StatusFlags::AUTOCOMMIT,
                ..Summary::default()
            })
            .expect("done");
        writer.finish(Ok(())).expect("finish");
        wire.flush().expect("flush");
        drop(wire);
        let payloads = payloads(client);
        assert_eq!(payloads.len(), 4, "{payloads:?}");
        assert_eq!(payloads[0], [1]);
        assert_eq!(payloads[2], [0x00, 0x00, 7, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(payloads[3][0], 0xfe);
    }

    // Two statements: the first's end carries MORE_RESULTS_EXISTS, the
    // last's does not; a failure after a result sends that result flagged,
    // then the ERR.
    #[test]
    fn more_results_flag_is_set_by_the_writer() {
        let (mut wire, client) = connected_wire();
        let mut writer = ResultWriter::new(&mut wire, false, StatusFlags::AUTOCOMMIT);
        let ok = Summary {
            affected_rows: 2,
            status: StatusFlags::AUTOCOMMIT,
            ..Summary::default()
        };
        writer.done(&ok).expect("first");
        writer.done(&ok).expect("second");
        writer.finish(Ok(())).expect("finish");
        let mut writer = ResultWriter::new(&mut wire, false, StatusFlags::AUTOCOMMIT);
        writer.done(&ok).expect("first");
        let error = SqlError::new(codes::ER_PARSE_ERROR, "near 'x'");
        writer.finish(Err(error)).expect("finish");
        wire.flush().expect("flush");
        drop(wire);
        let payloads = payloads(client);
        let status = |payload: &[u8]| {
            OkPacket::parse(payload, CapabilityFlags::SERVER_DEFAULT)
                .expect("OK")
                .status
        };
        assert_eq!(payloads.len(), 4);
        assert!(status(&payloads[0]).contains(StatusFlags::MORE_RESULTS_EXISTS));
        assert!(!status(&payloads[1]).contains(StatusFlags::MORE_RESULTS_EXISTS));
        assert!(status(&payloads[2]).contains(StatusFlags::MORE_RESULTS_EXISTS));
        let err = ErrPacket::parse(&payloads[3], CapabilityFlags::SERVER_DEFAULT).expect("ERR");
        assert_eq!(err.error.code, 1064);
    }
}
