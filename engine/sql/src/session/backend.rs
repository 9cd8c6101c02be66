//! floe-server's `Backend` and `Session` over `Database` and `SqlSession`.
//!
//! Accounts are read from the dictionary's account tables (see
//! `session::users`). Prepared
//! statements keep their SQL and are re-parsed on each execution with the
//! parameters written in as literals (a plan cache comes later); their
//! result columns are reported by the execution, not at prepare time.

use std::sync::Arc;

use floe_server::protocol::{StatementId, StatusFlags, StoredCredential, Value as Wire};
use floe_server::{
    Backend, Column, ListedField, Prepared, ResultSink, Session, SessionContext, SqlError,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

use super::{Database, SqlSession, StatementError};

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

/// A prepared statement: its text and how many `?` it has.
#[derive(Debug, Clone)]
pub struct PreparedSql {
    tokens: Vec<Token>,
    params: usize,
}

struct ServerSession {
    session: SqlSession,
}

/// A parameter as SQL literal text.
fn literal(value: &Wire<'_>) -> String {
    let quote = |bytes: &[u8]| {
        let mut out = String::from("'");
        for ch in String::from_utf8_lossy(bytes).chars() {
            match ch {
                '\'' => out.push_str("''"),
                '\\' => out.push_str("\\\\"),
                '\0' => out.push_str("\\0"),
                other => out.push(other),
            }
        }
        out.push('\'');
        out
    };
    match value {
        Wire::Null => "NULL".into(),
        Wire::Int(v) => v.to_string(),
        Wire::UInt(v) => v.to_string(),
        Wire::Float(v) => format!("{:e}", f64::from(*v)),
        Wire::Double(v) => format!("{v:e}"),
        Wire::Decimal(text) => String::from_utf8_lossy(text).into_owned(),
        Wire::Bytes(bytes) => quote(bytes),
        Wire::Date(d) => format!("'{:04}-{:02}-{:02}'", d.year, d.month, d.day),
        Wire::DateTime(d) => format!(
            "'{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}'",
            d.date.year, d.date.month, d.date.day, d.hour, d.minute, d.second, d.microsecond
        ),
        Wire::Time(t) => format!(
            "'{}{}:{:02}:{:02}.{:06}'",
            if t.negative { "-" } else { "" },
            u64::from(t.days) * 24 + u64::from(t.hour),
            t.minute,
            t.second,
            t.microsecond
        ),
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
        let statements = super::parse(sql).map_err(|e| e.to_sql_error())?;
        if statements.len() != 1 {
            return Err(StatementError::Parse {
                message: "a prepared statement is one statement".into(),
            }
            .to_sql_error());
        }
        let tokens = Tokenizer::new(&MySqlDialect {}, sql)
            .tokenize()
            .map_err(|e| {
                StatementError::Parse {
                    message: e.to_string(),
                }
                .to_sql_error()
            })?;
        let params = tokens
            .iter()
            .filter(|t| matches!(t, Token::Placeholder(p) if p == "?"))
            .count();
        self.session
            .prepared
            .insert(statement_id.0, PreparedSql { tokens, params });
        Ok(Prepared {
            params: vec![Column::placeholder(); params],
            columns: Vec::new(),
        })
    }

    fn execute_prepared(
        &mut self,
        statement_id: StatementId,
        params: &[Wire<'_>],
        results: &mut dyn ResultSink,
    ) -> Result<(), SqlError> {
        let Some(prepared) = self.session.prepared.get(&statement_id.0) else {
            return Err(SqlError::new(
                floe_server::protocol::codes::ER_UNKNOWN_STMT_HANDLER,
                "Unknown prepared statement handler",
            ));
        };
        if params.len() != prepared.params {
            return Err(SqlError::new(
                floe_server::protocol::codes::ER_WRONG_ARGUMENTS,
                "Incorrect arguments to mysqld_stmt_execute",
            ));
        }
        let mut next = params.iter();
        let mut sql = String::new();
        for token in &prepared.tokens {
            match token {
                Token::Placeholder(p) if p == "?" => {
                    sql.push_str(&next.next().map_or_else(|| "NULL".into(), literal))
                }
                other => sql.push_str(&other.to_string()),
            }
        }
        self.session
            .execute(&sql, false, results)
            .map_err(|e| e.to_sql_error())
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
        self.session
            .authorize_read(&schema, &crate::session::normalize_name(table))
            .map_err(|e| e.to_sql_error())?;
        let meta = self.session.db.table(&schema, table).ok_or_else(|| {
            StatementError::NoSuchTable {
                schema: schema.clone(),
                table: table.to_string(),
            }
            .to_sql_error()
        })?;
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
