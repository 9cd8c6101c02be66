//! Server responses, each with `emit` (what the server sends) and `parse`
//! (for tests and tools):
//!
//! - OK: `0x00 | affected_rows int<lenenc> | last_insert_id int<lenenc> |
//!   status int<2> | warnings int<2> | info` where info is string<lenenc>
//!   (+ session state string<lenenc> if SESSION_STATE_CHANGED) with
//!   CLIENT_SESSION_TRACK; without it, absent when empty, else also
//!   string<lenenc> (what MySQL's `net_send_ok` writes and libmariadb
//!   reads, whatever the protocol pages say). With CLIENT_DEPRECATE_EOF the
//!   same layout with header 0xfe ends a resultset.
//! - ERR: `0xff | code int<2> | '#' | sql_state string[5] | message string<EOF>`.
//! - EOF: `0xfe | warnings int<2> | status int<2>`.
//! - Column count: `int<lenenc>`.
//! - Column Definition 41: `catalog ("def") | schema | table | org_table |
//!   name | org_name` (all string<lenenc>) `| 0x0c int<lenenc> | charset
//!   int<2> | column_length int<4> | type int<1> | flags int<2> | decimals
//!   int<1> | 0x00 0x00`.
//! - Text row: one string<lenenc> per column, 0xfb for NULL.
//! - Binary row: `0x00 | NULL bitmap ((columns + 7 + 2) / 8 bytes, column i
//!   at bit i + 2) | values of the non-NULL columns` (see `value`).
//! - COM_STMT_PREPARE_OK: `0x00 | statement_id int<4> | columns int<2> |
//!   params int<2> | 0x00 | warnings int<2>`, followed by `params` column
//!   definitions and `columns` column definitions, each group ended by EOF
//!   unless CLIENT_DEPRECATE_EOF.
//!
//! A resultset is: column count, column definitions, [EOF], rows, then EOF
//! or (CLIENT_DEPRECATE_EOF) OK with header 0xfe. Only we know the whole
//! sequence, so the helpers here emit single packets' payloads; the caller
//! frames each with `PacketCodec`.

use super::error::{codes::MysqlError, ProtocolError};
use super::flags::{charset, CapabilityFlags, ColumnFlags, ColumnType, StatusFlags};
use super::value::{read_binary_value, write_binary_value, write_text_value, Value};
use super::wire::{self, Reader};

pub const OK_HEADER: u8 = 0x00;
pub const EOF_HEADER: u8 = 0xfe;
pub const ERR_HEADER: u8 = 0xff;

/// MySQL cuts error messages at 512 bytes (MYSQL_ERRMSG_SIZE); so do we.
pub const ERROR_MESSAGE_BYTES_MAX: usize = 512;

/// OK packet (also the CLIENT_DEPRECATE_EOF end of a resultset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OkPacket<'a> {
    pub affected_rows: u64,
    pub last_insert_id: u64,
    pub status: StatusFlags,
    pub warning_count: u16,
    pub info: &'a [u8],
    /// Only sent with CLIENT_SESSION_TRACK and SESSION_STATE_CHANGED.
    pub session_state_info: &'a [u8],
}

impl<'a> OkPacket<'a> {
    /// OK after a command.
    pub fn emit(&self, capabilities: CapabilityFlags, out: &mut Vec<u8>) {
        self.emit_with_header(OK_HEADER, capabilities, out);
    }

    /// OK with header 0xfe, ending a resultset under CLIENT_DEPRECATE_EOF.
    pub fn emit_as_eof(&self, capabilities: CapabilityFlags, out: &mut Vec<u8>) {
        self.emit_with_header(EOF_HEADER, capabilities, out);
    }

    fn emit_with_header(&self, header: u8, capabilities: CapabilityFlags, out: &mut Vec<u8>) {
        out.push(header);
        wire::put_lenenc_int(out, self.affected_rows);
        wire::put_lenenc_int(out, self.last_insert_id);
        if capabilities.contains(CapabilityFlags::PROTOCOL_41) {
            wire::put_u16(out, self.status.bits());
            wire::put_u16(out, self.warning_count);
        } else if capabilities.contains(CapabilityFlags::TRANSACTIONS) {
            wire::put_u16(out, self.status.bits());
        }
        if capabilities.contains(CapabilityFlags::SESSION_TRACK) {
            // Clients read info as string<lenenc> here even when empty.
            wire::put_lenenc_bytes(out, self.info);
            if self.status.contains(StatusFlags::SESSION_STATE_CHANGED) {
                wire::put_lenenc_bytes(out, self.session_state_info);
            }
        } else if !self.info.is_empty() {
            wire::put_lenenc_bytes(out, self.info);
        }
    }

    /// Parse an OK (header 0x00 or 0xfe).
    pub fn parse(payload: &'a [u8], capabilities: CapabilityFlags) -> Result<Self, ProtocolError> {
        let mut reader = Reader::new(payload);
        let header = reader.u8("OK header")?;
        if header != OK_HEADER && header != EOF_HEADER {
            return Err(ProtocolError::BadLenencPrefix {
                field: "OK header",
                prefix: header,
            });
        }
        let mut ok = OkPacket {
            affected_rows: reader.lenenc_int("OK affected_rows")?,
            last_insert_id: reader.lenenc_int("OK last_insert_id")?,
            ..OkPacket::default()
        };
        if capabilities.contains(CapabilityFlags::PROTOCOL_41) {
            ok.status = StatusFlags::from_bits_retain(reader.u16("OK status")?);
            ok.warning_count = reader.u16("OK warnings")?;
        } else if capabilities.contains(CapabilityFlags::TRANSACTIONS) {
            ok.status = StatusFlags::from_bits_retain(reader.u16("OK status")?);
        }
        if capabilities.contains(CapabilityFlags::SESSION_TRACK) {
            if !reader.is_empty() {
                ok.info = reader.lenenc_bytes("OK info")?;
            }
            if ok.status.contains(StatusFlags::SESSION_STATE_CHANGED) {
                ok.session_state_info = reader.lenenc_bytes("OK session state")?;
            }
            reader.finish("OK packet")?;
        } else if !reader.is_empty() {
            ok.info = reader.lenenc_bytes("OK info")?;
            reader.finish("OK packet")?;
        }
        Ok(ok)
    }
}

/// ERR packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrPacket<'a> {
    pub error: MysqlError,
    /// Cut to `ERROR_MESSAGE_BYTES_MAX` bytes (at a UTF-8 boundary) on emit.
    pub message: &'a str,
}

impl<'a> ErrPacket<'a> {
    pub fn emit(&self, capabilities: CapabilityFlags, out: &mut Vec<u8>) {
        out.push(ERR_HEADER);
        wire::put_u16(out, self.error.code);
        if capabilities.contains(CapabilityFlags::PROTOCOL_41) {
            out.push(b'#');
            out.extend_from_slice(&self.error.sql_state);
        }
        let mut end = self.message.len().min(ERROR_MESSAGE_BYTES_MAX);
        while !self.message.is_char_boundary(end) {
            end -= 1;
        }
        out.extend_from_slice(self.message.get(..end).unwrap_or_default().as_bytes());
    }

    /// ERR for a protocol error: its MySQL number, state and message.
    pub fn emit_protocol_error(
        error: &ProtocolError,
        capabilities: CapabilityFlags,
        out: &mut Vec<u8>,
    ) {
        let message = error.to_string();
        ErrPacket {
            error: error.mysql_error(),
            message: &message,
        }
        .emit(capabilities, out);
    }

    pub fn parse(payload: &'a [u8], capabilities: CapabilityFlags) -> Result<Self, ProtocolError> {
        let mut reader = Reader::new(payload);
        let header = reader.u8("ERR header")?;
        if header != ERR_HEADER {
            return Err(ProtocolError::BadLenencPrefix {
                field: "ERR header",
                prefix: header,
            });
        }
        let code = reader.u16("ERR code")?;
        let mut sql_state = *b"HY000";
        if capabilities.contains(CapabilityFlags::PROTOCOL_41) && reader.peek_u8() == Some(b'#') {
            reader.u8("ERR sql_state marker")?;
            sql_state = reader.array("ERR sql_state")?;
        }
        Ok(ErrPacket {
            error: MysqlError { code, sql_state },
            message: wire::utf8(reader.rest(), "ERR message")?,
        })
    }
}

/// EOF packet (clients without CLIENT_DEPRECATE_EOF).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EofPacket {
    pub warning_count: u16,
    pub status: StatusFlags,
}

impl EofPacket {
    pub fn emit(&self, capabilities: CapabilityFlags, out: &mut Vec<u8>) {
        out.push(EOF_HEADER);
        if capabilities.contains(CapabilityFlags::PROTOCOL_41) {
            wire::put_u16(out, self.warning_count);
            wire::put_u16(out, self.status.bits());
        }
    }

    pub fn parse(payload: &[u8], capabilities: CapabilityFlags) -> Result<Self, ProtocolError> {
        let mut reader = Reader::new(payload);
        let header = reader.u8("EOF header")?;
        if header != EOF_HEADER {
            return Err(ProtocolError::BadLenencPrefix {
                field: "EOF header",
                prefix: header,
            });
        }
        let mut eof = EofPacket::default();
        if capabilities.contains(CapabilityFlags::PROTOCOL_41) {
            eof.warning_count = reader.u16("EOF warnings")?;
            eof.status = StatusFlags::from_bits_retain(reader.u16("EOF status")?);
        }
        reader.finish("EOF packet")?;
        Ok(eof)
    }
}

/// The packet that ends a resultset's rows: EOF, or with
/// CLIENT_DEPRECATE_EOF an OK with header 0xfe.
pub fn emit_end_of_rows(
    status: StatusFlags,
    warning_count: u16,
    capabilities: CapabilityFlags,
    out: &mut Vec<u8>,
) {
    if capabilities.contains(CapabilityFlags::DEPRECATE_EOF) {
        OkPacket {
            status,
            warning_count,
            ..OkPacket::default()
        }
        .emit_as_eof(capabilities, out);
    } else {
        EofPacket {
            warning_count,
            status,
        }
        .emit(capabilities, out);
    }
}

/// Whether an EOF packet follows column definitions (not with
/// CLIENT_DEPRECATE_EOF); emit it with `EofPacket::emit` if so.
pub fn eof_after_definitions(capabilities: CapabilityFlags) -> bool {
    !capabilities.contains(CapabilityFlags::DEPRECATE_EOF)
}

/// The first packet of a resultset.
pub fn emit_column_count(column_count: u64, out: &mut Vec<u8>) {
    wire::put_lenenc_int(out, column_count);
}

/// Column Definition 41.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnDefinition<'a> {
    pub schema: &'a [u8],
    pub table: &'a [u8],
    pub org_table: &'a [u8],
    pub name: &'a [u8],
    pub org_name: &'a [u8],
    pub charset: u16,
    /// Maximum display length of the column, in bytes.
    pub column_length: u32,
    pub column_type: ColumnType,
    pub flags: ColumnFlags,
    /// Digits after the point (0x1f for "not fixed": strings, floats).
    pub decimals: u8,
}

const COLUMN_DEFINITION_CATALOG: &[u8] = b"def";
const COLUMN_DEFINITION_FIXED_BYTES: u64 = 0x0c;

impl<'a> ColumnDefinition<'a> {
    /// What MySQL sends for each `?` after COM_STMT_PREPARE_OK.
    pub const PARAMETER_PLACEHOLDER: ColumnDefinition<'static> = ColumnDefinition {
        schema: b"",
        table: b"",
        org_table: b"",
        name: b"?",
        org_name: b"",
        charset: charset::BINARY,
        column_length: 0,
        column_type: ColumnType::VarString,
        flags: ColumnFlags::BINARY,
        decimals: 0,
    };

    pub fn emit(&self, out: &mut Vec<u8>) {
        wire::put_lenenc_bytes(out, COLUMN_DEFINITION_CATALOG);
        wire::put_lenenc_bytes(out, self.schema);
        wire::put_lenenc_bytes(out, self.table);
        wire::put_lenenc_bytes(out, self.org_table);
        wire::put_lenenc_bytes(out, self.name);
        wire::put_lenenc_bytes(out, self.org_name);
        wire::put_lenenc_int(out, COLUMN_DEFINITION_FIXED_BYTES);
        wire::put_u16(out, self.charset);
        wire::put_u32(out, self.column_length);
        out.push(self.column_type.code());
        wire::put_u16(out, self.flags.bits());
        out.push(self.decimals);
        out.extend_from_slice(&[0, 0]);
    }

    pub fn parse(payload: &'a [u8]) -> Result<Self, ProtocolError> {
        const WHAT: &str = "column definition";
        let mut reader = Reader::new(payload);
        reader.lenenc_bytes("column definition catalog")?;
        let schema = reader.lenenc_bytes("column definition schema")?;
        let table = reader.lenenc_bytes("column definition table")?;
        let org_table = reader.lenenc_bytes("column definition org_table")?;
        let name = reader.lenenc_bytes("column definition name")?;
        let org_name = reader.lenenc_bytes("column definition org_name")?;
        let fixed_bytes = reader.lenenc_int("column definition fixed-length fields")?;
        if fixed_bytes != COLUMN_DEFINITION_FIXED_BYTES {
            return Err(ProtocolError::TrailingBytes {
                what: WHAT,
                trailing_bytes: reader.remaining_bytes(),
            });
        }
        let charset = reader.u16("column definition charset")?;
        let column_length = reader.u32("column definition column_length")?;
        let type_code = reader.u8("column definition type")?;
        let Some(column_type) = ColumnType::from_code(type_code) else {
            return Err(ProtocolError::UnknownParameterType {
                what: WHAT,
                index: 0,
                type_code,
            });
        };
        let flags = ColumnFlags::from_bits_retain(reader.u16("column definition flags")?);
        let decimals = reader.u8("column definition decimals")?;
        reader.take(2, "column definition filler")?;
        reader.finish(WHAT)?;
        Ok(ColumnDefinition {
            schema,
            table,
            org_table,
            name,
            org_name,
            charset,
            column_length,
            column_type,
            flags,
            decimals,
        })
    }
}

/// A text resultset row.
pub fn emit_text_row(values: &[Value<'_>], out: &mut Vec<u8>) {
    for value in values {
        write_text_value(out, value);
    }
}

/// Parse a text row of `column_count` columns: `None` is NULL.
pub fn parse_text_row(
    payload: &[u8],
    column_count: usize,
) -> Result<Vec<Option<&[u8]>>, ProtocolError> {
    let mut reader = Reader::new(payload);
    // Each column takes at least one byte, which bounds the allocation.
    let mut row = Vec::with_capacity(column_count.min(payload.len()));
    for _ in 0..column_count {
        row.push(reader.lenenc_bytes_or_null("text row value")?);
    }
    reader.finish("text row")?;
    Ok(row)
}

/// Bytes of a binary row's NULL bitmap for `column_count` columns.
pub fn binary_row_null_bitmap_bytes(column_count: usize) -> usize {
    (column_count + 7 + 2) / 8
}

/// A binary resultset row. `column_types` are the types sent in the column
/// definitions; each non-NULL value must fit its column's wire width. On
/// error nothing is appended.
pub fn emit_binary_row(
    column_types: &[ColumnType],
    values: &[Value<'_>],
    out: &mut Vec<u8>,
) -> Result<(), ProtocolError> {
    if column_types.len() != values.len() {
        return Err(ProtocolError::RowWidthMismatch {
            value_count: values.len(),
            column_count: column_types.len(),
        });
    }
    let start = out.len();
    out.push(OK_HEADER);
    let bitmap_offset = out.len();
    out.resize(
        bitmap_offset + binary_row_null_bitmap_bytes(values.len()),
        0,
    );
    for (index, (column_type, value)) in column_types.iter().zip(values).enumerate() {
        if matches!(value, Value::Null) {
            let bit = index + 2;
            out[bitmap_offset + bit / 8] |= 1 << (bit % 8);
        } else if let Err(error) = write_binary_value(out, *column_type, value, index) {
            out.truncate(start);
            return Err(error);
        }
    }
    Ok(())
}

/// Parse a binary row; `columns` are (type, unsigned) per column.
pub fn parse_binary_row<'a>(
    payload: &'a [u8],
    columns: &[(ColumnType, bool)],
) -> Result<Vec<Value<'a>>, ProtocolError> {
    let mut reader = Reader::new(payload);
    let header = reader.u8("binary row header")?;
    if header != OK_HEADER {
        return Err(ProtocolError::BadLenencPrefix {
            field: "binary row header",
            prefix: header,
        });
    }
    let bitmap = reader.take(
        binary_row_null_bitmap_bytes(columns.len()),
        "binary row NULL bitmap",
    )?;
    let mut row = Vec::with_capacity(columns.len());
    for (index, &(column_type, unsigned)) in columns.iter().enumerate() {
        let bit = index + 2;
        let is_null = bitmap
            .get(bit / 8)
            .is_some_and(|byte| byte & (1 << (bit % 8)) != 0);
        row.push(if is_null {
            Value::Null
        } else {
            read_binary_value(&mut reader, column_type, unsigned, "binary row", index)?
        });
    }
    reader.finish("binary row")?;
    Ok(row)
}

/// COM_STMT_PREPARE_OK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrepareOk {
    pub statement_id: u32,
    pub column_count: u16,
    pub param_count: u16,
    pub warning_count: u16,
}

impl PrepareOk {
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(OK_HEADER);
        wire::put_u32(out, self.statement_id);
        wire::put_u16(out, self.column_count);
        wire::put_u16(out, self.param_count);
        out.push(0);
        wire::put_u16(out, self.warning_count);
    }

    pub fn parse(payload: &[u8]) -> Result<Self, ProtocolError> {
        let mut reader = Reader::new(payload);
        let header = reader.u8("COM_STMT_PREPARE_OK header")?;
        if header != OK_HEADER {
            return Err(ProtocolError::BadLenencPrefix {
                field: "COM_STMT_PREPARE_OK header",
                prefix: header,
            });
        }
        let prepare_ok = PrepareOk {
            statement_id: reader.u32("COM_STMT_PREPARE_OK statement_id")?,
            column_count: reader.u16("COM_STMT_PREPARE_OK num_columns")?,
            param_count: reader.u16("COM_STMT_PREPARE_OK num_params")?,
            warning_count: {
                reader.u8("COM_STMT_PREPARE_OK reserved")?;
                reader.u16("COM_STMT_PREPARE_OK warning_count")?
            },
        };
        reader.finish("COM_STMT_PREPARE_OK")?;
        Ok(prepare_ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::codes;
    use crate::protocol::packet::{Decoded, MaxAllowedPacket, PacketCodec};

    const CAPS: CapabilityFlags = CapabilityFlags::PROTOCOL_41;

    /// Split framed bytes into payloads, checking sequence ids from `first`.
    fn payloads(mut wire: &[u8], first_sequence_id: u8) -> Vec<Vec<u8>> {
        let mut codec = PacketCodec::new(MaxAllowedPacket::DEFAULT);
        for _ in 0..first_sequence_id {
            codec.write_packet(&mut Vec::new(), b"");
        }
        let mut out = Vec::new();
        while !wire.is_empty() {
            match codec.decode(wire) {
                Ok(Decoded::Packet {
                    payload,
                    consumed_bytes,
                }) => {
                    out.push(payload.to_vec());
                    wire = &wire[consumed_bytes..];
                }
                other => panic!("framing: {other:?}"),
            }
        }
        out
    }

    fn hex(text: &str) -> Vec<u8> {
        text.split_whitespace()
            .map(|byte| u8::from_str_radix(byte, 16).expect("hex byte"))
            .collect()
    }

    // The documentation's OK example (07 00 00 02 00 00 00 02 00 00 00),
    // parsed and re-emitted with its packet header.
    #[test]
    fn ok_documented_example() {
        let wire = hex("07 00 00 02 00 00 00 02 00 00 00");
        let payload = &payloads(&wire, 2)[0];
        let ok = OkPacket::parse(payload, CAPS).expect("valid OK");
        assert_eq!(
            ok,
            OkPacket {
                status: StatusFlags::AUTOCOMMIT,
                ..OkPacket::default()
            }
        );
        let mut out = Vec::new();
        ok.emit(CAPS, &mut out);
        assert_eq!(&out, payload);
    }

    // OK with rows, insert id, info, and the SESSION_TRACK form, both ways;
    // the 0xfe variant differs only in its header.
    #[test]
    fn ok_fields_round_trip() {
        let ok = OkPacket {
            affected_rows: 300,
            last_insert_id: 7,
            status: StatusFlags::AUTOCOMMIT | StatusFlags::IN_TRANS,
            warning_count: 2,
            info: b"Rows matched: 1",
            session_state_info: b"",
        };
        let mut out = Vec::new();
        ok.emit(CAPS, &mut out);
        let mut expected = vec![0x00, 0xfc, 0x2c, 0x01, 0x07, 0x03, 0x00, 0x02, 0x00, 15];
        expected.extend_from_slice(b"Rows matched: 1");
        assert_eq!(out, expected);
        assert_eq!(OkPacket::parse(&out, CAPS), Ok(ok));
        let mut as_eof = Vec::new();
        ok.emit_as_eof(CAPS, &mut as_eof);
        assert_eq!(as_eof[0], 0xfe);
        assert_eq!(as_eof[1..], out[1..]);
        let tracked = CAPS | CapabilityFlags::SESSION_TRACK;
        let mut out = Vec::new();
        ok.emit(tracked, &mut out);
        assert_eq!(out[9], 15);
        assert_eq!(OkPacket::parse(&out, tracked), Ok(ok));
        assert!(matches!(
            OkPacket::parse(&[0x00, 0x01], CAPS),
            Err(ProtocolError::Truncated { .. })
        ));
    }

    // The documentation's ERR example (1096, HY000, "No tables used"), both ways.
    #[test]
    fn err_documented_example() {
        let wire =
            hex("17 00 00 01 ff 48 04 23 48 59 30 30 30 4e 6f 20 74 61 62 6c 65 73 20 75 73 65 64");
        let payload = &payloads(&wire, 1)[0];
        let err = ErrPacket::parse(payload, CAPS).expect("valid ERR");
        assert_eq!(err.error.code, 1096);
        assert_eq!(&err.error.sql_state, b"HY000");
        assert_eq!(err.message, "No tables used");
        let mut out = Vec::new();
        err.emit(CAPS, &mut out);
        assert_eq!(&out, payload);
    }

    // A protocol error becomes its MySQL ERR; long messages are cut at 512
    // bytes on a character boundary.
    #[test]
    fn err_from_protocol_error_and_truncation() {
        let mut out = Vec::new();
        ErrPacket::emit_protocol_error(
            &ProtocolError::UnknownCommand { code: 0x20 },
            CAPS,
            &mut out,
        );
        let err = ErrPacket::parse(&out, CAPS).expect("valid ERR");
        assert_eq!(err.error, codes::ER_UNKNOWN_COM_ERROR);
        assert_eq!(err.message, "unknown command byte 0x20");

        let long = "é".repeat(300); // 600 bytes
        let mut out = Vec::new();
        ErrPacket {
            error: codes::ER_UNKNOWN_ERROR,
            message: &long,
        }
        .emit(CAPS, &mut out);
        let err = ErrPacket::parse(&out, CAPS).expect("valid ERR");
        assert_eq!(err.message.len(), 512);
    }

    // The documentation's EOF example (fe 00 00 02 00), both ways.
    #[test]
    fn eof_documented_example() {
        let wire = hex("05 00 00 05 fe 00 00 02 00");
        let payload = &payloads(&wire, 5)[0];
        let eof = EofPacket::parse(payload, CAPS).expect("valid EOF");
        assert_eq!(
            eof,
            EofPacket {
                warning_count: 0,
                status: StatusFlags::AUTOCOMMIT
            }
        );
        let mut out = Vec::new();
        eof.emit(CAPS, &mut out);
        assert_eq!(&out, payload);
        let mut deprecated = Vec::new();
        emit_end_of_rows(
            StatusFlags::AUTOCOMMIT,
            0,
            CAPS | CapabilityFlags::DEPRECATE_EOF,
            &mut deprecated,
        );
        assert_eq!(deprecated, [0xfe, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00]);
    }

    // The documentation's text resultset for SELECT repeat("a", 50), framed
    // packet by packet from our emitters, equals the documented bytes.
    #[test]
    fn text_resultset_documented_example() {
        let documented = hex(concat!(
            "01 00 00 01 01 ",
            "25 00 00 02 03 64 65 66 00 00 00 0f 72 65 70 65 61 74 28 22 61 22 2c 20 35 30 29 ",
            "00 0c 08 00 32 00 00 00 fd 01 00 1f 00 00 ",
            "05 00 00 03 fe 00 00 02 00 ",
            "33 00 00 04 32 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 ",
            "61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 ",
            "05 00 00 05 fe 00 00 02 00"
        ));
        let column = ColumnDefinition {
            schema: b"",
            table: b"",
            org_table: b"",
            name: b"repeat(\"a\", 50)",
            org_name: b"",
            charset: 8,
            column_length: 50,
            column_type: ColumnType::VarString,
            flags: ColumnFlags::NOT_NULL,
            decimals: 0x1f,
        };
        let mut codec = PacketCodec::new(MaxAllowedPacket::DEFAULT);
        codec.write_packet(&mut Vec::new(), b"query"); // the COM_QUERY took id 0
        let mut wire = Vec::new();
        let mut payload = Vec::new();
        emit_column_count(1, &mut payload);
        codec.write_packet(&mut wire, &payload);
        payload.clear();
        column.emit(&mut payload);
        assert_eq!(ColumnDefinition::parse(&payload), Ok(column));
        codec.write_packet(&mut wire, &payload);
        assert!(eof_after_definitions(CAPS));
        payload.clear();
        EofPacket {
            warning_count: 0,
            status: StatusFlags::AUTOCOMMIT,
        }
        .emit(CAPS, &mut payload);
        codec.write_packet(&mut wire, &payload);
        payload.clear();
        let fifty = [b'a'; 50];
        emit_text_row(&[Value::Bytes(&fifty)], &mut payload);
        assert_eq!(parse_text_row(&payload, 1), Ok(vec![Some(&fifty[..])]));
        codec.write_packet(&mut wire, &payload);
        payload.clear();
        emit_end_of_rows(StatusFlags::AUTOCOMMIT, 0, CAPS, &mut payload);
        codec.write_packet(&mut wire, &payload);
        assert_eq!(wire, documented);
    }

    // The documentation's binary resultset row ("foobar" in a VAR_STRING
    // column) and a row with NULLs at bitmap offset 2, both ways.
    #[test]
    fn binary_rows_fixed_bytes() {
        let documented = hex("00 00 06 66 6f 6f 62 61 72");
        let mut out = Vec::new();
        emit_binary_row(
            &[ColumnType::VarString],
            &[Value::Bytes(b"foobar")],
            &mut out,
        )
        .expect("fits");
        assert_eq!(out, documented);
        assert_eq!(
            parse_binary_row(&documented, &[(ColumnType::VarString, false)]),
            Ok(vec![Value::Bytes(b"foobar")])
        );

        let types = [ColumnType::Long, ColumnType::Null, ColumnType::Tiny];
        let values = [Value::Int(1), Value::Null, Value::UInt(255)];
        let mut out = Vec::new();
        emit_binary_row(&types, &values, &mut out).expect("fits");
        // Column 1 is NULL: bit 3 of the first bitmap byte.
        assert_eq!(out, [0x00, 0x08, 0x01, 0x00, 0x00, 0x00, 0xff]);
        let columns = [
            (ColumnType::Long, false),
            (ColumnType::Null, false),
            (ColumnType::Tiny, true),
        ];
        assert_eq!(parse_binary_row(&out, &columns), Ok(values.to_vec()));

        // Six columns need a second bitmap byte.
        assert_eq!(binary_row_null_bitmap_bytes(6), 1);
        assert_eq!(binary_row_null_bitmap_bytes(7), 2);

        let mut out = vec![0xaa];
        assert!(emit_binary_row(&[ColumnType::Tiny], &[Value::Int(1000)], &mut out).is_err());
        assert_eq!(out, [0xaa], "a failed row appends nothing");
        assert_eq!(
            emit_binary_row(&[ColumnType::Tiny], &[], &mut out),
            Err(ProtocolError::RowWidthMismatch {
                value_count: 0,
                column_count: 1
            })
        );
    }

    // The documentation's COM_STMT_PREPARE_OK for SELECT CONCAT(?, ?) AS col1,
    // with its parameter and column definitions, both ways.
    #[test]
    fn prepare_ok_documented_example() {
        let ok_bytes = hex("00 01 00 00 00 01 00 02 00 00 00 00");
        let prepare_ok = PrepareOk::parse(&ok_bytes).expect("valid PREPARE_OK");
        assert_eq!(
            prepare_ok,
            PrepareOk {
                statement_id: 1,
                column_count: 1,
                param_count: 2,
                warning_count: 0
            }
        );
        let mut out = Vec::new();
        prepare_ok.emit(&mut out);
        assert_eq!(out, ok_bytes);

        let param = hex("03 64 65 66 00 00 00 01 3f 00 0c 3f 00 00 00 00 00 fd 80 00 00 00 00");
        assert_eq!(
            ColumnDefinition::parse(&param),
            Ok(ColumnDefinition::PARAMETER_PLACEHOLDER)
        );
        let mut out = Vec::new();
        ColumnDefinition::PARAMETER_PLACEHOLDER.emit(&mut out);
        assert_eq!(out, param);

        let col1 =
            hex("03 64 65 66 00 00 00 04 63 6f 6c 31 00 0c 3f 00 00 00 00 00 fd 80 00 1f 00 00");
        let column = ColumnDefinition::parse(&col1).expect("valid column definition");
        assert_eq!(column.name, b"col1");
        assert_eq!(column.decimals, 0x1f);
        let mut out = Vec::new();
        column.emit(&mut out);
        assert_eq!(out, col1);
    }

    // Truncated and corrupted column definitions and rows are typed errors.
    #[test]
    fn malformed_responses() {
        let col1 =
            hex("03 64 65 66 00 00 00 04 63 6f 6c 31 00 0c 3f 00 00 00 00 00 fd 80 00 1f 00 00");
        for cut in 0..col1.len() {
            assert!(
                ColumnDefinition::parse(&col1[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut bad_fixed = col1.clone();
        bad_fixed[13] = 0x0b;
        assert!(ColumnDefinition::parse(&bad_fixed).is_err());
        assert!(matches!(
            parse_text_row(&[0x05, b'a'], 1),
            Err(ProtocolError::Truncated { .. })
        ));
        assert!(matches!(
            parse_text_row(&[0xff], 1),
            Err(ProtocolError::BadLenencPrefix { .. })
        ));
        assert_eq!(
            parse_text_row(&[0xfb, 0x00], 2),
            Ok(vec![None, Some(&b""[..])])
        );
        assert!(PrepareOk::parse(&[0x00, 0x01]).is_err());
        assert!(EofPacket::parse(&[0xfe, 0x00, 0x00, 0x02, 0x00, 0x00], CAPS).is_err());
    }
}
