//! What the MariaDB comparison tests share: the product binder
//! (`floe_sql::bind::Binder`) over a fixed session environment, and a
//! fixed clock. No binder of their own: they test the engine's.
#![allow(dead_code)] // each test target uses a different part

use floe_sql::bind::{AggregateSlot, BindEnv, Binder, Scope, ScopeColumn};
use floe_sql::session::StatementError;
use floe_sql::{EvalContext, Expr, SqlType, Value};
use sqlparser::ast;

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
