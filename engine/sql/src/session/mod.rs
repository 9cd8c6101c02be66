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

pub mod backend;
pub mod database;
pub mod error;
pub mod vars;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use floe_server::protocol::{ColumnFlags, ColumnType, StatusFlags};
use floe_server::{Column, Interrupt, ResultSink, Summary};
use floe_storage::btr::tree::Direction;
use floe_storage::dict::{IndexKind, NewTable};
use floe_storage::trx::{Isolation, LockRead, Trx};
use sqlparser::ast::{self, Statement};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

pub use database::{normalize_name, Database};
pub use error::StatementError;

use crate::bind::{has_aggregate, AggregateSlot, BindEnv, Binder};
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
    Parser::parse_sql(&MySqlDialect {}, sql).map_err(parse_error)
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

/// A SELECT's output column.
struct Projection {
    column: Column,
    expr: Expr,
    alias: Option<String>,
}

impl SqlSession {
    pub fn new(
        db: Arc<Database>,
        connection_id: u32,
        user: &str,
        interrupt: Interrupt,
    ) -> SqlSession {
        let lock_wait_timeout = Duration::from_secs(50);
        SqlSession {
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
        }
    }

    pub fn current_database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    /// USE / COM_INIT_DB.
    pub fn use_database(&mut self, name: &str) -> Result<()> {
        let name = normalize_name(name);
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
            if variable.first().is_some_and(|v| v.value.eq_ignore_ascii_case("warnings")));
        if !is_show_warnings {
            self.warnings.clear();
        }
        let done = match statement {
            Statement::Query(query) => return self.select(query, sink),
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
            Statement::Drop {
                object_type,
                if_exists,
                names,
                ..
            } => {
                self.commit_open()?;
                self.drop(object_type, *if_exists, names)?
            }
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
                names.push("information_schema".into());
                names.sort();
                return self.text_rows(
                    sink,
                    &["Database"],
                    names.into_iter().map(|n| vec![n]).collect(),
                );
            }
            Statement::ShowTables { show_options, .. } => {
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
                if !self.db.schema_exists(&schema)? {
                    return Err(StatementError::NoSuchDatabase(schema));
                }
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
                return self.text_rows(sink, &["Variable_name", "Value"], rows);
            }
            Statement::ShowVariable { variable }
                if variable
                    .first()
                    .is_some_and(|v| v.value.eq_ignore_ascii_case("warnings")) =>
            {
                let rows = self
                    .warnings
                    .list()
                    .iter()
                    .map(|w| vec!["Warning".to_string(), w.code.to_string(), w.message.clone()])
                    .collect();
                return self.text_rows(sink, &["Level", "Code", "Message"], rows);
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
        self.text_rows(
            sink,
            &["Field", "Type", "Null", "Key", "Default", "Extra"],
            rows,
        )
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
        if !table.mdl.acquire() {
            return Err(StatementError::NoSuchTable {
                schema: table.schema.clone(),
                table: table.name.clone(),
            });
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

    fn schema_and_table(&self, name: &ast::ObjectName) -> Result<(String, String)> {
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
        let (schema, table) = self.schema_and_table(name)?;
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
        Binder {
            env: self,
            table,
            table_alias: alias.to_string(),
            aggregates: None,
            context,
        }
    }

    fn eval_context(&self) -> EvalContext {
        EvalContext::new(now_utc())
    }

    // ---- SELECT --------------------------------------------------------

    fn select(&mut self, query: &ast::Query, sink: &mut dyn ResultSink) -> Result<()> {
        let ast::SetExpr::Select(select) = query.body.as_ref() else {
            return Err(StatementError::Unsupported(format!("query {}", query.body)));
        };
        if query.with.is_some() {
            return Err(StatementError::Unsupported("WITH".into()));
        }
        let lock = match query.locks.first().map(|l| &l.lock_type) {
            None => LockRead::None,
            Some(ast::LockType::Share) => LockRead::Shared,
            Some(ast::LockType::Update) => LockRead::Exclusive,
        };
        let (table, alias) = match select.from.as_slice() {
            [] => (None, String::new()),
            [from] => {
                if !from.joins.is_empty() {
                    return Err(StatementError::Unsupported("joins".into()));
                }
                let ast::TableFactor::Table { name, alias, .. } = &from.relation else {
                    return Err(StatementError::Unsupported(format!(
                        "FROM {}",
                        from.relation
                    )));
                };
                let meta = self.lookup(name)?;
                let alias = match alias {
                    Some(a) => a.name.value.clone(),
                    None => meta.name.clone(),
                };
                (Some(meta), alias)
            }
            _ => return Err(StatementError::Unsupported("joins".into())),
        };
        let group_by: Vec<&ast::Expr> = match &select.group_by {
            ast::GroupByExpr::Expressions(exprs, _) => exprs.iter().collect(),
            ast::GroupByExpr::All(_) => {
                return Err(StatementError::Unsupported("GROUP BY ALL".into()))
            }
        };
        let aggregate_mode = !group_by.is_empty()
            || select.having.is_some()
            || select.projection.iter().any(|item| match item {
                ast::SelectItem::UnnamedExpr(e)
                | ast::SelectItem::ExprWithAlias { expr: e, .. } => has_aggregate(e),
                _ => false,
            });
        let meta = table.as_deref();
        let mut binder = self.binder(meta, &alias, "field list");
        if aggregate_mode {
            binder.aggregates = Some(Vec::new());
        }
        // Projections.
        let mut projections = Vec::new();
        for item in &select.projection {
            match item {
                ast::SelectItem::Wildcard(_) | ast::SelectItem::QualifiedWildcard(..) => {
                    let Some(meta) = meta else {
                        return Err(parse_error("* without a table"));
                    };
                    for (i, c) in meta.columns.iter().enumerate().filter(|(_, c)| !c.hidden) {
                        projections.push(Projection {
                            column: self.table_column(meta, &alias, i),
                            expr: Expr::column(i, c.sql_type, c.nullable),
                            alias: None,
                        });
                    }
                }
                ast::SelectItem::UnnamedExpr(e)
                | ast::SelectItem::ExprWithAlias { expr: e, .. } => {
                    let expr = binder.bind(e)?;
                    let alias_name = match item {
                        ast::SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
                        _ => None,
                    };
                    let mut column = match (&expr, meta) {
                        (Expr::Column { index, .. }, Some(meta)) if *index < meta.columns.len() => {
                            let mut c = self.table_column(meta, &alias, *index);
                            if let ast::Expr::Identifier(i) = e {
                                c.name = i.value.clone();
                            }
                            c
                        }
                        _ => {
                            column_definition(&expr.result_type(), expr.nullable(), &e.to_string())
                        }
                    };
                    if let Some(a) = &alias_name {
                        column.name = a.clone();
                    }
                    projections.push(Projection {
                        column,
                        expr,
                        alias: alias_name,
                    });
                }
                other => return Err(StatementError::Unsupported(other.to_string())),
            }
        }
        // WHERE reads the table's row only.
        let where_clause = match &select.selection {
            Some(e) => Some(self.binder(meta, &alias, "where clause").bind(e)?),
            None => None,
        };
        let mut group_exprs = Vec::new();
        for e in &group_by {
            group_exprs.push(self.binder(meta, &alias, "group statement").bind(e)?);
        }
        binder.context = "having clause";
        let having = match &select.having {
            Some(e) => Some(binder.bind(e)?),
            None => None,
        };
        binder.context = "order clause";
        let mut order = Vec::new();
        if let Some(order_by) = &query.order_by {
            let ast::OrderByKind::Expressions(items) = &order_by.kind else {
                return Err(StatementError::Unsupported("ORDER BY ALL".into()));
            };
            for item in items {
                let descending = matches!(item.options.sort, Some(ast::OrderBySort::Desc));
                let expr = match &item.expr {
                    ast::Expr::Value(v) if matches!(v.value, ast::Value::Number(..)) => {
                        let position: usize = v.value.to_string().parse().unwrap_or(0);
                        projections
                            .get(position.wrapping_sub(1))
                            .map(|p| p.expr.clone())
                            .ok_or_else(|| StatementError::UnknownColumn {
                                column: v.value.to_string(),
                                context: "order clause".into(),
                            })?
                    }
                    ast::Expr::Identifier(i)
                        if projections.iter().any(|p| {
                            p.alias
                                .as_deref()
                                .is_some_and(|a| a.eq_ignore_ascii_case(&i.value))
                        }) =>
                    {
                        projections
                            .iter()
                            .find(|p| {
                                p.alias
                                    .as_deref()
                                    .is_some_and(|a| a.eq_ignore_ascii_case(&i.value))
                            })
                            .map(|p| p.expr.clone())
                            .unwrap_or_else(|| unreachable!())
                    }
                    other => binder.bind(other)?,
                };
                order.push((expr, descending));
            }
        }
        let slots = binder.aggregates.take().unwrap_or_default();
        drop(binder);
        let (limit, offset) = limit_offset(query)?;

        let columns: Vec<Column> = projections.iter().map(|p| p.column.clone()).collect();
        let output_types: Vec<SqlType> = projections.iter().map(|p| p.expr.result_type()).collect();
        let mut context = self.eval_context();

        // Source rows (the table's, or one empty row without FROM).
        let mut source: Vec<Vec<Value>> = Vec::new();
        match &table {
            None => source.push(Vec::new()),
            Some(meta) => {
                let access = plan::choose(meta, where_clause.as_ref());
                log::debug!(
                    "select on {}.{}: {}",
                    meta.schema,
                    meta.name,
                    access.describe(meta)
                );
                let read_only = lock == LockRead::None;
                let meta = Arc::clone(meta);
                let interrupt = self.interrupt.clone();
                let where_ref = where_clause.as_ref();
                // Without ORDER BY or aggregates, LIMIT stops the scan early.
                let stop_after = if order.is_empty() && !aggregate_mode {
                    limit.map(|l| l.saturating_add(offset))
                } else {
                    None
                };
                let rows = self.data_statement(read_only, |session, trx| {
                    session.hold(&meta)?;
                    let mut rows = Vec::new();
                    let mut ctx = session.eval_context();
                    scan(trx, &meta, &access, lock, &interrupt, &mut |_, values| {
                        if let Some(w) = where_ref {
                            if w.eval(&values, &mut ctx)?.truth(&mut ctx.warnings) != Some(true) {
                                return Ok(true);
                            }
                        }
                        rows.push(values);
                        Ok(stop_after.is_none_or(|n| rows.len() < n))
                    })?;
                    session.absorb(&ctx.warnings);
                    Ok(rows)
                })?;
                source = rows;
            }
        }
        if table.is_none() {
            if let Some(w) = &where_clause {
                if w.eval(&[], &mut context)?.truth(&mut context.warnings) != Some(true) {
                    source.clear();
                }
            }
        }
        // Aggregation: one row per group, the group's first row followed by
        // its aggregate values.
        let rows: Vec<Vec<Value>> = if aggregate_mode {
            let width = meta.map_or(0, |m| m.columns.len());
            aggregate_rows(source, &group_exprs, &slots, width, &mut context)?
        } else {
            source
        };
        let mut out: Vec<(Vec<Value>, Vec<Value>)> = Vec::new();
        for row in rows {
            if let Some(h) = &having {
                if h.eval(&row, &mut context)?.truth(&mut context.warnings) != Some(true) {
                    continue;
                }
            }
            let keys = order
                .iter()
                .map(|(e, _)| e.eval_output(&row, &mut context))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let values = projections
                .iter()
                .map(|p| p.expr.eval(&row, &mut context))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            out.push((keys, values));
        }
        if !order.is_empty() {
            out.sort_by(|(a, _), (b, _)| {
                for ((x, y), (_, descending)) in a.iter().zip(b).zip(&order) {
                    let ordering = sort_compare(x, y);
                    if ordering != std::cmp::Ordering::Equal {
                        return if *descending {
                            ordering.reverse()
                        } else {
                            ordering
                        };
                    }
                }
                std::cmp::Ordering::Equal
            });
        }
        self.absorb(&context.warnings);
        send_columns(sink, &columns)?;
        for (i, (_, values)) in out.into_iter().enumerate() {
            if i < offset {
                continue;
            }
            if limit.is_some_and(|l| i >= offset.saturating_add(l)) {
                break;
            }
            emit_row(sink, values, &output_types)?;
        }
        sink.done(&Summary {
            status: self.status_flags(),
            warning_count: u16::try_from(self.warnings.total_count()).unwrap_or(u16::MAX),
            ..Summary::default()
        })?;
        Ok(())
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

    // ---- INSERT / UPDATE / DELETE -------------------------------------

    /// Fills, converts and checks one row for `meta`; `given` holds the
    /// client's values by column position (None: not given or DEFAULT).
    fn complete_row(
        &self,
        meta: &TableMeta,
        mut given: Vec<Option<Value>>,
        row_number: usize,
        generated: &mut Option<u64>,
    ) -> Result<Vec<Value>> {
        let mut values = Vec::with_capacity(meta.columns.len());
        for (i, column) in meta.columns.iter().enumerate() {
            let value = given.get_mut(i).and_then(Option::take);
            let value = if column.hidden {
                Value::UInt(meta.take_auto_increment())
            } else if column.auto_increment {
                match value {
                    Some(v) if !v.is_null() && !matches!(v, Value::Int(0) | Value::UInt(0)) => {
                        let v = self.convert(v, column, row_number)?;
                        if let Some(n) = v.to_i128(&mut Warnings::default()) {
                            meta.observe_auto_increment(u64::try_from(n).unwrap_or(0));
                        }
                        v
                    }
                    _ => {
                        let next = meta.take_auto_increment();
                        generated.get_or_insert(next);
                        self.convert(Value::UInt(next), column, row_number)?
                    }
                }
            } else {
                match value {
                    Some(v) => self.convert(v, column, row_number)?,
                    None => match &column.default {
                        ColumnDefault::Value(v) => v.clone(),
                        ColumnDefault::Null => Value::Null,
                        ColumnDefault::None if column.nullable => Value::Null,
                        ColumnDefault::None => {
                            return Err(StatementError::NoDefault(column.name.clone()))
                        }
                    },
                }
            };
            if value.is_null() && !column.nullable {
                return Err(StatementError::NullInNotNull(column.name.clone()));
            }
            values.push(value);
        }
        Ok(values)
    }

    fn convert(&self, value: Value, column: &ColumnMeta, row_number: usize) -> Result<Value> {
        row::convert_for_column(value, &column.sql_type).map_err(|e| StatementError::Convert {
            code: e.code(),
            message: e.to_string(),
            column: column.name.clone(),
            row: row_number,
        })
    }

    fn write_row(
        &self,
        trx: &mut Trx,
        meta: &TableMeta,
        values: &[Value],
        update_pk: Option<&[u8]>,
    ) -> Result<()> {
        let mut bytes = Vec::with_capacity(64);
        row::encode(values, &meta.types, &mut bytes)
            .map_err(|e| StatementError::Storage(e.to_string()))?;
        let pk = meta.primary_key(values)?;
        let duplicate = |index: &str| duplicate_entry(meta, values, index);
        match update_pk {
            Some(old) if old == pk.as_slice() => {
                meta.table
                    .update(trx, &pk, &bytes)
                    .map_err(|e| error::from_trx(e, duplicate))?;
            }
            Some(old) => {
                meta.table.delete(trx, old).map_err(error::trx_error)?;
                meta.table
                    .insert(trx, &pk, &bytes)
                    .map_err(|e| error::from_trx(e, duplicate))?;
            }
            None => meta
                .table
                .insert(trx, &pk, &bytes)
                .map_err(|e| error::from_trx(e, duplicate))?,
        }
        Ok(())
    }

    fn insert(&mut self, trx: &mut Trx, insert: &ast::Insert) -> Result<Done> {
        let ast::TableObject::TableName(name) = &insert.table else {
            return Err(StatementError::Unsupported("INSERT INTO a function".into()));
        };
        if insert.on.is_some() || insert.ignore || insert.replace_into {
            return Err(StatementError::Unsupported(
                "INSERT IGNORE / ON DUPLICATE KEY UPDATE / REPLACE".into(),
            ));
        }
        let meta = self.lookup(name)?;
        self.hold(&meta)?;
        let targets: Vec<usize> = if insert.columns.is_empty() {
            (0..meta.columns.len())
                .filter(|&i| !meta.columns[i].hidden)
                .collect()
        } else {
            let mut targets = Vec::new();
            for column in &insert.columns {
                let parts = ident_name(column)?;
                let column_name = parts.last().cloned().unwrap_or_default();
                let index = meta.column_index(&column_name).ok_or_else(|| {
                    StatementError::UnknownColumn {
                        column: column_name.clone(),
                        context: "field list".into(),
                    }
                })?;
                targets.push(index);
            }
            targets
        };
        let source = insert
            .source
            .as_ref()
            .ok_or_else(|| StatementError::Unsupported("INSERT ... SET".into()))?;
        let ast::SetExpr::Values(values) = source.body.as_ref() else {
            return Err(StatementError::Unsupported("INSERT ... SELECT".into()));
        };
        let mut context = self.eval_context();
        let mut generated = None;
        let mut count = 0u64;
        for (row_index, row_exprs) in values.rows.iter().enumerate() {
            let row_number = row_index + 1;
            if row_exprs.content.len() != targets.len() {
                return Err(StatementError::ColumnCount(row_number));
            }
            let mut given: Vec<Option<Value>> = vec![None; meta.columns.len()];
            for (expr, &target) in row_exprs.content.iter().zip(&targets) {
                if let ast::Expr::Identifier(i) = expr {
                    if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default") {
                        continue;
                    }
                }
                let bound = self.binder(None, "", "field list").bind(expr)?;
                given[target] = Some(bound.eval_output(&[], &mut context)?);
            }
            let row = self.complete_row(&meta, given, row_number, &mut generated)?;
            self.write_row(trx, &meta, &row, None)?;
            count += 1;
            if count.is_multiple_of(INTERRUPT_CHECK_ROWS as u64) {
                self.interrupt.check()?;
            }
        }
        self.absorb(&context.warnings);
        if let Some(id) = generated {
            self.last_insert_id = id;
        }
        Ok(Done {
            affected_rows: count,
            last_insert_id: generated.unwrap_or(0),
            info: if count > 1 {
                format!(
                    "Records: {count}  Duplicates: 0  Warnings: {}",
                    self.warnings.total_count()
                )
            } else {
                String::new()
            },
        })
    }

    fn single_table(&self, from: &ast::TableWithJoins) -> Result<(Arc<TableMeta>, String)> {
        if !from.joins.is_empty() {
            return Err(StatementError::Unsupported(
                "multi-table UPDATE/DELETE".into(),
            ));
        }
        let ast::TableFactor::Table { name, alias, .. } = &from.relation else {
            return Err(StatementError::Unsupported(from.relation.to_string()));
        };
        let meta = self.lookup(name)?;
        let alias = alias
            .as_ref()
            .map_or_else(|| meta.name.clone(), |a| a.name.value.clone());
        Ok((meta, alias))
    }

    /// Rows of `meta` matching `where_clause`, locked for writing.
    fn matching_rows(
        &self,
        trx: &mut Trx,
        meta: &TableMeta,
        where_clause: Option<&Expr>,
        limit: Option<usize>,
        context: &mut EvalContext,
    ) -> Result<Vec<(Vec<u8>, Vec<Value>)>> {
        let access = plan::choose(meta, where_clause);
        log::debug!(
            "write on {}.{}: {}",
            meta.schema,
            meta.name,
            access.describe(meta)
        );
        let mut rows = Vec::new();
        scan(
            trx,
            meta,
            &access,
            LockRead::Exclusive,
            &self.interrupt,
            &mut |pk, values| {
                if let Some(w) = where_clause {
                    if w.eval(&values, context)?.truth(&mut context.warnings) != Some(true) {
                        return Ok(true);
                    }
                }
                rows.push((pk, values));
                Ok(limit.is_none_or(|l| rows.len() < l))
            },
        )?;
        Ok(rows)
    }

    fn update(&mut self, trx: &mut Trx, update: &ast::Update) -> Result<Done> {
        let (meta, alias) = self.single_table(&update.table)?;
        self.hold(&meta)?;
        let mut assignments = Vec::new();
        for assignment in &update.assignments {
            let ast::AssignmentTarget::ColumnName(name) = &assignment.target else {
                return Err(StatementError::Unsupported("tuple assignment".into()));
            };
            let parts = ident_name(name)?;
            let column_name = parts.last().cloned().unwrap_or_default();
            let index =
                meta.column_index(&column_name)
                    .ok_or_else(|| StatementError::UnknownColumn {
                        column: column_name.clone(),
                        context: "field list".into(),
                    })?;
            let expr = self
                .binder(Some(&meta), &alias, "field list")
                .bind(&assignment.value)?;
            assignments.push((index, expr));
        }
        let where_clause = match &update.selection {
            Some(e) => Some(self.binder(Some(&meta), &alias, "where clause").bind(e)?),
            None => None,
        };
        let limit = match &update.limit {
            Some(e) => Some(limit_number(e)?),
            None => None,
        };
        let mut context = self.eval_context();
        let rows = self.matching_rows(trx, &meta, where_clause.as_ref(), limit, &mut context)?;
        let matched = rows.len() as u64;
        let mut changed = 0u64;
        for (row_index, (pk, old)) in rows.into_iter().enumerate() {
            let mut new = old.clone();
            // MySQL applies single-table assignments left to right, each
            // seeing the ones before it.
            for (index, expr) in &assignments {
                let value = expr.eval_output(&new, &mut context)?;
                let column = &meta.columns[*index];
                let value = self.convert(value, column, row_index + 1)?;
                if value.is_null() && !column.nullable {
                    return Err(StatementError::NullInNotNull(column.name.clone()));
                }
                if column.auto_increment {
                    if let Some(n) = value.to_i128(&mut Warnings::default()) {
                        meta.observe_auto_increment(u64::try_from(n).unwrap_or(0));
                    }
                }
                new[*index] = value;
            }
            let same = old.iter().zip(&new).all(|(a, b)| same_value(a, b));
            if same {
                continue;
            }
            self.write_row(trx, &meta, &new, Some(&pk))?;
            changed += 1;
        }
        self.absorb(&context.warnings);
        Ok(Done {
            affected_rows: changed,
            last_insert_id: 0,
            info: format!(
                "Rows matched: {matched}  Changed: {changed}  Warnings: {}",
                self.warnings.total_count()
            ),
        })
    }

    fn delete(&mut self, trx: &mut Trx, delete: &ast::Delete) -> Result<Done> {
        let tables = match &delete.from {
            ast::FromTable::WithFromKeyword(t) | ast::FromTable::WithoutKeyword(t) => t,
        };
        let [from] = tables.as_slice() else {
            return Err(StatementError::Unsupported("multi-table DELETE".into()));
        };
        if !delete.tables.is_empty() || delete.using.is_some() {
            return Err(StatementError::Unsupported("multi-table DELETE".into()));
        }
        let (meta, alias) = self.single_table(from)?;
        self.hold(&meta)?;
        let where_clause = match &delete.selection {
            Some(e) => Some(self.binder(Some(&meta), &alias, "where clause").bind(e)?),
            None => None,
        };
        let limit = match &delete.limit {
            Some(e) => Some(limit_number(e)?),
            None => None,
        };
        let mut context = self.eval_context();
        let rows = self.matching_rows(trx, &meta, where_clause.as_ref(), limit, &mut context)?;
        let mut deleted = 0u64;
        for (pk, _) in rows {
            if meta.table.delete(trx, &pk).map_err(error::trx_error)? {
                deleted += 1;
            }
        }
        self.absorb(&context.warnings);
        Ok(Done {
            affected_rows: deleted,
            ..Done::default()
        })
    }

    // ---- DDL -----------------------------------------------------------

    fn create_table(&mut self, create: &ast::CreateTable) -> Result<Done> {
        let (schema, name) = self.schema_and_table(&create.name)?;
        if !self.db.schema_exists(&schema)? {
            return Err(StatementError::NoSuchDatabase(schema));
        }
        if self.db.table(&schema, &name).is_some() {
            if create.if_not_exists {
                self.warnings
                    .push(1050, format!("Table '{name}' already exists"));
                return Ok(Done::default());
            }
            return Err(StatementError::TableExists(name));
        }
        if create.query.is_some() || create.like.is_some() || create.temporary {
            return Err(StatementError::Unsupported(
                "CREATE TABLE ... SELECT / LIKE / TEMPORARY".into(),
            ));
        }
        let mut columns: Vec<ColumnMeta> = Vec::new();
        let mut primary: Option<Vec<String>> = None;
        let mut secondaries: Vec<(Option<String>, IndexKind, Vec<String>)> = Vec::new();
        let mut context = self.eval_context();
        for column in &create.columns {
            if columns
                .iter()
                .any(|c| c.name.eq_ignore_ascii_case(&column.name.value))
            {
                return Err(StatementError::DuplicateColumn(column.name.value.clone()));
            }
            let sql_type = sql_type_of(&column.data_type)?;
            let mut meta = ColumnMeta {
                name: column.name.value.clone(),
                sql_type,
                nullable: true,
                auto_increment: false,
                hidden: false,
                default: ColumnDefault::None,
            };
            let mut default_given = None;
            for option in &column.options {
                match &option.option {
                    ast::ColumnOption::NotNull => meta.nullable = false,
                    ast::ColumnOption::Null => meta.nullable = true,
                    ast::ColumnOption::Default(expr) => default_given = Some(expr.clone()),
                    ast::ColumnOption::PrimaryKey(_) => {
                        if primary.is_some() {
                            return Err(StatementError::MultiplePrimaryKeys);
                        }
                        primary = Some(vec![meta.name.clone()]);
                    }
                    ast::ColumnOption::Unique(_) => {
                        secondaries.push((None, IndexKind::Unique, vec![meta.name.clone()]))
                    }
                    ast::ColumnOption::DialectSpecific(tokens)
                        if tokens
                            .iter()
                            .any(|t| t.to_string().eq_ignore_ascii_case("AUTO_INCREMENT")) =>
                    {
                        meta.auto_increment = true
                    }
                    ast::ColumnOption::Comment(_)
                    | ast::ColumnOption::CharacterSet(_)
                    | ast::ColumnOption::Collation(_) => {}
                    other => {
                        return Err(StatementError::Unsupported(format!(
                            "column option {other}"
                        )))
                    }
                }
            }
            if let Some(expr) = default_given {
                let value = self
                    .binder(None, "", "default")
                    .bind(&expr)?
                    .eval_output(&[], &mut context)?;
                if value.is_null() {
                    if !meta.nullable {
                        return Err(StatementError::InvalidDefault(meta.name.clone()));
                    }
                    meta.default = ColumnDefault::Null;
                } else {
                    let value = row::convert_for_column(value, &meta.sql_type)
                        .map_err(|_| StatementError::InvalidDefault(meta.name.clone()))?;
                    meta.default = ColumnDefault::Value(value);
                }
            } else if meta.nullable {
                meta.default = ColumnDefault::Null;
            }
            columns.push(meta);
        }
        let index_columns = |list: &[ast::IndexColumn]| -> Vec<String> {
            list.iter()
                .map(|c| c.column.expr.to_string().trim_matches('`').to_string())
                .collect()
        };
        for constraint in &create.constraints {
            match constraint {
                ast::TableConstraint::PrimaryKey(pk) => {
                    if primary.is_some() {
                        return Err(StatementError::MultiplePrimaryKeys);
                    }
                    primary = Some(index_columns(&pk.columns));
                }
                ast::TableConstraint::Unique(u) => secondaries.push((
                    u.index_name
                        .as_ref()
                        .or(u.name.as_ref())
                        .map(|i| i.value.clone()),
                    IndexKind::Unique,
                    index_columns(&u.columns),
                )),
                ast::TableConstraint::Index(i) => secondaries.push((
                    i.name.as_ref().map(|n| n.value.clone()),
                    IndexKind::NonUnique,
                    index_columns(&i.columns),
                )),
                other => return Err(StatementError::Unsupported(format!("constraint {other}"))),
            }
        }
        let hidden = primary.is_none();
        if hidden {
            columns.insert(
                0,
                ColumnMeta {
                    name: HIDDEN_ROW_ID.into(),
                    sql_type: SqlType::BIGINT_UNSIGNED,
                    nullable: false,
                    auto_increment: false,
                    hidden: true,
                    default: ColumnDefault::None,
                },
            );
        }
        let position = |name: &str| -> Result<u16> {
            columns
                .iter()
                .position(|c| !c.hidden && c.name.eq_ignore_ascii_case(name))
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| StatementError::KeyColumn(name.to_string()))
        };
        let mut indexes: Vec<(String, IndexKind, Vec<u16>)> = Vec::new();
        match &primary {
            Some(names) => {
                let positions = names
                    .iter()
                    .map(|n| position(n))
                    .collect::<Result<Vec<_>>>()?;
                indexes.push(("PRIMARY".into(), IndexKind::Primary, positions));
            }
            None => indexes.push((HIDDEN_PRIMARY.into(), IndexKind::Primary, vec![0])),
        }
        for (index_name, kind, names) in secondaries {
            let positions = names
                .iter()
                .map(|n| position(n))
                .collect::<Result<Vec<_>>>()?;
            let base = index_name.unwrap_or_else(|| names.first().cloned().unwrap_or_default());
            let mut unique_name = base.clone();
            let mut n = 2;
            while indexes
                .iter()
                .any(|(x, _, _)| x.eq_ignore_ascii_case(&unique_name))
            {
                unique_name = format!("{base}_{n}");
                n += 1;
            }
            indexes.push((unique_name, kind, positions));
        }
        // Primary key columns are NOT NULL.
        if let Some((_, _, positions)) = indexes.first() {
            for &p in positions {
                if let Some(c) = columns.get_mut(usize::from(p)) {
                    c.nullable = false;
                    if matches!(c.default, ColumnDefault::Null) {
                        c.default = ColumnDefault::None;
                    }
                }
            }
        }
        let auto: Vec<usize> = (0..columns.len())
            .filter(|&i| columns[i].auto_increment)
            .collect();
        if auto.len() > 1
            || auto.first().is_some_and(|&a| {
                !indexes
                    .iter()
                    .any(|(_, _, cols)| cols.first().map(|&c| usize::from(c)) == Some(a))
            })
        {
            return Err(StatementError::AutoIncrementKey);
        }
        for (_, _, positions) in &indexes {
            for &p in positions {
                let Some(c) = columns.get(usize::from(p)) else {
                    continue;
                };
                if KeyColumn::for_type(&c.sql_type).is_none() {
                    return Err(StatementError::Unsupported(format!(
                        "an index on {}",
                        c.name
                    )));
                }
            }
        }
        let new = NewTable {
            schema,
            name,
            columns: columns.iter().map(ColumnMeta::to_def).collect(),
            indexes,
            options: encode_options(1),
        };
        self.db.create_table(new)?;
        Ok(Done::default())
    }

    fn drop(
        &mut self,
        object_type: &ast::ObjectType,
        if_exists: bool,
        names: &[ast::ObjectName],
    ) -> Result<Done> {
        match object_type {
            ast::ObjectType::Table => {
                let mut missing = Vec::new();
                for name in names {
                    let (schema, table) = self.schema_and_table(name)?;
                    match self.db.drop_table(&schema, &table, self.lock_wait_timeout) {
                        Ok(()) => {}
                        Err(StatementError::UnknownTable { .. }) => {
                            missing.push(format!("{schema}.{table}"))
                        }
                        Err(e) => return Err(e),
                    }
                }
                if !missing.is_empty() {
                    if !if_exists {
                        let first = missing.join(",");
                        let (schema, table) = first
                            .split_once('.')
                            .map_or((String::new(), first.clone()), |(s, t)| {
                                (s.to_string(), t.to_string())
                            });
                        return Err(StatementError::UnknownTable { schema, table });
                    }
                    for m in missing {
                        self.warnings.push(1051, format!("Unknown table '{m}'"));
                    }
                }
                Ok(Done::default())
            }
            ast::ObjectType::Database | ast::ObjectType::Schema => {
                let name = names
                    .first()
                    .map(ident_name)
                    .transpose()?
                    .map(|p| p.join("."))
                    .unwrap_or_default();
                let name = normalize_name(&name);
                match self.db.drop_schema(&name, self.lock_wait_timeout) {
                    Ok(tables) => {
                        if self.database.as_deref() == Some(name.as_str()) {
                            self.database = None;
                        }
                        Ok(Done {
                            affected_rows: tables,
                            ..Done::default()
                        })
                    }
                    Err(StatementError::DropMissingDatabase(_)) if if_exists => {
                        self.warnings.push(
                            1008,
                            format!("Can't drop database '{name}'; database doesn't exist"),
                        );
                        Ok(Done::default())
                    }
                    Err(e) => Err(e),
                }
            }
            other => Err(StatementError::Unsupported(format!("DROP {other}"))),
        }
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
                    return Err(StatementError::Unsupported("SET GLOBAL".into()));
                }
                if let Some(user) = name.strip_prefix('@').filter(|n| !n.starts_with('@')) {
                    let user = user.to_string();
                    let value = self
                        .binder(None, "", "field list")
                        .bind(value_expr)?
                        .eval_output(&[], &mut self.eval_context())?;
                    self.user_variables.insert(user, value);
                    return Ok(());
                }
                for prefix in ["@@session.", "@@local.", "@@", "session.", "local."] {
                    if let Some(rest) = name.strip_prefix(prefix) {
                        name = rest.to_string();
                        break;
                    }
                }
                // `SET x = ON` and `= DEFAULT`: bare words are values here.
                let value = match value_expr {
                    ast::Expr::Identifier(i)
                        if i.quote_style.is_none() && !i.value.starts_with('@') =>
                    {
                        if i.value.eq_ignore_ascii_case("default") {
                            None
                        } else {
                            Some(Value::string(&i.value))
                        }
                    }
                    other => Some(
                        self.binder(None, "", "field list")
                            .bind(other)?
                            .eval_output(&[], &mut self.eval_context())?,
                    ),
                };
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
        self.variables.clear();
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
    fn last_insert_id(&self) -> u64 {
        self.last_insert_id
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

/// Whether two stored values are the same (an UPDATE that changes nothing
/// does not count the row as changed).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bytes(x, _), Value::Bytes(y, _)) => x == y,
        (Value::Null, _) | (_, Value::Null) => false,
        _ => sort_compare(a, b) == std::cmp::Ordering::Equal && a.to_string() == b.to_string(),
    }
}

/// The "Duplicate entry" text: the values of the index that clashed.
fn duplicate_entry(meta: &TableMeta, values: &[Value], index_name: &str) -> (String, String) {
    let index = meta
        .indexes
        .iter()
        .find(|i| i.name == index_name)
        .or_else(|| meta.indexes.first());
    let entry = index.map_or_else(String::new, |i| {
        i.columns
            .iter()
            .map(|&c| values.get(c).map_or_else(String::new, Value::to_string))
            .collect::<Vec<_>>()
            .join("-")
    });
    let key = format!(
        "{}.{}",
        meta.name,
        index.map_or(index_name, |i| i.name.as_str())
    );
    (entry, key)
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

fn limit_number(expr: &ast::Expr) -> Result<usize> {
    match expr {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::Number(n, _) => {
                n.parse().map_err(|_| parse_error(format!("bad LIMIT {n}")))
            }
            other => Err(parse_error(format!("bad LIMIT {other}"))),
        },
        other => Err(parse_error(format!("bad LIMIT {other}"))),
    }
}

fn limit_offset(query: &ast::Query) -> Result<(Option<usize>, usize)> {
    match &query.limit_clause {
        None => Ok((None, 0)),
        Some(ast::LimitClause::LimitOffset { limit, offset, .. }) => Ok((
            limit.as_ref().map(limit_number).transpose()?,
            offset
                .as_ref()
                .map(|o| limit_number(&o.value))
                .transpose()?
                .unwrap_or(0),
        )),
        Some(ast::LimitClause::OffsetCommaLimit { offset, limit }) => {
            Ok((Some(limit_number(limit)?), limit_number(offset)?))
        }
    }
}

/// Reads the rows of `access`, calling `visit(pk, row)` until it returns
/// false.
fn scan(
    trx: &mut Trx,
    meta: &TableMeta,
    access: &Access,
    lock: LockRead,
    interrupt: &Interrupt,
    visit: &mut dyn FnMut(Vec<u8>, Vec<Value>) -> Result<bool>,
) -> Result<()> {
    let decode = |bytes: &[u8]| {
        row::decode(bytes, &meta.types).map_err(|e| {
            StatementError::Storage(format!("table {}.{}: {e}", meta.schema, meta.name))
        })
    };
    let mut count = 0usize;
    for (lower, upper) in &access.ranges {
        if access.point {
            let std::ops::Bound::Included(key) = lower else {
                continue;
            };
            if let Some(bytes) = meta.table.get(trx, key, lock).map_err(error::trx_error)? {
                if !visit(key.clone(), decode(&bytes)?)? {
                    return Ok(());
                }
            }
            continue;
        }
        let mut cursor = if access.index == 0 {
            meta.table
                .scan(lower.clone(), upper.clone(), Direction::Forward, lock)
        } else {
            meta.table.scan_index(
                access.index - 1,
                lower.clone(),
                upper.clone(),
                Direction::Forward,
                lock,
            )
        };
        while let Some((pk, bytes)) = cursor.next(trx).map_err(error::trx_error)? {
            count += 1;
            if count.is_multiple_of(INTERRUPT_CHECK_ROWS) {
                interrupt.check()?;
            }
            if !visit(pk, decode(&bytes)?)? {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Groups `rows` by `group_exprs`; each output row is the group's first row
/// (padded to `width`) followed by the aggregates' results.
fn aggregate_rows(
    rows: Vec<Vec<Value>>,
    group_exprs: &[Expr],
    slots: &[AggregateSlot],
    width: usize,
    context: &mut EvalContext,
) -> Result<Vec<Vec<Value>>> {
    let key_columns: Vec<Option<KeyColumn>> = group_exprs
        .iter()
        .map(|e| KeyColumn::for_type(&e.result_type()))
        .collect();
    let mut groups: Vec<(Vec<Value>, Vec<crate::Accumulator>)> = Vec::new();
    let mut by_key: HashMap<Vec<u8>, usize> = HashMap::new();
    for row in rows {
        let mut key = Vec::new();
        for (expr, column) in group_exprs.iter().zip(&key_columns) {
            let value = expr.eval_output(&row, context)?;
            if let Some(column) = column {
                let value = plan::key_value(&value, &expr.result_type()).unwrap_or(value);
                if encode_key(
                    std::slice::from_ref(&value),
                    std::slice::from_ref(column),
                    &mut key,
                )
                .is_err()
                {
                    // Not representable in the key type: group by its text.
                    key.extend_from_slice(value.to_string().as_bytes());
                    key.push(0);
                }
            }
        }
        let position = match by_key.get(&key) {
            Some(&p) => p,
            None => {
                let accumulators = slots.iter().map(|s| s.aggregate.accumulator()).collect();
                groups.push((row.clone(), accumulators));
                by_key.insert(key, groups.len() - 1);
                groups.len() - 1
            }
        };
        let (_, accumulators) = &mut groups[position];
        for (slot, accumulator) in slots.iter().zip(accumulators.iter_mut()) {
            let value = match &slot.argument {
                Some(argument) => argument.eval_output(&row, context)?,
                None => Value::Null,
            };
            accumulator.update(&value, &mut context.warnings)?;
        }
    }
    if groups.is_empty() && group_exprs.is_empty() {
        groups.push((
            vec![Value::Null; width],
            slots.iter().map(|s| s.aggregate.accumulator()).collect(),
        ));
    }
    let mut out = Vec::with_capacity(groups.len());
    for (mut row, accumulators) in groups {
        row.resize(width, Value::Null);
        for accumulator in &accumulators {
            row.push(accumulator.finish(context.arith.div_precision_increment)?);
        }
        out.push(row);
    }
    Ok(out)
}

/// The SQL type of a column declared as `data_type`.
fn sql_type_of(data_type: &ast::DataType) -> Result<SqlType> {
    use ast::DataType as D;
    let collation = Collation::Utf8mb4_0900AiCi;
    let int = |width, unsigned| SqlType::Int { width, unsigned };
    let length = |l: &Option<ast::CharacterLength>, default: u32| match l {
        Some(ast::CharacterLength::IntegerLength { length, .. }) => {
            u32::try_from(*length).unwrap_or(u32::MAX)
        }
        _ => default,
    };
    let fsp = |p: &Option<u64>| -> Result<u8> {
        let fsp = p.unwrap_or(0);
        u8::try_from(fsp).ok().filter(|f| *f <= 6).ok_or_else(|| {
            StatementError::Server(floe_server::SqlError {
                code: 1426,
                sql_state: *b"42000",
                message: format!("Too-big precision {fsp} specified. Maximum is 6."),
            })
        })
    };
    Ok(match data_type {
        D::TinyInt(_) | D::Bool | D::Boolean => int(IntWidth::Tiny, false),
        D::TinyIntUnsigned(_) => int(IntWidth::Tiny, true),
        D::SmallInt(_) => int(IntWidth::Small, false),
        D::SmallIntUnsigned(_) => int(IntWidth::Small, true),
        D::MediumInt(_) => int(IntWidth::Medium, false),
        D::MediumIntUnsigned(_) => int(IntWidth::Medium, true),
        D::Int(_) | D::Integer(_) => int(IntWidth::Int, false),
        D::IntUnsigned(_) | D::IntegerUnsigned(_) => int(IntWidth::Int, true),
        D::BigInt(_) => int(IntWidth::Big, false),
        D::BigIntUnsigned(_) => int(IntWidth::Big, true),
        D::Decimal(info) | D::Numeric(info) | D::Dec(info) => {
            let (p, s) = match info {
                ast::ExactNumberInfo::None => (10, 0),
                ast::ExactNumberInfo::Precision(p) => (*p, 0),
                ast::ExactNumberInfo::PrecisionAndScale(p, s) => {
                    (*p, u64::try_from(*s).unwrap_or(u64::MAX))
                }
            };
            SqlType::decimal(
                u32::try_from(p).unwrap_or(u32::MAX),
                u32::try_from(s).unwrap_or(u32::MAX),
            )?
        }
        D::Float(_) | D::Real => SqlType::Float,
        D::Double(_) | D::DoublePrecision => SqlType::Double,
        D::Char(l) | D::Character(l) => SqlType::Char {
            length_chars: length(l, 1),
            collation,
        },
        D::Varchar(l) | D::CharacterVarying(l) | D::CharVarying(l) | D::Nvarchar(l) => {
            if l.is_none() {
                return Err(parse_error("VARCHAR needs a length"));
            }
            SqlType::VarChar {
                length_chars: length(l, 0),
                collation,
            }
        }
        D::Text | D::TinyText | D::MediumText | D::LongText => SqlType::Text { collation },
        D::Binary(l) => SqlType::Binary {
            length_bytes: l.map_or(1, |l| u32::try_from(l).unwrap_or(u32::MAX)),
        },
        D::Varbinary(l) => SqlType::VarBinary {
            length_bytes: match l {
                Some(ast::BinaryLength::IntegerLength { length }) => {
                    u32::try_from(*length).unwrap_or(u32::MAX)
                }
                _ => return Err(parse_error("VARBINARY needs a length")),
            },
        },
        D::Blob(_) | D::TinyBlob | D::MediumBlob | D::LongBlob => SqlType::Blob,
        D::Date => SqlType::Date,
        D::Datetime(p) => SqlType::DateTime { fsp: fsp(p)? },
        D::Timestamp(p, _) => SqlType::Timestamp { fsp: fsp(p)? },
        D::Time(p, _) => SqlType::Time { fsp: fsp(p)? },
        other => return Err(StatementError::Unsupported(format!("column type {other}"))),
    })
}
