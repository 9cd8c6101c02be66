//! floe-server's `Backend` and `Session` over `Database` and `SqlSession`.
//!
//! Accounts are read from the dictionary's account tables (see
//! `session::users`).
//!
//! Prepared statements (the plan cache). COM_STMT_PREPARE parses the SQL
//! once and keeps the AST with its `?` placeholders; the places of the
//! `?` tokens in the text (line, column), found once at prepare, number
//! them. COM_STMT_EXECUTE runs the kept AST; binding a placeholder looks
//! its span up among those places and takes that parameter's value
//! (`BindEnv::parameter`): the SQL text is neither re-parsed nor
//! re-tokenised per execution.
//! Prepare also reports the result's column definitions, as MySQL does
//! (libmysqlclient reads a result set only when prepare announced one):
//! a query (joins, UNION, derived tables, subqueries, no FROM) is bound,
//! not run, with NULL for every parameter and `LIMIT ?` taken as
//! unknown; SHOW and EXPLAIN report the columns their own code sends (see
//! `SqlSession::result_columns`). What is kept is the AST, not a bound
//! plan: names resolve again at each execution, so DDL between
//! executions is seen (MySQL re-prepares then too).
//!
//! Knowingly different from MySQL: SHOW GRANTS and the account statements
//! (parsed apart from sqlparser) cannot be prepared.

use std::sync::Arc;

use floe_server::protocol::{StatementId, StatusFlags, StoredCredential, Value as Wire};
use floe_server::{
    Backend, Column, ListedField, Prepared, ResultSink, Session, SessionContext, SqlError,
};
use sqlparser::ast::Statement;
use sqlparser::dialect::MySqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

use super::{Database, SqlSession, StatementError};
use crate::temporal::{Date, DateTime, Time};
use crate::value::Value;
use crate::Collation;

/// The SQL engine as the server sees it.
pub struct FloeBackend {
    db: Arc<Database>,
}

impl FloeBackend {
    /// Accounts come from the dictionary (`mysql.user`, see `users`).
    pub fn new(db: Arc<Database>) -> Arc<Self> {
        Arc::new(Self { db })
    }
}

impl Backend for FloeBackend {
    fn credential(&self, user: &str, host: &str) -> Option<StoredCredential> {
        self.db.login(user, host).map(|(credential, _)| credential)
    }

    fn open_session(&self, context: SessionContext) -> Result<Box<dyn Session>, SqlError> {
        let mut session = SqlSession::new(
            Arc::clone(&self.db),
            context.connection_id,
            &context.user,
            context.interrupt.clone(),
        );
        // The account matched at login; gone since: no privileges at all.
        let host = self
            .db
            .login(&context.user, &context.host)
            .map_or_else(|| context.host.clone(), |(_, host)| host);
        session.set_account_host(&host);
        session.set_processes(context.processes.clone());
        if let Some(database) = context.database.as_deref().filter(|d| !d.is_empty()) {
            session
                .use_database(database)
                .map_err(|e| e.to_sql_error())?;
        }
        Ok(Box::new(ServerSession { session }))
    }
}

/// A prepared statement: its parsed form and where its placeholders are.
#[derive(Debug, Clone)]
pub struct PreparedSql {
    statement: Arc<Statement>,
    places: Arc<Vec<(u64, u64)>>,
}

struct ServerSession {
    session: SqlSession,
}

/// Where each `?` of `sql` starts (line, column), in text order: the
/// placeholders' numbering. The parser keeps each placeholder's span, so
/// binding finds a placeholder's number from its place.
fn placeholder_places(sql: &str) -> Result<Vec<(u64, u64)>, StatementError> {
    let tokens = Tokenizer::new(&MySqlDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| StatementError::Parse {
            message: e.to_string(),
        })?;
    Ok(tokens
        .iter()
        .filter(|t| matches!(&t.token, Token::Placeholder(p) if p == "?"))
        .map(|t| (t.span.start.line, t.span.start.column))
        .collect())
}

/// A parameter as an SQL value. Strings are taken in the connection's
/// character set (utf8mb4), as MySQL does for string parameters.
pub(super) fn parameter_value(value: &Wire<'_>) -> Value {
    let date = |d: &floe_server::protocol::value::Date| {
        Date::new(i64::from(d.year), u32::from(d.month), u32::from(d.day))
    };
    match value {
        Wire::Null => Value::Null,
        Wire::Int(v) => Value::Int(*v),
        Wire::UInt(v) => Value::UInt(*v),
        Wire::Float(v) => Value::Double(f64::from(*v)),
        Wire::Double(v) => Value::Double(*v),
        Wire::Decimal(text) => std::str::from_utf8(text)
            .ok()
            .and_then(Value::parse_number_literal)
            .unwrap_or_else(|| Value::Bytes(text.to_vec(), Collation::Utf8mb4_0900AiCi)),
        Wire::Bytes(bytes) => Value::Bytes(bytes.to_vec(), Collation::Utf8mb4_0900AiCi),
        Wire::Date(d) => date(d).map_or(Value::Null, Value::Date),
        Wire::DateTime(d) => date(&d.date)
            .and_then(|day| {
                let micros = ((i64::from(d.hour) * 60 + i64::from(d.minute)) * 60
                    + i64::from(d.second))
                    * 1_000_000
                    + i64::from(d.microsecond);
                DateTime::new(day, micros, if d.microsecond > 0 { 6 } else { 0 })
            })
            .map_or(Value::Null, Value::DateTime),
        Wire::Time(t) => {
            let hours = i64::from(t.days) * 24 + i64::from(t.hour);
            let micros = ((hours * 60 + i64::from(t.minute)) * 60 + i64::from(t.second))
                * 1_000_000
                + i64::from(t.microsecond);
            let micros = if t.negative { -micros } else { micros };
            Time::new(micros, if t.microsecond > 0 { 6 } else { 0 })
                .map_or(Value::Null, Value::Time)
        }
    }
}

impl Session for ServerSession {
    fn execute(
        &mut self,
        sql: &str,
        multi_statements: bool,
        results: &mut dyn ResultSink,
    ) -> Result<(), SqlError> {
        self.session
            .execute(sql, multi_statements, results)
            .map_err(|e| e.to_sql_error())
    }

    fn prepare(&mut self, statement_id: StatementId, sql: &str) -> Result<Prepared, SqlError> {
        self.session.prepare(statement_id, sql)
    }

    fn execute_prepared(
        &mut self,
        statement_id: StatementId,
        params: &[Wire<'_>],
        results: &mut dyn ResultSink,
    ) -> Result<(), SqlError> {
        self.session.execute_prepared(statement_id, params, results)
    }

    fn close_prepared(&mut self, statement_id: StatementId) {
        self.session.prepared.remove(&statement_id.0);
    }

    fn init_db(&mut self, database: &str) -> Result<(), SqlError> {
        self.session
            .use_database(database)
            .map_err(|e| e.to_sql_error())
    }

    fn field_list(&mut self, table: &str, _wildcard: &str) -> Result<Vec<ListedField>, SqlError> {
        let schema = self
            .session
            .current_database()
            .ok_or(StatementError::NoDatabaseSelected)
            .map_err(|e| e.to_sql_error())?
            .to_string();
        self.session.refresh_grants();
        let meta = self
            .session
            .lookup_in(schema, crate::session::normalize_name(table))
            .map_err(|e| e.to_sql_error())?;
        Ok(meta
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.hidden)
            .map(|(i, c)| ListedField {
                column: self.session.table_column(&meta, &meta.name, i),
                default_value: match &c.default {
                    crate::catalog::ColumnDefault::Value(v) => v.to_text(),
                    _ => None,
                },
            })
            .collect())
    }

    fn reset_connection(&mut self) -> Result<(), SqlError> {
        self.session.reset().map_err(|e| e.to_sql_error())
    }

    fn status(&self) -> StatusFlags {
        self.session.status_flags()
    }

    fn database(&self) -> Option<&str> {
        self.session.current_database()
    }

    fn may_kill_other_users(&self) -> bool {
        self.session
            .current_grants()
            .global
            .contains(crate::acl::Privileges::SUPER)
    }
}

impl SqlSession {
    /// COM_STMT_PREPARE: parses `sql` once and keeps it under `statement_id`.
    pub fn prepare(&mut self, statement_id: StatementId, sql: &str) -> Result<Prepared, SqlError> {
        self.statements_parsed += 1;
        let mut statements = super::parse(sql).map_err(|e| e.to_sql_error())?;
        let (Some(statement), true) = (statements.pop(), statements.is_empty()) else {
            return Err(StatementError::Parse {
                message: "a prepared statement is one statement".into(),
            }
            .to_sql_error());
        };
        let places = Arc::new(placeholder_places(sql).map_err(|e| e.to_sql_error())?);
        let params = places.len();
        if params > usize::from(u16::MAX) {
            return Err(SqlError {
                code: 1390, // ER_PS_MANY_PARAM
                sql_state: *b"HY000",
                message: "Prepared statement contains too many placeholders".into(),
            });
        }
        let columns = self
            .describe_prepared(&statement, &places)
            .map_err(|e| e.to_sql_error())?;
        self.prepared.insert(
            statement_id.0,
            PreparedSql {
                statement: Arc::new(statement),
                places,
            },
        );
        Ok(Prepared {
            params: vec![Column::placeholder(); params],
            columns,
        })
    }

    /// COM_STMT_EXECUTE: runs the kept statement with `params`.
    pub fn execute_prepared(
        &mut self,
        statement_id: StatementId,
        params: &[Wire<'_>],
        results: &mut dyn ResultSink,
    ) -> Result<(), SqlError> {
        let Some(prepared) = self.prepared.get(&statement_id.0) else {
            return Err(SqlError::new(
                floe_server::protocol::codes::ER_UNKNOWN_STMT_HANDLER,
                "Unknown prepared statement handler",
            ));
        };
        if params.len() != prepared.places.len() {
            return Err(SqlError::new(
                floe_server::protocol::codes::ER_WRONG_ARGUMENTS,
                "Incorrect arguments to mysqld_stmt_execute",
            ));
        }
        let statement = Arc::clone(&prepared.statement);
        self.parameter_places = Arc::clone(&prepared.places);
        self.parameters = params.iter().map(parameter_value).collect();
        let outcome = self.run(&statement, results);
        self.parameters.clear();
        outcome.map_err(|e| e.to_sql_error())
    }

    /// The result columns `statement` will have, worked out without running
    /// it (every parameter NULL): queries are bound, SHOW and EXPLAIN give
    /// the columns their code sends (`SqlSession::result_columns`); empty
    /// for statements without a result set.
    fn describe_prepared(
        &mut self,
        statement: &Statement,
        places: &Arc<Vec<(u64, u64)>>,
    ) -> super::Result<Vec<Column>> {
        self.parameter_places = Arc::clone(places);
        self.parameters = vec![Value::Null; places.len()];
        self.describing = true;
        let columns = self.result_columns(statement);
        self.describing = false;
        self.parameters.clear();
        Ok(columns?.unwrap_or_default())
    }
}
