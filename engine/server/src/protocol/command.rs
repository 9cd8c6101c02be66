//! Command phase: one client packet (sequence id 0) decoded into a validated
//! `Command`. The first payload byte is the command code; the rest is laid
//! out per command:
//!
//! | code | command | after the code |
//! | --- | --- | --- |
//! | 0x01 | COM_QUIT | nothing |
//! | 0x02 | COM_INIT_DB | schema string<EOF> |
//! | 0x03 | COM_QUERY | [query attributes, with CLIENT_QUERY_ATTRIBUTES] sql string<EOF> |
//! | 0x04 | COM_FIELD_LIST | table string<NUL>, wildcard string<EOF> |
//! | 0x09 | COM_STATISTICS | nothing |
//! | 0x0c | COM_PROCESS_KILL | connection_id int<4> |
//! | 0x0e | COM_PING | nothing |
//! | 0x16 | COM_STMT_PREPARE | sql string<EOF> |
//! | 0x17 | COM_STMT_EXECUTE | statement_id int<4>, flags int<1>, iteration_count int<4>, parameters |
//! | 0x18 | COM_STMT_SEND_LONG_DATA | statement_id int<4>, param_id int<2>, data string<EOF> |
//! | 0x19 | COM_STMT_CLOSE | statement_id int<4> |
//! | 0x1a | COM_STMT_RESET | statement_id int<4> |
//! | 0x1b | COM_SET_OPTION | option int<2> (0 = multi-statements on, 1 = off) |
//! | 0x1c | COM_STMT_FETCH | statement_id int<4>, row_count int<4> |
//! | 0x1f | COM_RESET_CONNECTION | nothing |
//!
//! Query attributes on COM_QUERY (CLIENT_QUERY_ATTRIBUTES):
//! `parameter_count int<lenenc> | parameter_set_count int<lenenc> (1) | if
//! parameter_count > 0: null_bitmap ((count+7)/8) | new_params_bind_flag
//! int<1> (1) | per parameter: type int<2>, name string<lenenc> | values`.
//!
//! COM_STMT_EXECUTE parameters, present when the statement has placeholders
//! or (CLIENT_QUERY_ATTRIBUTES and PARAMETER_COUNT_AVAILABLE): `[with
//! CLIENT_QUERY_ATTRIBUTES: parameter_count int<lenenc>] | if count > 0:
//! null_bitmap | new_params_bind_flag int<1> | if 1: per parameter: type
//! int<2> [, name string<lenenc> with CLIENT_QUERY_ATTRIBUTES] | values`.
//! Values of parameters that are NULL in the bitmap, or whose data came by
//! COM_STMT_SEND_LONG_DATA, are not in the packet. The parameter type's low
//! byte is the column type; 0x80 in the high byte means unsigned.
//!
//! Decoding execute parameters needs the statement's placeholder count and
//! the types bound by its previous execution, which only the session knows,
//! so `Command::parse` leaves them raw in `StmtExecute` and
//! `StmtExecute::decode_params` takes that state as arguments.

use super::error::ProtocolError;
use super::flags::{CapabilityFlags, ColumnType, CursorFlags};
use super::value::{read_binary_value, Value};
use super::wire::{self, Reader};

/// Command codes (`enum_server_command`).
pub mod code {
    pub const COM_SLEEP: u8 = 0x00;
    pub const COM_QUIT: u8 = 0x01;
    pub const COM_INIT_DB: u8 = 0x02;
    pub const COM_QUERY: u8 = 0x03;
    pub const COM_FIELD_LIST: u8 = 0x04;
    pub const COM_STATISTICS: u8 = 0x09;
    pub const COM_PROCESS_KILL: u8 = 0x0c;
    pub const COM_PING: u8 = 0x0e;
    pub const COM_CHANGE_USER: u8 = 0x11;
    pub const COM_STMT_PREPARE: u8 = 0x16;
    pub const COM_STMT_EXECUTE: u8 = 0x17;
    pub const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
    pub const COM_STMT_CLOSE: u8 = 0x19;
    pub const COM_STMT_RESET: u8 = 0x1a;
    pub const COM_SET_OPTION: u8 = 0x1b;
    pub const COM_STMT_FETCH: u8 = 0x1c;
    pub const COM_RESET_CONNECTION: u8 = 0x1f;
}

/// Most parameters plus query attributes one packet may carry. MySQL allows
/// 65535 placeholders; the bound keeps the per-packet vectors small.
pub const PARAMETERS_MAX: u64 = u16::MAX as u64;

/// Prepared statement id, as COM_STMT_PREPARE_OK returned it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatementId(pub u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOption {
    MultiStatementsOn,
    MultiStatementsOff,
}

/// Type of a bound parameter: column type and the unsigned flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamType {
    pub column_type: ColumnType,
    pub unsigned: bool,
}

impl ParamType {
    const UNSIGNED_FLAG: u16 = 0x8000;

    fn parse(raw: u16, what: &'static str, index: usize) -> Result<Self, ProtocolError> {
        let [type_code, _flags] = raw.to_le_bytes();
        let Some(column_type) = ColumnType::from_code(type_code) else {
            return Err(ProtocolError::UnknownParameterType {
                what,
                index,
                type_code,
            });
        };
        Ok(Self {
            column_type,
            unsigned: raw & Self::UNSIGNED_FLAG != 0,
        })
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        let flags = if self.unsigned { 0x80 } else { 0 };
        out.extend_from_slice(&[self.column_type.code(), flags]);
    }
}

/// A named value sent with a query (CLIENT_QUERY_ATTRIBUTES).
#[derive(Debug, Clone, PartialEq)]
pub struct QueryAttribute<'a> {
    pub name: &'a [u8],
    pub value: Value<'a>,
}

/// A placeholder's value in COM_STMT_EXECUTE.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue<'a> {
    Value(Value<'a>),
    /// Sent before by COM_STMT_SEND_LONG_DATA; the session holds the bytes.
    LongData,
}

/// A decoded command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command<'a> {
    Quit,
    InitDb {
        schema: &'a [u8],
    },
    Query {
        attributes: Vec<QueryAttribute<'a>>,
        sql: &'a [u8],
    },
    FieldList {
        table: &'a [u8],
        wildcard: &'a [u8],
    },
    Statistics,
    ProcessKill {
        connection_id: u32,
    },
    Ping,
    SetOption(SetOption),
    ResetConnection,
    StmtPrepare {
        sql: &'a [u8],
    },
    StmtExecute(StmtExecute<'a>),
    StmtSendLongData {
        statement_id: StatementId,
        param_index: u16,
        data: &'a [u8],
    },
    StmtClose {
        statement_id: StatementId,
    },
    StmtReset {
        statement_id: StatementId,
    },
    StmtFetch {
        statement_id: StatementId,
        row_count: u32,
    },
}

/// COM_STMT_EXECUTE with its parameters still encoded; see `decode_params`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StmtExecute<'a> {
    pub statement_id: StatementId,
    pub flags: CursorFlags,
    /// Always 1 in practice; MySQL ignores it, and so do we.
    pub iteration_count: u32,
    query_attributes: bool,
    parameters: &'a [u8],
}

/// COM_STMT_EXECUTE parameters, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecuteParams<'a> {
    /// One per placeholder, in order.
    pub values: Vec<ParamValue<'a>>,
    /// Types sent with this execution (new_params_bound_flag 1): keep them
    /// for the next execution, which may omit them.
    pub new_types: Option<Vec<ParamType>>,
    /// Values sent beyond the placeholders (CLIENT_QUERY_ATTRIBUTES).
    pub attributes: Vec<QueryAttribute<'a>>,
}

impl<'a> Command<'a> {
    /// Decode one command payload. `capabilities` are the negotiated ones.
    pub fn parse(payload: &'a [u8], capabilities: CapabilityFlags) -> Result<Self, ProtocolError> {
        let Some((&command_code, body)) = payload.split_first() else {
            return Err(ProtocolError::EmptyCommand);
        };
        let mut reader = Reader::new(body);
        let command = match command_code {
            code::COM_QUIT => Command::Quit,
            code::COM_INIT_DB => Command::InitDb {
                schema: reader.rest(),
            },
            code::COM_QUERY => {
                let attributes = if capabilities.contains(CapabilityFlags::QUERY_ATTRIBUTES) {
                    read_query_attributes(&mut reader)?
                } else {
                    Vec::new()
                };
                Command::Query {
                    attributes,
                    sql: reader.rest(),
                }
            }
            code::COM_FIELD_LIST => Command::FieldList {
                table: reader.nul_bytes("COM_FIELD_LIST table")?,
                wildcard: reader.rest(),
            },
            code::COM_STATISTICS => Command::Statistics,
            code::COM_PROCESS_KILL => Command::ProcessKill {
                connection_id: reader.u32("COM_PROCESS_KILL connection_id")?,
            },
            code::COM_PING => Command::Ping,
            code::COM_SET_OPTION => match reader.u16("COM_SET_OPTION option")? {
                0 => Command::SetOption(SetOption::MultiStatementsOn),
                1 => Command::SetOption(SetOption::MultiStatementsOff),
                option => return Err(ProtocolError::UnknownSetOption { option }),
            },
            code::COM_RESET_CONNECTION => Command::ResetConnection,
            code::COM_STMT_PREPARE => Command::StmtPrepare { sql: reader.rest() },
            code::COM_STMT_EXECUTE => Command::StmtExecute(StmtExecute {
                statement_id: StatementId(reader.u32("COM_STMT_EXECUTE statement_id")?),
                flags: CursorFlags::from_bits_retain(reader.u8("COM_STMT_EXECUTE flags")?),
                iteration_count: reader.u32("COM_STMT_EXECUTE iteration_count")?,
                query_attributes: capabilities.contains(CapabilityFlags::QUERY_ATTRIBUTES),
                parameters: reader.rest(),
            }),
            code::COM_STMT_SEND_LONG_DATA => Command::StmtSendLongData {
                statement_id: StatementId(reader.u32("COM_STMT_SEND_LONG_DATA statement_id")?),
                param_index: reader.u16("COM_STMT_SEND_LONG_DATA param_id")?,
                data: reader.rest(),
            },
            code::COM_STMT_CLOSE => Command::StmtClose {
                statement_id: StatementId(reader.u32("COM_STMT_CLOSE statement_id")?),
            },
            code::COM_STMT_RESET => Command::StmtReset {
                statement_id: StatementId(reader.u32("COM_STMT_RESET statement_id")?),
            },
            code::COM_STMT_FETCH => Command::StmtFetch {
                statement_id: StatementId(reader.u32("COM_STMT_FETCH statement_id")?),
                row_count: reader.u32("COM_STMT_FETCH row_count")?,
            },
            code => return Err(ProtocolError::UnknownCommand { code }),
        };
        reader.finish(command.name())?;
        Ok(command)
    }

    /// MySQL's name for the command, for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Quit => "COM_QUIT",
            Command::InitDb { .. } => "COM_INIT_DB",
            Command::Query { .. } => "COM_QUERY",
            Command::FieldList { .. } => "COM_FIELD_LIST",
            Command::Statistics => "COM_STATISTICS",
            Command::ProcessKill { .. } => "COM_PROCESS_KILL",
            Command::Ping => "COM_PING",
            Command::SetOption(_) => "COM_SET_OPTION",
            Command::ResetConnection => "COM_RESET_CONNECTION",
            Command::StmtPrepare { .. } => "COM_STMT_PREPARE",
            Command::StmtExecute(_) => "COM_STMT_EXECUTE",
            Command::StmtSendLongData { .. } => "COM_STMT_SEND_LONG_DATA",
            Command::StmtClose { .. } => "COM_STMT_CLOSE",
            Command::StmtReset { .. } => "COM_STMT_RESET",
            Command::StmtFetch { .. } => "COM_STMT_FETCH",
        }
    }

    /// Whether the server answers this command. COM_STMT_SEND_LONG_DATA and
    /// COM_STMT_CLOSE get no reply, not even an error; COM_QUIT closes.
    pub fn expects_reply(&self) -> bool {
        !matches!(
            self,
            Command::Quit | Command::StmtSendLongData { .. } | Command::StmtClose { .. }
        )
    }

    /// Encode as a client would. For tests, fuzz seeds and tools; the server
    /// only parses commands. Query attributes are emitted when
    /// `capabilities` has CLIENT_QUERY_ATTRIBUTES.
    pub fn emit(&self, capabilities: CapabilityFlags, out: &mut Vec<u8>) {
        match self {
            Command::Quit => out.push(code::COM_QUIT),
            Command::InitDb { schema } => {
                out.push(code::COM_INIT_DB);
                out.extend_from_slice(schema);
            }
            Command::Query { attributes, sql } => {
                out.push(code::COM_QUERY);
                if capabilities.contains(CapabilityFlags::QUERY_ATTRIBUTES) {
                    wire::put_lenenc_int(out, attributes.len() as u64);
                    wire::put_lenenc_int(out, 1);
                    if !attributes.is_empty() {
                        let params: Vec<_> = attributes
                            .iter()
                            .map(|attribute| (attribute.name, attribute.value))
                            .collect();
                        emit_params(out, &params, true, true);
                    }
                }
                out.extend_from_slice(sql);
            }
            Command::FieldList { table, wildcard } => {
                out.push(code::COM_FIELD_LIST);
                out.extend_from_slice(table);
                out.push(0);
                out.extend_from_slice(wildcard);
            }
            Command::Statistics => out.push(code::COM_STATISTICS),
            Command::ProcessKill { connection_id } => {
                out.push(code::COM_PROCESS_KILL);
                wire::put_u32(out, *connection_id);
            }
            Command::Ping => out.push(code::COM_PING),
            Command::SetOption(option) => {
                out.push(code::COM_SET_OPTION);
                wire::put_u16(out, matches!(option, SetOption::MultiStatementsOff).into());
            }
            Command::ResetConnection => out.push(code::COM_RESET_CONNECTION),
            Command::StmtPrepare { sql } => {
                out.push(code::COM_STMT_PREPARE);
                out.extend_from_slice(sql);
            }
            Command::StmtExecute(execute) => {
                out.push(code::COM_STMT_EXECUTE);
                wire::put_u32(out, execute.statement_id.0);
                out.push(execute.flags.bits());
                wire::put_u32(out, execute.iteration_count);
                out.extend_from_slice(execute.parameters);
            }
            Command::StmtSendLongData {
                statement_id,
                param_index,
                data,
            } => {
                out.push(code::COM_STMT_SEND_LONG_DATA);
                wire::put_u32(out, statement_id.0);
                wire::put_u16(out, *param_index);
                out.extend_from_slice(data);
            }
            Command::StmtClose { statement_id } => {
                out.push(code::COM_STMT_CLOSE);
                wire::put_u32(out, statement_id.0);
            }
            Command::StmtReset { statement_id } => {
                out.push(code::COM_STMT_RESET);
                wire::put_u32(out, statement_id.0);
            }
            Command::StmtFetch {
                statement_id,
                row_count,
            } => {
                out.push(code::COM_STMT_FETCH);
                wire::put_u32(out, statement_id.0);
                wire::put_u32(out, *row_count);
            }
        }
    }
}

impl<'a> StmtExecute<'a> {
    /// Decode the parameters. `placeholder_count` is the statement's
    /// parameter count from COM_STMT_PREPARE_OK; `bound_types` are the types
    /// kept from its previous execution (empty if none); `long_data[i]` says
    /// whether placeholder `i` received COM_STMT_SEND_LONG_DATA since the last
    /// execution or reset (missing entries mean no).
    pub fn decode_params(
        &self,
        placeholder_count: u16,
        bound_types: &[ParamType],
        long_data: &[bool],
    ) -> Result<ExecuteParams<'a>, ProtocolError> {
        const WHAT: &str = "COM_STMT_EXECUTE";
        let mut reader = Reader::new(self.parameters);
        let count_sent =
            self.query_attributes && self.flags.contains(CursorFlags::PARAMETER_COUNT_AVAILABLE);
        let mut params = ExecuteParams {
            values: Vec::new(),
            new_types: None,
            attributes: Vec::new(),
        };
        if placeholder_count == 0 && !count_sent {
            reader.finish(WHAT)?;
            return Ok(params);
        }
        let count = if self.query_attributes {
            reader.lenenc_int("COM_STMT_EXECUTE parameter_count")?
        } else {
            u64::from(placeholder_count)
        };
        if count < u64::from(placeholder_count) || count > PARAMETERS_MAX {
            return Err(ProtocolError::ParameterCountMismatch {
                what: WHAT,
                expected: placeholder_count,
                sent: count,
            });
        }
        if count == 0 {
            reader.finish(WHAT)?;
            return Ok(params);
        }
        let placeholders = usize::from(placeholder_count);
        let block = read_param_block(
            &mut reader,
            WHAT,
            count as usize,
            self.query_attributes,
            bound_types,
            long_data
                .get(..placeholders.min(long_data.len()))
                .unwrap_or_default(),
        )?;
        reader.finish(WHAT)?;
        let mut values = block.values.into_iter();
        params.values = values.by_ref().take(placeholders).collect();
        params.attributes = values
            .zip(block.names.into_iter().skip(placeholders))
            .map(|(value, name)| QueryAttribute {
                name,
                value: match value {
                    ParamValue::Value(value) => value,
                    ParamValue::LongData => Value::Null,
                },
            })
            .collect();
        params.new_types = block.new_types;
        Ok(params)
    }

    /// Build a COM_STMT_EXECUTE as a client would (tests, fuzz seeds, tools):
    /// `params` are (name, value) pairs, names used only with
    /// CLIENT_QUERY_ATTRIBUTES; types are derived from the values.
    pub fn emit_request(
        out: &mut Vec<u8>,
        statement_id: StatementId,
        flags: CursorFlags,
        capabilities: CapabilityFlags,
        params: &[(&[u8], Value<'_>)],
    ) {
        let query_attributes = capabilities.contains(CapabilityFlags::QUERY_ATTRIBUTES);
        out.push(code::COM_STMT_EXECUTE);
        wire::put_u32(out, statement_id.0);
        let mut flags = flags;
        if query_attributes {
            flags.insert(CursorFlags::PARAMETER_COUNT_AVAILABLE);
        }
        out.push(flags.bits());
        wire::put_u32(out, 1);
        if query_attributes {
            wire::put_lenenc_int(out, params.len() as u64);
        }
        if !params.is_empty() {
            emit_params(out, params, true, query_attributes);
        }
    }
}

struct ParamBlock<'a> {
    values: Vec<ParamValue<'a>>,
    names: Vec<&'a [u8]>,
    new_types: Option<Vec<ParamType>>,
}

/// null_bitmap | new_params_bind_flag | [types (+ names)] | values, for
/// `count` parameters (already checked against PARAMETERS_MAX).
fn read_param_block<'a>(
    reader: &mut Reader<'a>,
    what: &'static str,
    count: usize,
    with_names: bool,
    bound_types: &[ParamType],
    long_data: &[bool],
) -> Result<ParamBlock<'a>, ProtocolError> {
    // The bitmap is read first: it proves the packet holds at least a bit
    // per parameter before anything is sized by `count`.
    let null_bitmap = reader.take(count.div_ceil(8), "null_bitmap")?;
    let bind_flag = reader.u8("new_params_bind_flag")?;
    let mut names = Vec::new();
    let new_types = match bind_flag {
        1 => {
            let mut types = Vec::with_capacity(count);
            for index in 0..count {
                types.push(ParamType::parse(
                    reader.u16("parameter_type")?,
                    what,
                    index,
                )?);
                if with_names {
                    names.push(reader.lenenc_bytes("parameter_name")?);
                }
            }
            Some(types)
        }
        0 => {
            if bound_types.is_empty() {
                return Err(ProtocolError::ParameterTypesMissing);
            }
            if bound_types.len() != count {
                return Err(ProtocolError::ParameterCountMismatch {
                    what,
                    expected: u16::try_from(bound_types.len()).unwrap_or(u16::MAX),
                    sent: count as u64,
                });
            }
            names.resize(count, &b""[..]);
            None
        }
        flag => return Err(ProtocolError::BadBindFlag { what, flag }),
    };
    let types = new_types.as_deref().unwrap_or(bound_types);
    let mut values = Vec::with_capacity(count);
    for (index, param_type) in types.iter().enumerate() {
        let is_null = null_bitmap
            .get(index / 8)
            .is_some_and(|byte| byte & (1 << (index % 8)) != 0);
        let value = if long_data.get(index).copied().unwrap_or(false) {
            ParamValue::LongData
        } else if is_null {
            ParamValue::Value(Value::Null)
        } else {
            ParamValue::Value(read_binary_value(
                reader,
                param_type.column_type,
                param_type.unsigned,
                what,
                index,
            )?)
        };
        values.push(value);
    }
    Ok(ParamBlock {
        values,
        names,
        new_types,
    })
}

fn read_query_attributes<'a>(
    reader: &mut Reader<'a>,
) -> Result<Vec<QueryAttribute<'a>>, ProtocolError> {
    const WHAT: &str = "COM_QUERY";
    let count = reader.lenenc_int("COM_QUERY parameter_count")?;
    let set_count = reader.lenenc_int("COM_QUERY parameter_set_count")?;
    if set_count != 1 {
        return Err(ProtocolError::BadParameterSetCount { count: set_count });
    }
    if count == 0 {
        return Ok(Vec::new());
    }
    if count > PARAMETERS_MAX {
        return Err(ProtocolError::ParameterCountMismatch {
            what: WHAT,
            expected: u16::MAX,
            sent: count,
        });
    }
    let block = read_param_block(reader, WHAT, count as usize, true, &[], &[])?;
    Ok(block
        .values
        .into_iter()
        .zip(block.names)
        .map(|(value, name)| QueryAttribute {
            name,
            value: match value {
                ParamValue::Value(value) => value,
                ParamValue::LongData => Value::Null,
            },
        })
        .collect())
}

/// The parameter type a client would send for `value`.
fn param_type_of(value: &Value<'_>) -> ParamType {
    let (column_type, unsigned) = match value {
        Value::Null => (ColumnType::Null, false),
        Value::Int(_) => (ColumnType::LongLong, false),
        Value::UInt(_) => (ColumnType::LongLong, true),
        Value::Float(_) => (ColumnType::Float, false),
        Value::Double(_) => (ColumnType::Double, false),
        Value::Decimal(_) => (ColumnType::NewDecimal, false),
        Value::Bytes(_) => (ColumnType::VarString, false),
        Value::Date(_) => (ColumnType::Date, false),
        Value::DateTime(_) => (ColumnType::DateTime, false),
        Value::Time(_) => (ColumnType::Time, false),
    };
    ParamType {
        column_type,
        unsigned,
    }
}

fn emit_params(out: &mut Vec<u8>, params: &[(&[u8], Value<'_>)], bind: bool, names: bool) {
    let mut bitmap = vec![0u8; params.len().div_ceil(8)];
    for (index, (_, value)) in params.iter().enumerate() {
        if matches!(value, Value::Null) {
            if let Some(byte) = bitmap.get_mut(index / 8) {
                *byte |= 1 << (index % 8);
            }
        }
    }
    out.extend_from_slice(&bitmap);
    out.push(u8::from(bind));
    if bind {
        for (name, value) in params {
            param_type_of(value).emit(out);
            if names {
                wire::put_lenenc_bytes(out, name);
            }
        }
    }
    for (index, (_, value)) in params.iter().enumerate() {
        if !matches!(value, Value::Null) {
            let column_type = param_type_of(value).column_type;
            super::value::write_binary_value(out, column_type, value, index)
                .expect("param_type_of picks a type every value fits");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::value::{Date, DateTime};

    const NO_CAPS: CapabilityFlags = CapabilityFlags::PROTOCOL_41;
    const QA: CapabilityFlags = CapabilityFlags::from_bits_retain(
        CapabilityFlags::PROTOCOL_41.bits() | CapabilityFlags::QUERY_ATTRIBUTES.bits(),
    );

    // The documentation's COM_QUERY example ("select @@version_comment
    // limit 1") parses to the same SQL and re-emits the same bytes.
    #[test]
    fn com_query_documented_example() {
        let payload = b"\x03select @@version_comment limit 1";
        let command = Command::parse(payload, NO_CAPS).expect("valid COM_QUERY");
        assert_eq!(
            command,
            Command::Query {
                attributes: vec![],
                sql: b"select @@version_comment limit 1"
            }
        );
        let mut out = Vec::new();
        command.emit(NO_CAPS, &mut out);
        assert_eq!(out, payload);
    }

    // With CLIENT_QUERY_ATTRIBUTES, COM_QUERY carries a parameter count and
    // set count; an attribute with a name and value decodes from fixed bytes.
    #[test]
    fn com_query_with_attributes() {
        let plain = b"\x03\x00\x01SELECT 1";
        assert_eq!(
            Command::parse(plain, QA),
            Ok(Command::Query {
                attributes: vec![],
                sql: b"SELECT 1"
            })
        );
        let with_attribute = [
            &[0x03, 0x01, 0x01][..],         // COM_QUERY, 1 parameter, 1 set
            &[0x00, 0x01],                   // null bitmap, new_params_bind_flag
            &[0xfd, 0x00, 0x02, b'i', b'd'], // VAR_STRING, name "id"
            &[0x02, b'4', b'2'],             // value "42"
            b"SELECT 1",
        ]
        .concat();
        let command = Command::parse(&with_attribute, QA).expect("valid COM_QUERY with attribute");
        assert_eq!(
            command,
            Command::Query {
                attributes: vec![QueryAttribute {
                    name: b"id",
                    value: Value::Bytes(b"42")
                }],
                sql: b"SELECT 1"
            }
        );
        let mut out = Vec::new();
        command.emit(QA, &mut out);
        assert_eq!(out, with_attribute);
        assert_eq!(
            Command::parse(b"\x03\x00\x02SELECT 1", QA),
            Err(ProtocolError::BadParameterSetCount { count: 2 })
        );
    }

    // Every fixed-layout command against fixed bytes, both ways.
    #[test]
    fn fixed_commands_both_ways() {
        let cases: [(&[u8], Command<'static>); 13] = [
            (b"\x01", Command::Quit),
            (b"\x02test", Command::InitDb { schema: b"test" }),
            (
                b"\x04t1\0c%",
                Command::FieldList {
                    table: b"t1",
                    wildcard: b"c%",
                },
            ),
            (b"\x09", Command::Statistics),
            (
                b"\x0c\x07\x00\x00\x00",
                Command::ProcessKill { connection_id: 7 },
            ),
            (b"\x0e", Command::Ping),
            (
                b"\x1b\x01\x00",
                Command::SetOption(SetOption::MultiStatementsOff),
            ),
            (b"\x1f", Command::ResetConnection),
            (b"\x16SELECT ?", Command::StmtPrepare { sql: b"SELECT ?" }),
            (
                b"\x18\x01\x00\x00\x00\x02\x00abc",
                Command::StmtSendLongData {
                    statement_id: StatementId(1),
                    param_index: 2,
                    data: b"abc",
                },
            ),
            (
                b"\x19\x01\x00\x00\x00",
                Command::StmtClose {
                    statement_id: StatementId(1),
                },
            ),
            (
                b"\x1a\x01\x00\x00\x00",
                Command::StmtReset {
                    statement_id: StatementId(1),
                },
            ),
            (
                b"\x1c\x01\x00\x00\x00\x0a\x00\x00\x00",
                Command::StmtFetch {
                    statement_id: StatementId(1),
                    row_count: 10,
                },
            ),
        ];
        for (bytes, command) in cases {
            assert_eq!(
                Command::parse(bytes, NO_CAPS).as_ref(),
                Ok(&command),
                "{bytes:02x?}"
            );
            let mut out = Vec::new();
            command.emit(NO_CAPS, &mut out);
            assert_eq!(out, bytes, "{command:?}");
        }
    }

    // Empty, unknown, truncated and overlong commands are typed errors.
    #[test]
    fn malformed_commands() {
        assert_eq!(
            Command::parse(b"", NO_CAPS),
            Err(ProtocolError::EmptyCommand)
        );
        assert_eq!(
            Command::parse(b"\x99", NO_CAPS),
            Err(ProtocolError::UnknownCommand { code: 0x99 })
        );
        assert_eq!(
            Command::parse(b"\x11root\0", NO_CAPS),
            Err(ProtocolError::UnknownCommand { code: 0x11 })
        );
        assert!(matches!(
            Command::parse(b"\x19\x01\x00", NO_CAPS),
            Err(ProtocolError::Truncated { .. })
        ));
        assert_eq!(
            Command::parse(b"\x0e\x00", NO_CAPS),
            Err(ProtocolError::TrailingBytes {
                what: "COM_PING",
                trailing_bytes: 1
            })
        );
        assert_eq!(
            Command::parse(b"\x1b\x02\x00", NO_CAPS),
            Err(ProtocolError::UnknownSetOption { option: 2 })
        );
        assert!(matches!(
            Command::parse(b"\x04t1", NO_CAPS),
            Err(ProtocolError::MissingNul { .. })
        ));
        assert!(Command::parse(b"\x19\x01\x00\x00\x00", NO_CAPS).is_ok());
    }

    fn execute(payload: &[u8], caps: CapabilityFlags) -> StmtExecute<'_> {
        match Command::parse(payload, caps) {
            Ok(Command::StmtExecute(execute)) => execute,
            other => panic!("COM_STMT_EXECUTE expected, got {other:?}"),
        }
    }

    // The documentation's COM_STMT_EXECUTE example: statement 1, one
    // VAR_STRING parameter "foo".
    #[test]
    fn com_stmt_execute_documented_example() {
        let payload = [
            0x17, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x0f, 0x00,
            0x03, 0x66, 0x6f, 0x6f,
        ];
        let request = execute(&payload, NO_CAPS);
        assert_eq!(request.statement_id, StatementId(1));
        assert_eq!(request.iteration_count, 1);
        let params = request
            .decode_params(1, &[], &[])
            .expect("valid parameters");
        assert_eq!(params.values, [ParamValue::Value(Value::Bytes(b"foo"))]);
        assert_eq!(
            params.new_types,
            Some(vec![ParamType {
                column_type: ColumnType::VarChar,
                unsigned: false
            }])
        );
        let mut out = Vec::new();
        Command::StmtExecute(request.clone()).emit(NO_CAPS, &mut out);
        assert_eq!(out, payload);
        // Wrong placeholder count: the packet no longer lines up.
        assert!(request.decode_params(2, &[], &[]).is_err());
    }

    // Every value kind survives emit_request -> parse -> decode_params, with
    // NULLs in the bitmap, and with and without query attributes.
    #[test]
    fn stmt_execute_all_kinds_round_trip() {
        let date = Date {
            year: 2024,
            month: 2,
            day: 29,
        };
        let values = [
            Value::Int(-5),
            Value::UInt(u64::MAX),
            Value::Null,
            Value::Float(2.5),
            Value::Double(-0.25),
            Value::Decimal(b"3.14"),
            Value::Bytes(b"hello"),
            Value::Date(date),
            Value::DateTime(DateTime {
                date,
                hour: 1,
                minute: 2,
                second: 3,
                microsecond: 4,
            }),
            Value::Null,
        ];
        for caps in [NO_CAPS, QA] {
            let params: Vec<(&[u8], Value<'_>)> = values.iter().map(|v| (&b""[..], *v)).collect();
            let mut payload = Vec::new();
            StmtExecute::emit_request(
                &mut payload,
                StatementId(9),
                CursorFlags::empty(),
                caps,
                &params,
            );
            let request = execute(&payload, caps);
            let decoded = request
                .decode_params(values.len() as u16, &[], &[])
                .expect("round trip");
            let expected: Vec<_> = values.iter().map(|v| ParamValue::Value(*v)).collect();
            assert_eq!(decoded.values, expected, "{caps:?}");
            assert!(decoded.attributes.is_empty());
            // Re-executing without types uses the ones bound before.
            let types = decoded.new_types.expect("types were sent");
            let null_bitmap_bytes = values.len().div_ceil(8);
            let header_bytes = 10 + usize::from(caps.contains(CapabilityFlags::QUERY_ATTRIBUTES));
            let mut rebound = payload[..header_bytes + null_bitmap_bytes].to_vec();
            rebound.push(0);
            let values_offset = payload.len() - expected_values_bytes(&values);
            rebound.extend_from_slice(&payload[values_offset..]);
            let request = execute(&rebound, caps);
            let again = request
                .decode_params(values.len() as u16, &types, &[])
                .expect("rebound types");
            assert_eq!(again.values, expected);
            assert_eq!(again.new_types, None);
            assert_eq!(
                request.decode_params(values.len() as u16, &[], &[]),
                Err(ProtocolError::ParameterTypesMissing)
            );
        }
    }

    fn expected_values_bytes(values: &[Value<'_>]) -> usize {
        let mut out = Vec::new();
        for value in values {
            if !matches!(value, Value::Null) {
                super::super::value::write_binary_value(
                    &mut out,
                    param_type_of(value).column_type,
                    value,
                    0,
                )
                .expect("fits");
            }
        }
        out.len()
    }

    // Extra parameters beyond the placeholders are query attributes; long
    // data placeholders take no bytes in the packet.
    #[test]
    fn stmt_execute_attributes_and_long_data() {
        let params: [(&[u8], Value<'_>); 3] = [
            (b"", Value::Int(1)),
            (b"", Value::Bytes(b"ignored: long data")),
            (b"trace", Value::Bytes(b"abc")),
        ];
        let mut payload = Vec::new();
        StmtExecute::emit_request(
            &mut payload,
            StatementId(2),
            CursorFlags::empty(),
            QA,
            &params,
        );
        let request = execute(&payload, QA);
        let decoded = request.decode_params(2, &[], &[]).expect("valid");
        assert_eq!(
            decoded.values,
            [
                ParamValue::Value(Value::Int(1)),
                ParamValue::Value(Value::Bytes(b"ignored: long data"))
            ]
        );
        assert_eq!(
            decoded.attributes,
            [QueryAttribute {
                name: b"trace",
                value: Value::Bytes(b"abc")
            }]
        );
        // Fewer parameters than placeholders is refused.
        assert_eq!(
            request.decode_params(4, &[], &[]),
            Err(ProtocolError::ParameterCountMismatch {
                what: "COM_STMT_EXECUTE",
                expected: 4,
                sent: 3
            })
        );
        // Long data for placeholder 0: its value is not in the packet.
        let params: [(&[u8], Value<'_>); 1] = [(b"", Value::Bytes(b"x"))];
        let mut payload = Vec::new();
        StmtExecute::emit_request(
            &mut payload,
            StatementId(2),
            CursorFlags::empty(),
            NO_CAPS,
            &params,
        );
        payload.truncate(payload.len() - 2);
        let request = execute(&payload, NO_CAPS);
        assert_eq!(
            request.decode_params(1, &[], &[true]).map(|p| p.values),
            Ok(vec![ParamValue::LongData])
        );
    }

    // Garbage in the parameter block: a bad bind flag, an unknown type code,
    // a huge parameter count, and trailing bytes.
    #[test]
    fn stmt_execute_malformed_parameters() {
        let header = [0x17, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00];
        let bad_flag = [&header[..], &[0x00, 0x02]].concat();
        assert_eq!(
            execute(&bad_flag, NO_CAPS).decode_params(1, &[], &[]),
            Err(ProtocolError::BadBindFlag {
                what: "COM_STMT_EXECUTE",
                flag: 2
            })
        );
        let bad_type = [&header[..], &[0x00, 0x01, 0x42, 0x00]].concat();
        assert_eq!(
            execute(&bad_type, NO_CAPS).decode_params(1, &[], &[]),
            Err(ProtocolError::UnknownParameterType {
                what: "COM_STMT_EXECUTE",
                index: 0,
                type_code: 0x42
            })
        );
        let mut huge = header.to_vec();
        huge[5] = CursorFlags::PARAMETER_COUNT_AVAILABLE.bits();
        huge.extend_from_slice(&[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(
            execute(&huge, QA).decode_params(0, &[], &[]),
            Err(ProtocolError::ParameterCountMismatch { .. })
        ));
        let trailing = [&header[..], &[0x00, 0x01, 0x01, 0x00, 0x05, 0x06]].concat();
        assert_eq!(
            execute(&trailing, NO_CAPS).decode_params(1, &[], &[]),
            Err(ProtocolError::TrailingBytes {
                what: "COM_STMT_EXECUTE",
                trailing_bytes: 1
            })
        );
        assert_eq!(
            execute(&header, NO_CAPS)
                .decode_params(0, &[], &[])
                .map(|p| p.values),
            Ok(vec![])
        );
    }
}
