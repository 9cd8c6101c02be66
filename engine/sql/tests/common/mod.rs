//! What the MariaDB comparison tests share: the product binder
//! (`floe_sql::bind::Binder`) over a fixed session environment, and a
//! fixed clock. No binder of their own: they test the engine's.
#![allow(dead_code)] // each test target uses a different part

use floe_blk::DirectIo;
use floe_server::protocol::{ColumnDefinition, Value as Wire};
use floe_server::{ResultSink, SqlError, Summary};
use floe_sql::bind::{AggregateSlot, BindEnv, Binder, Scope, ScopeColumn};
use floe_sql::session::{Database, StatementError};
use floe_sql::{EvalContext, Expr, SqlType, Value};
use floe_storage::fil::DirStore;
use floe_storage::srv::{Engine, EngineConfig};
use floe_storage::trx::TrxConfig;
use floe_storage::util::clock::SystemClock;
use sqlparser::ast;
use std::sync::Arc;

/// A session environment with no variables set, user root, connection 1.
pub struct TestEnv;

impl BindEnv for TestEnv {
    fn system_variable(&self, name: &str) -> Result<Value, StatementError> {
        Err(StatementError::UnknownVariable(name.to_string()))
    }
    fn user_variable(&self, _name: &str) -> Value {
        Value::Null
    }
    fn database(&self) -> Option<String> {
        None
    }
    fn user(&self) -> String {
        "root".into()
    }
    fn connection_id(&self) -> u32 {
        1
    }
    fn last_insert_id(&self) -> u64 {
        0
    }
}

/// Binds a constant expression (no FROM) with the engine's binder.
pub fn bind(expr: &ast::Expr) -> Result<Expr, StatementError> {
    Binder::for_table(&TestEnv, None, "", "field list").bind(expr)
}

/// Binds `expr` over a one-column table `t(x)` of `column_type`, with
/// aggregates allowed: the expression and its aggregate slots (whose values
/// follow `x` in the row, as the executor lays it out).
pub fn bind_aggregate(
    expr: &ast::Expr,
    column_type: SqlType,
) -> Result<(Expr, Vec<AggregateSlot>), StatementError> {
    let mut scope = Scope::default();
    scope.push(
        "t",
        "",
        vec![ScopeColumn {
            name: "x".into(),
            sql_type: column_type,
            nullable: true,
            hidden: false,
        }],
    );
    let mut binder = Binder {
        env: &TestEnv,
        scope,
        aggregates: Some(Vec::new()),
        context: "field list",
        outer_references: Default::default(),
    };
    let bound = binder.bind(expr)?;
    Ok((bound, binder.aggregates.take().unwrap_or_default()))
}

/// The context every test evaluation uses: a fixed clock, default settings.
pub fn fixed_context() -> EvalContext {
    let now =
        floe_sql::temporal::Date::new(2024, 6, 1).map(floe_sql::temporal::DateTime::from_date);
    EvalContext::new(now.unwrap_or_else(|| panic!("2024-06-01 is a date")))
}

/// A result sink that keeps what a statement sent: column count, rows as
/// comma-joined text (NULL as `NULL`), affected rows and info per OK.
#[derive(Default)]
pub struct Collect {
    pub columns: usize,
    pub rows: Vec<String>,
    pub affected: Vec<u64>,
    pub info: Vec<String>,
}

impl ResultSink for Collect {
    fn columns(&mut self, columns: &[ColumnDefinition<'_>]) -> Result<(), SqlError> {
        self.columns = columns.len();
        Ok(())
    }
    fn row(&mut self, values: &[Wire<'_>]) -> Result<(), SqlError> {
        let text: Vec<String> = values
            .iter()
            .map(|v| match v {
                Wire::Null => "NULL".into(),
                Wire::Int(i) => i.to_string(),
                Wire::UInt(u) => u.to_string(),
                Wire::Bytes(b) | Wire::Decimal(b) => String::from_utf8_lossy(b).into_owned(),
                // Dates as MySQL's text protocol writes them.
                Wire::Date(d) => format!("{:04}-{:02}-{:02}", d.year, d.month, d.day),
                Wire::DateTime(t) => {
                    let fraction = if t.microsecond > 0 {
                        format!(".{:06}", t.microsecond)
                    } else {
                        String::new()
                    };
                    format!(
                        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}{fraction}",
                        t.date.year, t.date.month, t.date.day, t.hour, t.minute, t.second
                    )
                }
                other => format!("{other:?}"),
            })
            .collect();
        self.rows.push(text.join(","));
        Ok(())
    }
    fn done(&mut self, summary: &Summary<'_>) -> Result<(), SqlError> {
        self.affected.push(summary.affected_rows);
        self.info.push(summary.info.to_string());
        Ok(())
    }
}

/// A database on a fresh (`create`) or existing directory store of 64 MiB.
pub fn database(dir: &std::path::Path, create: bool) -> Arc<Database> {
    let store = Arc::new(DirStore::open(dir, DirectIo::Prefer).expect("store"));
    let config = EngineConfig {
        data_file_bytes: 64 << 20,
        ..EngineConfig::default()
    };
    let clock = Arc::new(SystemClock::new());
    let engine = if create {
        Engine::create(store, config, clock).expect("engine created")
    } else {
        Engine::open(store, config, clock).expect("engine opens")
    };
    Database::open(engine, TrxConfig::default()).expect("database")
}
