//! Sessions: one client connection's SQL state (default database,
//! autocommit, isolation, the open transaction, variables) and statement
//! execution: parse with sqlparser (MySQL dialect), bind, choose an access
//! path, run against the storage engine, stream results into the server's
//! `ResultSink`.
//!
//! Transactions. With autocommit on (the default) each statement outside
//! BEGIN is its own transaction, read-only for a plain SELECT. BEGIN /
//! START TRANSACTION [READ ONLY] (or autocommit off) keeps one open until
//! COMMIT or ROLLBACK. Every statement starts with `start_statement`; a
//! failed statement rolls back to it, except a deadlock, which rolls back
//! the whole transaction as InnoDB does. DDL commits the open transaction
//! first. Tables a transaction touches are held (metadata lock) until it
//! ends, so DROP TABLE waits for it.
//!
//! Time zone. `time_zone` is SYSTEM (UTC, the system zone here), UTC or
//! a UTC offset; other names are 1298 (no time zone tables). NOW() and
//! its kin read the statement's start in the session zone. TIMESTAMP
//! columns are stored in UTC: a value written is converted from the
//! session zone (`convert`), and outside UTC a TIMESTAMP column reads as
//! CONVERT_TZ(column, '+00:00', zone) (`bind::zoned_column`). Knowingly
//! different: outside UTC such a read is an expression, so it cannot use
//! an index on the column and its result type is DATETIME; a TIMESTAMP
//! DEFAULT is stored as written (MySQL converts it at CREATE).

mod admin;
pub mod backend;
pub mod database;
pub mod error;
pub mod vars;

mod ddl;
mod query;
pub mod users;
mod write;

use query::*;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use floe_server::protocol::{ColumnFlags, ColumnType, StatusFlags};
use floe_server::{Column, Interrupt, ResultSink, Summary};
use floe_storage::btr::tree::{Direction, Tree};
use floe_storage::dict::{IndexKind, NewTable};
use floe_storage::trx::{Isolation, LockRead, Trx};
use sqlparser::ast::{self, Statement};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

pub use database::{normalize_name, Database};
pub use error::StatementError;

use crate::bind::{AggregateSlot, BindEnv, Binder};
use crate::catalog::{
    encode_options, ColumnDefault, ColumnMeta, TableMeta, HIDDEN_PRIMARY, HIDDEN_ROW_ID,
};
use crate::error::Warnings;
use crate::expr::{finalize, EvalContext, Expr};
use crate::key::{encode_key, KeyColumn};
use crate::plan::{self, Access};
use crate::row;
use crate::temporal::{Date, DateTime};
use crate::types::{IntWidth, SqlType};
use crate::value::{sort_compare, Value};
use crate::Collation;

type Result<T> = std::result::Result<T, StatementError>;

/// SHOW WARNINGS' level: MySQL reports what IF [NOT] EXISTS skipped as
/// notes (database/table exists or unknown, account exists or not).
fn warning_level(code: u16) -> &'static str {
    match code {
        1007 | 1008 | 1050 | 1051 | 3162 | 3163 => "Note",
        _ => "Warning",
    }
}

/// SHOW DATABASES' column.
const DATABASE_TITLES: &[&str] = &["Database"];
/// SHOW VARIABLES' and SHOW STATUS' columns.
const VARIABLE_TITLES: &[&str] = &["Variable_name", "Value"];
/// SHOW WARNINGS' columns.
const WARNING_TITLES: &[&str] = &["Level", "Code", "Message"];
/// DESCRIBE's and SHOW COLUMNS' columns.
const DESCRIBE_TITLES: &[&str] = &["Field", "Type", "Null", "Key", "Default", "Extra"];
/// sqlparser reads SHOW INDEX FROM t as a variable name's words.
const INDEX_WORDS: &[&str] = &["index", "indexes", "keys"];

/// Whether a SHOW that sqlparser read as a variable name starts with one
/// of `words`.
fn show_word(variable: &[ast::Ident], words: &[&str]) -> bool {
    variable
        .first()
        .is_some_and(|v| words.iter().any(|w| v.value.eq_ignore_ascii_case(w)))
}

/// How deep the parser may nest; bounded because each level takes stack.
const PARSER_RECURSION_LIMIT: usize = 500;

/// Rows between two checks of the connection's interrupt (KILL, shutdown).
const INTERRUPT_CHECK_ROWS: usize = 256;

/// One client connection's SQL state.
pub struct SqlSession {
    db: Arc<Database>,
    connection_id: u32,
    user: String,
    database: Option<String>,
    autocommit: bool,
    isolation: Isolation,
    lock_wait_timeout: Duration,
    trx: Option<Trx>,
    /// BEGIN was given (or autocommit is off): the transaction outlives statements.
    explicit: bool,
    trx_read_only: bool,
    held: Vec<Arc<TableMeta>>,
    variables: HashMap<String, Value>,
    user_variables: HashMap<String, Value>,
    last_insert_id: u64,
    warnings: Warnings,
    interrupt: Interrupt,
    prepared: HashMap<u32, backend::PreparedSql>,
    /// The parameters of the prepared statement being executed, and where
    /// its placeholders are in its text (line, column), in order.
    parameters: Vec<Value>,
    parameter_places: Arc<Vec<(u64, u64)>>,
    /// The server's own session (account tables, bootstrap): every privilege.
    system: bool,
    /// The host pattern of the account this session logged in as.
    account_host: String,
    /// Grants in force, with the ACL version they were read at.
    grants: Option<(u64, crate::acl::Grants)>,
    /// Tables the running statement targets, already checked for its
    /// privilege; every other table it names needs SELECT.
    authorized: Vec<(String, String)>,
    /// SAVEPOINTs of the open transaction.
    savepoints: admin::Savepoints,
    /// The server's connections (KILL, SHOW PROCESSLIST); None when the
    /// session is not served over the wire.
    processes: Option<floe_server::Processes>,
    /// Texts parsed by this session (SHOW STATUS' Floe_statements_parsed:
    /// prepared statements execute without parsing).
    statements_parsed: u64,
    /// Rows this session's SELECTs read (SHOW STATUS' Handler_read_*).
    handler_reads: query::ReadCounts,
    /// COM_STMT_PREPARE is working out result columns: parameters are not
    /// known yet (`LIMIT ?` binds as unknown).
    describing: bool,
    /// Common table expressions (WITH) of the query being bound, outermost
    /// first; a FROM name finds the innermost one of its name.
    ctes: std::cell::RefCell<Vec<query::Cte>>,
    /// The session time zone's offset from UTC in seconds (`time_zone`).
    time_zone_offset_s: i64,
}

/// A statement's outcome for the OK packet.
#[derive(Default)]
struct Done {
    affected_rows: u64,
    last_insert_id: u64,
    info: String,
}

fn parse_error(error: impl std::fmt::Display) -> StatementError {
    StatementError::Parse {
        message: error.to_string(),
    }
}

/// Parses `sql` as MySQL. `LOCK IN SHARE MODE`, which sqlparser does not
/// know, is read as its synonym `FOR SHARE`.
pub fn parse(sql: &str) -> Result<Vec<Statement>> {
    let trimmed = sql.trim_end().trim_end_matches(';').trim_end();
    let upper = trimmed.to_ascii_uppercase();
    let rewritten;
    let sql = if upper.ends_with("LOCK IN SHARE MODE") {
        rewritten = format!(
            "{} FOR SHARE",
            &trimmed[..trimmed.len() - "LOCK IN SHARE MODE".len()]
        );
        rewritten.as_str()
    } else {
        sql
    };
    // Deeply nested predicates (generated ones nest hundreds deep) pass the
    // parser's default limit of 50.
    Parser::new(&MySqlDialect {})
        .with_recursion_limit(PARSER_RECURSION_LIMIT)
        .try_with_sql(sql)
        .and_then(|mut parser| parser.parse_statements())
        .map_err(parse_error)
}

fn ident_name(name: &ast::ObjectName) -> Result<Vec<String>> {
    name.0
        .iter()
        .map(|part| {
            part.as_ident()
                .map(|i| i.value.clone())
                .ok_or_else(|| parse_error(format!("bad name {name}")))
        })
        .collect()
}

fn now_utc() -> DateTime {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(0))
        .unwrap_or(0);
    let epoch = Date::new(1970, 1, 1).map_or(0, |d| d.day_number());
    let day = epoch + micros.div_euclid(86_400_000_000);
    let micros_of_day = micros.rem_euclid(86_400_000_000);
    Date::from_day_number(day)
        .and_then(|d| DateTime::new(d, micros_of_day - micros_of_day % 1_000_000, 0))
        .unwrap_or_else(|| {
            DateTime::from_date(Date::new(1970, 1, 1).unwrap_or_else(|| unreachable!()))
        })
}

fn column_definition(sql_type: &SqlType, nullable: bool, name: &str) -> Column {
    let mut flags = sql_type.flags();
    if !nullable {
        flags |= crate::types::flags::NOT_NULL;
    }
    Column {
        schema: String::new(),
        table: String::new(),
        org_table: String::new(),
        name: name.to_string(),
        org_name: String::new(),
        charset: sql_type.collation_id(),
        column_length: sql_type.display_length(),
        column_type: ColumnType::from_code(sql_type.type_code() as u8)
            .unwrap_or(ColumnType::VarString),
        flags: ColumnFlags::from_bits_retain(flags),
        decimals: sql_type.decimals(),
    }
}

fn text_column(name: &str) -> Column {
    column_definition(&SqlType::varchar(64), false, name)
}

/// Owned protocol form of one value (decimal text needs a home).
enum OutValue {
    Plain(floe_server::protocol::Value<'static>),
    Text(Vec<u8>),
    Decimal(Vec<u8>),
}

fn to_out(value: Value, sql_type: &SqlType) -> OutValue {
    use floe_server::protocol::value as wire;
    use floe_server::protocol::Value as W;
    let date = |d: Date| wire::Date {
        year: u16::try_from(d.year()).unwrap_or(0),
        month: u8::try_from(d.month()).unwrap_or(0),
        day: u8::try_from(d.day()).unwrap_or(0),
    };
    match value {
        Value::Null => OutValue::Plain(W::Null),
        Value::Int(v) => OutValue::Plain(W::Int(v)),
        Value::UInt(v) => OutValue::Plain(W::UInt(v)),
        Value::Double(v) if *sql_type == SqlType::Float => OutValue::Plain(W::Float(v as f32)),
        Value::Double(v) => OutValue::Plain(W::Double(v)),
        Value::Decimal(d) => OutValue::Decimal(d.to_string().into_bytes()),
        Value::Bytes(bytes, _) => OutValue::Text(bytes),
        Value::Date(d) => OutValue::Plain(W::Date(date(d))),
        Value::DateTime(d) => {
            let micros = d.micros_of_day();
            OutValue::Plain(W::DateTime(wire::DateTime {
                date: date(d.date()),
                hour: u8::try_from(micros / 3_600_000_000).unwrap_or(0),
                minute: u8::try_from(micros / 60_000_000 % 60).unwrap_or(0),
                second: u8::try_from(micros / 1_000_000 % 60).unwrap_or(0),
                microsecond: u32::try_from(micros % 1_000_000).unwrap_or(0),
            }))
        }
        Value::Time(t) => {
            let micros = t.micros().unsigned_abs();
            let hours = micros / 3_600_000_000;
            OutValue::Plain(W::Time(wire::Time {
                negative: t.micros() < 0,
                days: u32::try_from(hours / 24).unwrap_or(0),
                hour: u8::try_from(hours % 24).unwrap_or(0),
                minute: u8::try_from(micros / 60_000_000 % 60).unwrap_or(0),
                second: u8::try_from(micros / 1_000_000 % 60).unwrap_or(0),
                microsecond: u32::try_from(micros % 1_000_000).unwrap_or(0),
            }))
        }
    }
}

fn emit_row(sink: &mut dyn ResultSink, values: Vec<Value>, types: &[SqlType]) -> Result<()> {
    let owned: Vec<OutValue> = values
        .into_iter()
        .zip(types)
        .map(|(v, t)| to_out(finalize(v, t), t))
        .collect();
    let wire: Vec<floe_server::protocol::Value<'_>> = owned
        .iter()
        .map(|o| match o {
            OutValue::Plain(v) => *v,
            OutValue::Text(b) => floe_server::protocol::Value::Bytes(b),
            OutValue::Decimal(b) => floe_server::protocol::Value::Decimal(b),
        })
        .collect();
    sink.row(&wire)?;
    Ok(())
}

fn send_columns(sink: &mut dyn ResultSink, columns: &[Column]) -> Result<()> {
    let definitions: Vec<_> = columns.iter().map(Column::definition).collect();
    sink.columns(&definitions)?;
    Ok(())
}

impl SqlSession {
    pub fn new(
        db: Arc<Database>,
        connection_id: u32,
        user: &str,
        interrupt: Interrupt,
    ) -> SqlSession {
        let lock_wait_timeout = Duration::from_secs(50);
        let mut session = SqlSession {
            db,
            connection_id,
            user: user.to_string(),
            database: None,
            autocommit: true,
            isolation: Isolation::RepeatableRead,
            lock_wait_timeout,
            trx: None,
            explicit: false,
            trx_read_only: false,
            held: Vec::new(),
            variables: HashMap::new(),
            user_variables: HashMap::new(),
            last_insert_id: 0,
            warnings: Warnings::default(),
            interrupt,
            prepared: HashMap::new(),
            parameters: Vec::new(),
            parameter_places: Arc::new(Vec::new()),
            system: false,
            account_host: "%".to_string(),
            grants: None,
            authorized: Vec::new(),
            savepoints: Vec::new(),
            processes: None,
            statements_parsed: 0,
            handler_reads: query::ReadCounts::default(),
            describing: false,
            ctes: std::cell::RefCell::new(Vec::new()),
            time_zone_offset_s: 0,
        };
        session.start_from_globals();
        session
    }

    /// The server's connection registry, for KILL and SHOW PROCESSLIST.
    pub fn set_processes(&mut self, processes: floe_server::Processes) {
        self.processes = Some(processes);
    }

    pub fn current_database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    /// USE / COM_INIT_DB.
    pub fn use_database(&mut self, name: &str) -> Result<()> {
        let name = normalize_name(name);
        self.refresh_grants();
        self.require_database(crate::acl::Privileges::NONE, &name)?;
        if !self.db.schema_exists(&name)? {
            return Err(StatementError::NoSuchDatabase(name));
        }
        self.database = Some(name);
        Ok(())
    }

    /// OK-packet status flags.
    pub fn status_flags(&self) -> StatusFlags {
        let mut flags = StatusFlags::empty();
        if self.autocommit {
            flags.insert(StatusFlags::AUTOCOMMIT);
        }
        if self.trx.is_some() && (self.explicit || !self.autocommit) {
            flags.insert(StatusFlags::IN_TRANS);
            if self.trx_read_only {
                flags.insert(StatusFlags::IN_TRANS_READONLY);
            }
        }
        flags
    }

    /// Runs every statement of `sql`, reporting each to `sink`.
    pub fn execute(
        &mut self,
        sql: &str,
        multi_statements: bool,
        sink: &mut dyn ResultSink,
    ) -> Result<()> {
        if let Some(statement) = users::parse_account_statement(sql)? {
            self.interrupt.check()?;
            return self.account_statement(statement, sink);
        }
        if let Some(tables) = admin::parse_analyze(sql)? {
            self.interrupt.check()?;
            self.warnings.clear();
            return self.analyze_tables(&tables, sink);
        }
        self.statements_parsed += 1;
        let statements = parse(sql)?;
        if statements.is_empty() {
            return Err(StatementError::Empty);
        }
        if statements.len() > 1 && !multi_statements {
            return Err(parse_error(
                "several statements, but the client did not enable multi-statements",
            ));
        }
        for statement in &statements {
            self.run(statement, sink)?;
        }
        Ok(())
    }

    fn run(&mut self, statement: &Statement, sink: &mut dyn ResultSink) -> Result<()> {
        self.interrupt.check()?;
        // SHOW WARNINGS reads the previous statement's warnings.
        let is_show_warnings = matches!(statement, Statement::ShowVariable { variable }
            if show_word(variable, &["warnings"]));
        if !is_show_warnings {
            self.warnings.clear();
        }
        self.authorize(statement)?;
        let done = match statement {
            Statement::Flush {
                object_type: ast::FlushType::Privileges,
                ..
            } => {
                self.flush_privileges()?;
                Done::default()
            }
            Statement::Query(query) => return self.select(query, sink),
            Statement::Explain { statement, .. } => return self.explain(statement, sink),
            Statement::Insert(insert) => {
                self.data_statement(false, |s, trx| s.insert(trx, insert))?
            }
            Statement::Update(update) => {
                self.data_statement(false, |s, trx| s.update(trx, update))?
            }
            Statement::Delete(delete) => {
                self.data_statement(false, |s, trx| s.delete(trx, delete))?
            }
            Statement::StartTransaction { modes, .. } => {
                self.commit_open()?;
                let read_only = modes.iter().any(|m| {
                    matches!(
                        m,
                        ast::TransactionMode::AccessMode(ast::TransactionAccessMode::ReadOnly)
                    )
                });
                for mode in modes {
                    if let ast::TransactionMode::IsolationLevel(_) = mode {
                        return Err(StatementError::Unsupported(
                            "isolation level in START TRANSACTION".into(),
                        ));
                    }
                }
                self.begin(read_only);
                self.explicit = true;
                Done::default()
            }
            Statement::Commit { .. } => {
                self.commit_open()?;
                Done::default()
            }
            Statement::Rollback {
                savepoint: None, ..
            } => {
                self.rollback_open()?;
                Done::default()
            }
            Statement::Rollback {
                savepoint: Some(name),
                ..
            } => {
                self.rollback_to_savepoint(&name.value)?;
                Done::default()
            }
            Statement::Savepoint { name } => {
                self.savepoint(&name.value)?;
                Done::default()
            }
            Statement::ReleaseSavepoint { name } => {
                self.release_savepoint(&name.value)?;
                Done::default()
            }
            Statement::Kill { modifier, id } => {
                self.kill(*modifier, *id)?;
                Done::default()
            }
            Statement::ShowProcessList { full } => return self.show_processlist(*full, sink),
            Statement::ShowStatus { filter, .. } => return self.show_status(filter.as_ref(), sink),
            Statement::CreateDatabase {
                db_name,
                if_not_exists,
                ..
            } => {
                self.commit_open()?;
                let name = ident_name(db_name)?.join(".");
                match self.db.create_schema(&name) {
                    Ok(()) => Done {
                        affected_rows: 1,
                        ..Done::default()
                    },
                    Err(StatementError::DatabaseExists(_)) if *if_not_exists => {
                        self.warnings.push(
                            1007,
                            format!("Can't create database '{name}'; database exists"),
                        );
                        Done::default()
                    }
                    Err(e) => return Err(e),
                }
            }
            Statement::CreateTable(create) => {
                self.commit_open()?;
                self.create_table(create)?
            }
            Statement::CreateView(view) => {
                self.commit_open()?;
                self.create_view(view)?
            }
            Statement::Drop {
                object_type,
                if_exists,
                names,
                table,
                ..
            } => {
                self.commit_open()?;
                self.drop(object_type, *if_exists, names, table.as_ref())?
            }
            Statement::CreateIndex(create) => {
                self.commit_open()?;
                self.create_index(create)?
            }
            Statement::AlterTable(alter) => {
                self.commit_open()?;
                self.alter(alter)?
            }
            Statement::Truncate(truncate) => {
                self.commit_open()?;
                self.truncate(truncate)?
            }
            Statement::ShowCreate {
                obj_type: ast::ShowCreateObject::Table,
                obj_name,
            } => return self.show_create_table(obj_name, sink),
            Statement::Use(use_statement) => {
                let name = match use_statement {
                    ast::Use::Object(name) | ast::Use::Database(name) | ast::Use::Schema(name) => {
                        ident_name(name)?.join(".")
                    }
                    other => return Err(StatementError::Unsupported(other.to_string())),
                };
                self.use_database(&name)?;
                Done::default()
            }
            Statement::Set(set) => {
                self.set(set)?;
                Done::default()
            }
            Statement::ShowDatabases { .. } | Statement::ShowSchemas { .. } => {
                let mut names = self.db.schemas()?;
                names.retain(|name| self.sees_database(name));
                names.push("information_schema".into());
                names.sort();
                return self.text_rows(
                    sink,
                    DATABASE_TITLES,
                    names.into_iter().map(|n| vec![n]).collect(),
                );
            }
            Statement::ShowTables { show_options, .. } => {
                let schema = self.show_tables_schema(show_options)?;
                let title = format!("Tables_in_{schema}");
                let names = self.db.table_names(&schema);
                return self.text_rows(
                    sink,
                    &[title.as_str()],
                    names.into_iter().map(|n| vec![n]).collect(),
                );
            }
            Statement::ShowVariables { filter, .. } => {
                let pattern = match filter {
                    Some(ast::ShowStatementFilter::Like(p)) => Some(p.clone()),
                    None => None,
                    Some(other) => return Err(StatementError::Unsupported(other.to_string())),
                };
                let mut rows = Vec::new();
                for (name, _, _) in vars::VARIABLES {
                    if pattern.as_deref().is_none_or(|p| like_ci(name, p)) {
                        let value = self.system_variable(name)?;
                        rows.push(vec![name.to_string(), value.to_string()]);
                    }
                }
                return self.text_rows(sink, VARIABLE_TITLES, rows);
            }
            Statement::ShowVariable { variable } if show_word(variable, &["warnings"]) => {
                let rows = self
                    .warnings
                    .list()
                    .iter()
                    .map(|w| {
                        vec![
                            warning_level(w.code).to_string(),
                            w.code.to_string(),
                            w.message.clone(),
                        ]
                    })
                    .collect();
                return self.text_rows(sink, WARNING_TITLES, rows);
            }
            Statement::ShowVariable { variable } if show_word(variable, INDEX_WORDS) => {
                return self.show_index(variable, sink)
            }
            Statement::ShowColumns { show_options, .. } => {
                let name = show_options
                    .show_in
                    .as_ref()
                    .and_then(|s| s.parent_name.as_ref())
                    .ok_or_else(|| parse_error("SHOW COLUMNS needs FROM table"))?;
                return self.describe(name, sink);
            }
            Statement::ExplainTable { table_name, .. } => return self.describe(table_name, sink),
            other => {
                return Err(StatementError::Unsupported(
                    other.to_string().chars().take(60).collect(),
                ))
            }
        };
        let summary = Summary {
            affected_rows: done.affected_rows,
            last_insert_id: done.last_insert_id,
            status: self.status_flags(),
            warning_count: u16::try_from(self.warnings.total_count()).unwrap_or(u16::MAX),
            info: &done.info,
        };
        sink.done(&summary)?;
        Ok(())
    }

    fn text_rows(
        &mut self,
        sink: &mut dyn ResultSink,
        titles: &[&str],
        rows: Vec<Vec<String>>,
    ) -> Result<()> {
        let columns: Vec<Column> = titles.iter().map(|t| text_column(t)).collect();
        send_columns(sink, &columns)?;
        for row in rows {
            let values: Vec<floe_server::protocol::Value<'_>> = row
                .iter()
                .map(|v| floe_server::protocol::Value::Bytes(v.as_bytes()))
                .collect();
            sink.row(&values)?;
        }
        sink.done(&Summary {
            status: self.status_flags(),
            ..Summary::default()
        })?;
        Ok(())
    }

    fn describe(&mut self, name: &ast::ObjectName, sink: &mut dyn ResultSink) -> Result<()> {
        let meta = self.lookup(name)?;
        let rows = meta
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.hidden)
            .map(|(i, c)| {
                let key = match meta.indexes.iter().find(|x| x.columns.first() == Some(&i)) {
                    Some(x) if x.kind == IndexKind::Primary => "PRI",
                    Some(x) if x.kind == IndexKind::Unique => "UNI",
                    Some(_) => "MUL",
                    None => "",
                };
                let default = match &c.default {
                    ColumnDefault::Value(v) => v.to_string(),
                    _ => "NULL".into(),
                };
                vec![
                    c.name.clone(),
                    c.sql_type.sql_name(),
                    if c.nullable { "YES" } else { "NO" }.into(),
                    key.into(),
                    default,
                    if c.auto_increment {
                        "auto_increment"
                    } else {
                        ""
                    }
                    .into(),
                ]
            })
            .collect();
        self.text_rows(sink, DESCRIBE_TITLES, rows)
    }

    /// The database SHOW TABLES [FROM db] lists, checked to exist and be
    /// visible to this account.
    fn show_tables_schema(&self, show_options: &ast::ShowStatementOptions) -> Result<String> {
        let schema = match show_options
            .show_in
            .as_ref()
            .and_then(|s| s.parent_name.as_ref())
        {
            Some(name) => normalize_name(&ident_name(name)?.join(".")),
            None => self
                .database
                .clone()
                .ok_or(StatementError::NoDatabaseSelected)?,
        };
        self.require_database(crate::acl::Privileges::NONE, &schema)?;
        if !self.db.schema_exists(&schema)? {
            return Err(StatementError::NoSuchDatabase(schema));
        }
        Ok(schema)
    }

    /// The columns of `statement`'s result set, worked out without running
    /// it (COM_STMT_PREPARE announces them): a query is bound, SHOW and
    /// EXPLAIN give the titles their own code sends. None: no result set.
    pub(super) fn result_columns(&mut self, statement: &Statement) -> Result<Option<Vec<Column>>> {
        let titles = |titles: &[&str]| Some(titles.iter().map(|t| text_column(t)).collect());
        Ok(match statement {
            Statement::Query(query) => {
                self.authorize(statement)?;
                let plan = self.bind_query(query, &crate::bind::Scope::default())?;
                Some(plan.columns().to_vec())
            }
            Statement::Explain {
                statement: inner, ..
            } => {
                let Statement::Query(query) = inner.as_ref() else {
                    return Err(StatementError::Unsupported(format!(
                        "EXPLAIN {}",
                        inner.to_string().chars().take(40).collect::<String>()
                    )));
                };
                self.authorize(inner)?;
                self.bind_query(query, &crate::bind::Scope::default())?;
                Some(explain_columns())
            }
            Statement::ShowDatabases { .. } | Statement::ShowSchemas { .. } => {
                titles(DATABASE_TITLES)
            }
            Statement::ShowTables { show_options, .. } => {
                let schema = self.show_tables_schema(show_options)?;
                titles(&[format!("Tables_in_{schema}").as_str()])
            }
            Statement::ShowVariables { .. } | Statement::ShowStatus { .. } => {
                titles(VARIABLE_TITLES)
            }
            Statement::ShowVariable { variable } if show_word(variable, &["warnings"]) => {
                titles(WARNING_TITLES)
            }
            Statement::ShowVariable { variable } if show_word(variable, INDEX_WORDS) => {
                titles(ddl::INDEX_TITLES)
            }
            Statement::ShowColumns { .. } | Statement::ExplainTable { .. } => {
                titles(DESCRIBE_TITLES)
            }
            Statement::ShowCreate {
                obj_type: ast::ShowCreateObject::Table,
                ..
            } => titles(ddl::CREATE_TABLE_TITLES),
            Statement::ShowProcessList { .. } => Some(admin::processlist_columns().0),
            _ => None,
        })
    }

    // ---- transactions -------------------------------------------------

    fn begin(&mut self, read_only: bool) {
        let mut trx = self.db.trx_system().begin(self.isolation, read_only);
        trx.lock_wait_timeout = self.lock_wait_timeout;
        self.trx = Some(trx);
        self.trx_read_only = read_only;
    }

    fn release_tables(&mut self) {
        for table in self.held.drain(..) {
            table.mdl.release();
        }
    }

    fn end_transaction(&mut self, commit: bool) -> Result<()> {
        self.explicit = false;
        self.savepoints.clear();
        let outcome = match self.trx.take() {
            Some(trx) if commit => trx.commit(),
            Some(trx) => trx.rollback(),
            None => Ok(()),
        };
        self.release_tables();
        outcome.map_err(error::trx_error)
    }

    /// COMMIT, and the implicit commit before DDL and BEGIN.
    fn commit_open(&mut self) -> Result<()> {
        self.end_transaction(true)
    }

    fn rollback_open(&mut self) -> Result<()> {
        self.end_transaction(false)
    }

    /// Takes a metadata hold on `table` for the running transaction.
    fn hold(&mut self, table: &Arc<TableMeta>) -> Result<()> {
        if self.held.iter().any(|t| Arc::ptr_eq(t, table)) {
            return Ok(());
        }
        match table.mdl.acquire() {
            crate::catalog::MdlGrant::Granted => {}
            crate::catalog::MdlGrant::Dropped => {
                return Err(StatementError::NoSuchTable {
                    schema: table.schema.clone(),
                    table: table.name.clone(),
                })
            }
            // An ALTER replaced the definition this statement was bound
            // against (MySQL's ER_TABLE_DEF_CHANGED).
            crate::catalog::MdlGrant::Replaced => {
                return Err(StatementError::Server(floe_server::SqlError {
                    code: 1412,
                    sql_state: *b"HY000",
                    message: "Table definition has changed, please retry transaction".into(),
                }))
            }
        }
        self.held.push(Arc::clone(table));
        Ok(())
    }

    /// Runs a data statement inside the session's transaction (one of its
    /// own under autocommit), rolling back what it did if it fails.
    fn data_statement<R>(
        &mut self,
        read_only: bool,
        body: impl FnOnce(&mut Self, &mut Trx) -> Result<R>,
    ) -> Result<R> {
        let single = self.autocommit && !self.explicit;
        if self.trx.is_none() {
            self.begin(single && read_only);
        }
        let Some(mut trx) = self.trx.take() else {
            unreachable!("a transaction was just begun");
        };
        let savepoint = trx.start_statement();
        let outcome = body(self, &mut trx);
        match outcome {
            Ok(value) => {
                if single {
                    let committed = trx.commit();
                    self.release_tables();
                    committed.map_err(error::trx_error)?;
                } else {
                    self.trx = Some(trx);
                }
                Ok(value)
            }
            Err(error) => {
                if single || matches!(error, StatementError::Deadlock) {
                    // InnoDB rolls back the whole transaction on deadlock.
                    let _ = trx.rollback().map_err(|e| log::error!("rollback: {e}"));
                    self.release_tables();
                    self.explicit = false;
                    self.savepoints.clear();
                } else {
                    if let Err(e) = trx.rollback_to(savepoint) {
                        log::error!("rolling back a failed statement: {e}");
                    }
                    self.trx = Some(trx);
                }
                Err(error)
            }
        }
    }

    // ---- names ---------------------------------------------------------

    /// Resolves a table name; a table that is not the statement's target
    /// needs SELECT (see `users`).
    fn schema_and_table(&self, name: &ast::ObjectName) -> Result<(String, String)> {
        let (schema, table) = self.schema_and_table_unchecked(name)?;
        self.authorize_read(&schema, &table)?;
        Ok((schema, table))
    }

    fn schema_and_table_unchecked(&self, name: &ast::ObjectName) -> Result<(String, String)> {
        let parts = ident_name(name)?;
        match parts.as_slice() {
            [table] => Ok((
                self.database
                    .clone()
                    .ok_or(StatementError::NoDatabaseSelected)?,
                normalize_name(table),
            )),
            [schema, table] => Ok((normalize_name(schema), normalize_name(table))),
            _ => Err(parse_error(format!("bad table name {name}"))),
        }
    }

    fn lookup(&self, name: &ast::ObjectName) -> Result<Arc<TableMeta>> {
        let (schema, table) = self.schema_and_table_unchecked(name)?;
        self.lookup_in(schema, table)
    }

    /// A table by its resolved (lower-case) names, checked as every name
    /// resolution is (SELECT unless it is the statement's target).
    fn lookup_in(&self, schema: String, table: String) -> Result<Arc<TableMeta>> {
        self.authorize_read(&schema, &table)?;
        self.db
            .table(&schema, &table)
            .ok_or(StatementError::NoSuchTable { schema, table })
    }

    fn binder<'a>(
        &'a self,
        table: Option<&'a TableMeta>,
        alias: &str,
        context: &'static str,
    ) -> Binder<'a> {
        Binder::for_table(self, table, alias, context)
    }

    /// What evaluation needs: the statement's start in the session time
    /// zone, and the zone.
    fn eval_context(&self) -> EvalContext {
        let now = now_utc();
        let mut context = EvalContext::new(
            crate::temporal::shift_seconds(&now, self.time_zone_offset_s).unwrap_or(now),
        );
        context.time_zone_offset_s = self.time_zone_offset_s;
        context
    }

    fn absorb(&mut self, warnings: &Warnings) {
        for w in warnings.list() {
            self.warnings.push(w.code, w.message.clone());
        }
    }

    fn table_column(&self, meta: &TableMeta, alias: &str, index: usize) -> Column {
        let c = &meta.columns[index];
        let mut column = column_definition(&c.sql_type, c.nullable, &c.name);
        column.schema = meta.schema.clone();
        column.table = alias.to_string();
        column.org_table = meta.name.clone();
        column.org_name = c.name.clone();
        let mut flags = column.flags;
        for (position, index_meta) in meta.indexes.iter().enumerate() {
            if index_meta.columns.contains(&index) {
                flags.insert(match index_meta.kind {
                    IndexKind::Primary if position == 0 && !meta.hidden_row_id => {
                        ColumnFlags::PRIMARY_KEY
                    }
                    IndexKind::Unique => ColumnFlags::UNIQUE_KEY,
                    _ => ColumnFlags::MULTIPLE_KEY,
                });
            }
        }
        if c.auto_increment {
            flags.insert(ColumnFlags::AUTO_INCREMENT);
        }
        column.flags = flags;
        column
    }

    // ---- variables -----------------------------------------------------

    fn system_variable(&self, name: &str) -> Result<Value> {
        let (known, default, numeric) =
            vars::lookup(name).ok_or_else(|| StatementError::UnknownVariable(name.to_string()))?;
        Ok(match known {
            "autocommit" => Value::Int(i64::from(self.autocommit)),
            "transaction_isolation" | "tx_isolation" => {
                Value::string(vars::isolation_name(self.isolation))
            }
            "innodb_lock_wait_timeout" => {
                Value::Int(i64::try_from(self.lock_wait_timeout.as_secs()).unwrap_or(i64::MAX))
            }
            "transaction_read_only" | "tx_read_only" => {
                Value::Int(i64::from(self.trx_read_only && self.trx.is_some()))
            }
            _ => match self.variables.get(known) {
                Some(v) => v.clone(),
                None if numeric => Value::parse_number_literal(default).unwrap_or(Value::Null),
                None => Value::string(default),
            },
        })
    }

    fn set(&mut self, set: &ast::Set) -> Result<()> {
        match set {
            ast::Set::SingleAssignment {
                scope,
                variable,
                values,
                ..
            } => {
                let parts = ident_name(variable)?;
                let [value_expr] = values.as_slice() else {
                    return Err(parse_error("SET takes one value"));
                };
                let mut name = parts.join(".").to_ascii_lowercase();
                if matches!(scope, Some(ast::ContextModifier::Global))
                    || name.starts_with("@@global.")
                {
                    let name = name.trim_start_matches("@@global.").to_string();
                    let value = self.set_value(value_expr)?;
                    return self.set_global(&name, value);
                }
                if let Some(user) = name.strip_prefix('@').filter(|n| !n.starts_with('@')) {
                    let user = user.to_string();
                    let value = self.constant_value(value_expr, "field list")?;
                    self.user_variables.insert(user, value);
                    return Ok(());
                }
                for prefix in ["@@session.", "@@local.", "@@", "session.", "local."] {
                    if let Some(rest) = name.strip_prefix(prefix) {
                        name = rest.to_string();
                        break;
                    }
                }
                let value = self.set_value(value_expr)?;
                self.set_system(&name, value)
            }
            ast::Set::SetNames { charset_name, .. } => {
                let charset = charset_name.value.to_ascii_lowercase();
                for name in [
                    "character_set_client",
                    "character_set_connection",
                    "character_set_results",
                ] {
                    self.variables.insert(name.into(), Value::string(&charset));
                }
                Ok(())
            }
            ast::Set::SetNamesDefault {} => {
                for name in [
                    "character_set_client",
                    "character_set_connection",
                    "character_set_results",
                ] {
                    self.variables.remove(name);
                }
                Ok(())
            }
            ast::Set::SetTransaction { modes, .. } => {
                for mode in modes {
                    match mode {
                        ast::TransactionMode::IsolationLevel(level) => {
                            self.isolation = match level {
                                ast::TransactionIsolationLevel::ReadCommitted
                                | ast::TransactionIsolationLevel::ReadUncommitted => {
                                    Isolation::ReadCommitted
                                }
                                _ => Isolation::RepeatableRead,
                            };
                        }
                        other => {
                            return Err(StatementError::Unsupported(format!(
                                "SET TRANSACTION {other}"
                            )))
                        }
                    }
                }
                Ok(())
            }
            other => Err(StatementError::Unsupported(other.to_string())),
        }
    }

    /// The value SET gives a system variable: `SET x = ON` and `= DEFAULT`
    /// take bare words as values (None: DEFAULT).
    fn set_value(&mut self, value_expr: &ast::Expr) -> Result<Option<Value>> {
        Ok(match value_expr {
            ast::Expr::Identifier(i) if i.quote_style.is_none() && !i.value.starts_with('@') => {
                if i.value.eq_ignore_ascii_case("default") {
                    None
                } else {
                    Some(Value::string(&i.value))
                }
            }
            other => Some(self.constant_value(other, "field list")?),
        })
    }

    /// SET GLOBAL: for the variables that take it (`vars::GLOBAL_VARIABLES`),
    /// checked as SET SESSION checks it, kept for sessions that start later
    /// (this one keeps its own value, as in MySQL). Needs SUPER.
    fn set_global(&mut self, name: &str, value: Option<Value>) -> Result<()> {
        let (known, _, _) =
            vars::lookup(name).ok_or_else(|| StatementError::UnknownVariable(name.to_string()))?;
        if !vars::GLOBAL_VARIABLES.contains(&known) {
            return Err(StatementError::Unsupported(format!("SET GLOBAL {known}")));
        }
        self.require_global(crate::acl::Privileges::SUPER)?;
        // Checked on a scratch copy of the session's settings.
        let (offset, kept) = (self.time_zone_offset_s, self.variables.get(known).cloned());
        let checked = self.set_system(known, value.clone());
        self.time_zone_offset_s = offset;
        match kept {
            Some(v) => self.variables.insert(known.to_string(), v),
            None => self.variables.remove(known),
        };
        checked?;
        self.db.set_global_variable(known, value);
        Ok(())
    }

    /// A new (or reset) session's variables start from the SET GLOBAL ones.
    fn start_from_globals(&mut self) {
        for (name, value) in self.db.global_variables() {
            // Checked when they were set.
            if let Err(e) = self.set_system(&name, Some(value)) {
                log::debug!("connection {}: global {name}: {e}", self.connection_id);
            }
        }
    }

    fn set_system(&mut self, name: &str, value: Option<Value>) -> Result<()> {
        let (known, _, numeric) =
            vars::lookup(name).ok_or_else(|| StatementError::UnknownVariable(name.to_string()))?;
        let text = value.as_ref().map(|v| v.to_string());
        let bad = || StatementError::BadVariableValue {
            name: known.to_string(),
            value: text.clone().unwrap_or_default(),
        };
        let truth = |v: &Option<Value>| -> Option<bool> {
            match v {
                None => Some(true),
                Some(Value::Bytes(b, _)) => {
                    match String::from_utf8_lossy(b).to_ascii_uppercase().as_str() {
                        "ON" | "1" | "TRUE" => Some(true),
                        "OFF" | "0" | "FALSE" => Some(false),
                        _ => None,
                    }
                }
                Some(Value::Int(1)) | Some(Value::UInt(1)) => Some(true),
                Some(Value::Int(0)) | Some(Value::UInt(0)) => Some(false),
                _ => None,
            }
        };
        match known {
            "autocommit" => {
                let on = truth(&value).ok_or_else(bad)?;
                if on && !self.autocommit {
                    // Turning autocommit on commits what is open.
                    self.commit_open()?;
                }
                self.autocommit = on;
            }
            "transaction_isolation" | "tx_isolation" => {
                self.isolation = match &value {
                    None => Isolation::RepeatableRead,
                    Some(v) => vars::parse_isolation(&v.to_string()).ok_or_else(bad)?,
                };
            }
            "time_zone" => {
                let zone = text.clone().unwrap_or_else(|| "SYSTEM".into());
                self.time_zone_offset_s =
                    crate::temporal::parse_time_zone(&zone).ok_or_else(|| {
                        StatementError::Server(floe_server::SqlError {
                            code: 1298,
                            sql_state: *b"HY000",
                            message: format!("Unknown or incorrect time zone: '{zone}'"),
                        })
                    })?;
                match value {
                    Some(v) => self.variables.insert(known.to_string(), v),
                    None => self.variables.remove(known),
                };
            }
            "innodb_lock_wait_timeout" => {
                let seconds = match &value {
                    None => 50,
                    Some(v) => v
                        .to_i128(&mut Warnings::default())
                        .and_then(|n| u64::try_from(n).ok())
                        .filter(|n| (1..=1_073_741_824).contains(n))
                        .ok_or_else(bad)?,
                };
                self.lock_wait_timeout = Duration::from_secs(seconds);
                if let Some(trx) = self.trx.as_mut() {
                    trx.lock_wait_timeout = self.lock_wait_timeout;
                }
            }
            "version"
            | "version_comment"
            | "version_compile_os"
            | "version_compile_machine"
            | "lower_case_table_names"
            | "character_set_system"
            | "system_time_zone"
            | "license"
            | "max_connections"
            | "have_ssl" => {
                return Err(StatementError::Server(floe_server::SqlError {
                    code: 1238,
                    sql_state: *b"HY000",
                    message: format!("Variable '{known}' is a read only variable"),
                }));
            }
            _ => match value {
                None => {
                    self.variables.remove(known);
                }
                Some(v) => {
                    if numeric && v.to_i128(&mut Warnings::default()).is_none() {
                        return Err(bad());
                    }
                    self.variables.insert(known.to_string(), v);
                }
            },
        }
        Ok(())
    }

    /// COM_RESET_CONNECTION: as a new connection, same user and database.
    pub fn reset(&mut self) -> Result<()> {
        let rolled_back = self.rollback_open();
        self.autocommit = true;
        self.isolation = Isolation::RepeatableRead;
        self.lock_wait_timeout = Duration::from_secs(50);
        self.time_zone_offset_s = 0;
        self.variables.clear();
        self.start_from_globals();
        self.user_variables.clear();
        self.prepared.clear();
        self.warnings.clear();
        self.last_insert_id = 0;
        rolled_back
    }
}

impl BindEnv for SqlSession {
    fn system_variable(&self, name: &str) -> Result<Value> {
        SqlSession::system_variable(self, name)
    }
    fn user_variable(&self, name: &str) -> Value {
        self.user_variables
            .get(name)
            .cloned()
            .unwrap_or(Value::Null)
    }
    fn database(&self) -> Option<String> {
        self.database.clone()
    }
    fn user(&self) -> String {
        self.user.clone()
    }
    fn connection_id(&self) -> u32 {
        self.connection_id
    }
    fn bind_subquery(
        &self,
        query: &ast::Query,
        outer: &crate::bind::Scope,
    ) -> Result<Arc<dyn crate::expr::SubqueryPlan>> {
        let plan = self.bind_query(query, outer)?;
        Ok(Arc::new(query::BoundSubquery::new(plan)))
    }

    fn last_insert_id(&self) -> u64 {
        self.last_insert_id
    }
    fn time_zone_offset_s(&self) -> i64 {
        self.time_zone_offset_s
    }
    fn global_variable(&self, name: &str) -> Result<Value> {
        let (known, default, numeric) =
            vars::lookup(name).ok_or_else(|| StatementError::UnknownVariable(name.to_string()))?;
        Ok(match self.db.global_variable(known) {
            Some(value) => value,
            None if numeric => Value::parse_number_literal(default).unwrap_or(Value::Null),
            None => Value::string(default),
        })
    }
    fn parameter(&self, placeholder: &ast::ValueWithSpan) -> Result<Value> {
        let start = placeholder.span.start;
        self.parameter_places
            .binary_search(&(start.line, start.column))
            .ok()
            .and_then(|n| self.parameters.get(n))
            .cloned()
            .ok_or_else(|| parse_error("'?' outside a prepared statement"))
    }
}

impl Drop for SqlSession {
    fn drop(&mut self) {
        // The connection is gone: what it had open is rolled back.
        if let Err(e) = self.rollback_open() {
            log::error!(
                "connection {}: rolling back at disconnect: {e}",
                self.connection_id
            );
        }
    }
}

/// Case-insensitive LIKE for SHOW ... LIKE (`%` and `_`).
fn like_ci(text: &str, pattern: &str) -> bool {
    let expr = Expr::Like {
        operand: Box::new(Expr::Literal(Value::string(text))),
        pattern: Box::new(Expr::Literal(Value::string(pattern))),
        escape: None,
        negated: false,
    };
    let mut context = EvalContext::new(DateTime::from_date(
        Date::new(2000, 1, 1).unwrap_or_else(|| unreachable!()),
    ));
    matches!(expr.eval(&[], &mut context), Ok(Value::Int(1)))
}
