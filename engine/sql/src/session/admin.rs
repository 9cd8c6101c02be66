//! Statements about the session and the server rather than data:
//! SAVEPOINT / ROLLBACK TO / RELEASE SAVEPOINT, KILL, SHOW PROCESSLIST and
//! SHOW STATUS.
//!
//! Savepoints name points in the open transaction's undo (the storage
//! engine's `Savepoint`); ROLLBACK TO undoes the changes made since and
//! keeps the savepoint and the locks, as InnoDB does; savepoints set after
//! it are forgotten. Outside an explicit transaction (autocommit) a
//! SAVEPOINT is accepted and forgotten with the statement's transaction,
//! as in MySQL. KILL and SHOW PROCESSLIST go through the server's
//! connection registry; killing another user's connection needs SUPER.
//! SHOW STATUS reports the counters Floe keeps (MySQL has hundreds; tools
//! read the few below); Floe_statements_parsed counts this session's
//! parsed texts (prepared executions parse nothing). Handler_read_key,
//! _next, _prev and _rnd_next count the rows this session's SELECTs read
//! (point lookups, index ranges forward and backward, full clustered
//! scans); unlike MySQL, only SELECT reads count (not UPDATE/DELETE or
//! INSERT ... SELECT), a range's first row counts as _next/_prev (MySQL:
//! _key or _first/_last), and SHOW STATUS is per session (no GLOBAL).
//!
//! ANALYZE [NO_WRITE_TO_BINLOG | LOCAL] TABLE t [, t ...] takes each
//! table's index statistics again (`crate::stats`) and answers, as MySQL,
//! one status row per table (or an Error row and "Operation failed" for a
//! table that is not there). It needs the right to read the table (MySQL
//! asks for SELECT and INSERT).

use floe_server::{KillRequester, KillScope};

use super::*;
use crate::acl::Privileges;

/// Savepoints of the open transaction, oldest first.
pub(super) type Savepoints = Vec<(String, floe_storage::trx::Savepoint)>;

fn no_savepoint(name: &str) -> StatementError {
    StatementError::Server(floe_server::SqlError {
        code: 1305,
        sql_state: *b"42000",
        message: format!("SAVEPOINT {name} does not exist"),
    })
}

/// The tables of an `ANALYZE ... TABLE a, b` statement (sqlparser reads
/// one table only), or None for any other text.
pub(super) fn parse_analyze(sql: &str) -> Result<Option<Vec<ast::ObjectName>>> {
    use sqlparser::keywords::Keyword;
    let first = sql.split_whitespace().next().unwrap_or("");
    if !first.eq_ignore_ascii_case("analyze") {
        return Ok(None);
    }
    let parse = || -> std::result::Result<Vec<ast::ObjectName>, sqlparser::parser::ParserError> {
        let mut parser = Parser::new(&MySqlDialect {}).try_with_sql(sql)?;
        parser.expect_keyword(Keyword::ANALYZE)?;
        let _ = parser.parse_one_of_keywords(&[Keyword::NO_WRITE_TO_BINLOG, Keyword::LOCAL]);
        parser.expect_keyword(Keyword::TABLE)?;
        let names = parser.parse_comma_separated(|p| p.parse_object_name(false))?;
        while parser.consume_token(&sqlparser::tokenizer::Token::SemiColon) {}
        parser.expect_token(&sqlparser::tokenizer::Token::EOF)?;
        Ok(names)
    };
    parse().map(Some).map_err(parse_error)
}

impl SqlSession {
    /// ANALYZE TABLE (see the module comment).
    pub(super) fn analyze_tables(
        &mut self,
        names: &[ast::ObjectName],
        sink: &mut dyn ResultSink,
    ) -> Result<()> {
        let text = SqlType::varchar(512);
        let titles = ["Table", "Op", "Msg_type", "Msg_text"];
        let columns: Vec<Column> = titles
            .iter()
            .map(|t| column_definition(&text, true, t))
            .collect();
        let types = vec![text; titles.len()];
        let mut rows: Vec<[String; 4]> = Vec::new();
        for name in names {
            let (schema, table) = self.schema_and_table_unchecked(name)?;
            let full = format!("{schema}.{table}");
            let row = |kind: &str, message: String| {
                [
                    full.clone(),
                    "analyze".to_string(),
                    kind.to_string(),
                    message,
                ]
            };
            match self.lookup_in(schema, table) {
                Ok(meta) => match meta.analyze() {
                    Ok(_) => rows.push(row("status", "OK".into())),
                    Err(e) => {
                        rows.push(row("Error", e.to_string()));
                        rows.push(row("status", "Operation failed".into()));
                    }
                },
                Err(e @ StatementError::NoSuchTable { .. }) => {
                    rows.push(row("Error", e.to_string()));
                    rows.push(row("status", "Operation failed".into()));
                }
                Err(other) => return Err(other),
            }
        }
        send_columns(sink, &columns)?;
        for row in rows {
            emit_row(sink, row.iter().map(|v| Value::string(v)).collect(), &types)?;
        }
        sink.done(&Summary {
            status: self.status_flags(),
            ..Summary::default()
        })?;
        Ok(())
    }

    pub(super) fn savepoint(&mut self, name: &str) -> Result<()> {
        if !self.explicit && self.autocommit {
            return Ok(());
        }
        if self.trx.is_none() {
            self.begin(self.trx_read_only);
        }
        let Some(trx) = &self.trx else {
            return Ok(());
        };
        let point = trx.savepoint();
        // A savepoint of the same name moves (MySQL deletes the old one).
        self.savepoints
            .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.savepoints.push((name.to_string(), point));
        Ok(())
    }

    pub(super) fn rollback_to_savepoint(&mut self, name: &str) -> Result<()> {
        let position = self
            .savepoints
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
            .ok_or_else(|| no_savepoint(name))?;
        let point = self.savepoints[position].1;
        self.savepoints.truncate(position + 1);
        if let Some(trx) = &mut self.trx {
            trx.rollback_to(point).map_err(error::trx_error)?;
        }
        Ok(())
    }

    pub(super) fn release_savepoint(&mut self, name: &str) -> Result<()> {
        let position = self
            .savepoints
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
            .ok_or_else(|| no_savepoint(name))?;
        self.savepoints.truncate(position);
        Ok(())
    }

    pub(super) fn kill(&mut self, modifier: Option<ast::KillType>, id: u64) -> Result<()> {
        let processes = self.processes.clone().ok_or_else(|| {
            StatementError::Unsupported("KILL: this session is not served by a server".into())
        })?;
        let scope = match modifier {
            Some(ast::KillType::Query) => KillScope::Query,
            None | Some(ast::KillType::Connection) => KillScope::Connection,
            Some(other) => return Err(StatementError::Unsupported(format!("KILL {other}"))),
        };
        let target = u32::try_from(id).map_err(|_| {
            StatementError::Server(floe_server::SqlError {
                code: 1094,
                sql_state: *b"HY000",
                message: format!("Unknown thread id: {id}"),
            })
        })?;
        let may_kill_other_users = self.require_global(Privileges::SUPER).is_ok();
        processes.kill(
            KillRequester {
                connection_id: self.connection_id,
                user: &self.user,
                may_kill_other_users,
            },
            target,
            scope,
        )?;
        // KILL of one's own connection: MySQL answers with 1317 at once.
        self.interrupt.check()?;
        Ok(())
    }

    pub(super) fn show_processlist(&mut self, full: bool, sink: &mut dyn ResultSink) -> Result<()> {
        let processes = self.processes.clone().ok_or_else(|| {
            StatementError::Unsupported(
                "SHOW PROCESSLIST: this session is not served by a server".into(),
            )
        })?;
        let everyone = self.require_global(Privileges::PROCESS).is_ok();
        let string = |s: String| Value::string(&s);
        let (columns, types) = processlist_columns();
        send_columns(sink, &columns)?;
        for p in processes.list() {
            if !(everyone || p.user == self.user) {
                continue;
            }
            let info = p.info.map(|text| {
                if full {
                    text
                } else {
                    text.chars().take(100).collect()
                }
            });
            let values = vec![
                Value::UInt(u64::from(p.id)),
                string(p.user),
                string(p.host),
                p.database.map_or(Value::Null, string),
                string(p.command.to_string()),
                Value::UInt(p.time_s),
                string(String::new()),
                info.map_or(Value::Null, string),
            ];
            emit_row(sink, values, &types)?;
        }
        sink.done(&Summary {
            status: self.status_flags(),
            ..Summary::default()
        })?;
        Ok(())
    }

    pub(super) fn show_status(
        &mut self,
        filter: Option<&ast::ShowStatementFilter>,
        sink: &mut dyn ResultSink,
    ) -> Result<()> {
        let pattern = match filter {
            Some(ast::ShowStatementFilter::Like(p)) => Some(p.clone()),
            None => None,
            Some(other) => return Err(StatementError::Unsupported(other.to_string())),
        };
        let stats = self.db.trx_system().stats();
        let threads = self.processes.as_ref().map_or(1, |p| p.list().len());
        let figures: Vec<(&str, String)> = vec![
            ("Innodb_history_list_length", stats.history_len.to_string()),
            ("Floe_statements_parsed", self.statements_parsed.to_string()),
            ("Handler_read_key", self.handler_reads.key.to_string()),
            ("Handler_read_next", self.handler_reads.next.to_string()),
            ("Handler_read_prev", self.handler_reads.prev.to_string()),
            (
                "Handler_read_rnd_next",
                self.handler_reads.rnd_next.to_string(),
            ),
            ("Innodb_trx_active", stats.active.to_string()),
            ("Threads_connected", threads.to_string()),
            ("Uptime", self.db.uptime_s().to_string()),
        ];
        let rows = figures
            .into_iter()
            .filter(|(name, _)| pattern.as_deref().is_none_or(|p| like_ci(name, p)))
            .map(|(name, value)| vec![name.to_string(), value])
            .collect();
        self.text_rows(sink, VARIABLE_TITLES, rows)
    }
}

/// SHOW PROCESSLIST's columns and their types.
pub(super) fn processlist_columns() -> (Vec<Column>, Vec<SqlType>) {
    let text = SqlType::Text {
        collation: Collation::Utf8mb4_0900AiCi,
    };
    let number = SqlType::Int {
        width: IntWidth::Big,
        unsigned: true,
    };
    let names = [
        "Id", "User", "Host", "db", "Command", "Time", "State", "Info",
    ];
    let types: Vec<SqlType> = names
        .iter()
        .map(|n| match *n {
            "Id" | "Time" => number,
            _ => text,
        })
        .collect();
    let columns = names
        .iter()
        .zip(&types)
        .map(|(name, sql_type)| column_definition(sql_type, true, name))
        .collect();
    (columns, types)
}
