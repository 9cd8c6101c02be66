//! The binder: sqlparser's expression AST to `Expr`, with column names
//! resolved against a `Scope` (MySQL's rules: case-insensitive column
//! names, `table.column` and `schema.table.column` qualifiers, an
//! unqualified name in two tables is ambiguous, 1052), session variables
//! and session functions (DATABASE(), CONNECTION_ID(), ...) read once as
//! literals, aggregate calls collected into slots that the executor fills
//! per group, and subqueries bound by the session (`BindEnv::bind_subquery`)
//! with the enclosing scope visible: a name not found among a subquery's
//! own tables resolves to an outer query's (a correlated reference, noted
//! in `outer_references`).

use sqlparser::ast::{self, BinaryOperator, DataType, DateTimeField, UnaryOperator};

use crate::catalog::TableMeta;
use crate::expr::SubqueryKind;
use crate::session::StatementError;
use crate::temporal::{parse_datetime, parse_time};
use crate::{
    Aggregate, AggregateFunction, ArithOp, CastTarget, CompareOp, Expr, Function, IntervalUnit,
    LogicOp, TrimSide, Value,
};

/// What the binder asks the session for.
pub trait BindEnv {
    /// The value of a `?` (found by its place in the text) of the prepared
    /// statement being executed.
    fn parameter(&self, placeholder: &ast::ValueWithSpan) -> Result<Value, StatementError> {
        Err(StatementError::Parse {
            message: format!("'{}' outside a prepared statement", placeholder.value),
        })
    }
    /// `@@name` (lower case, scope removed).
    fn system_variable(&self, name: &str) -> Result<Value, StatementError>;
    fn user_variable(&self, name: &str) -> Value;
    fn database(&self) -> Option<String>;
    fn user(&self) -> String;
    fn connection_id(&self) -> u32;
    fn last_insert_id(&self) -> u64;
    /// The session time zone's offset from UTC in seconds: TIMESTAMP
    /// columns, stored in UTC, are read in it.
    fn time_zone_offset_s(&self) -> i64 {
        0
    }
    /// `@@global.name` (lower case, scope removed).
    fn global_variable(&self, name: &str) -> Result<Value, StatementError> {
        self.system_variable(name)
    }
    /// Binds a subquery nested in `outer` (IN, EXISTS, scalar).
    fn bind_subquery(
        &self,
        query: &ast::Query,
        outer: &Scope,
    ) -> Result<std::sync::Arc<dyn crate::expr::SubqueryPlan>, StatementError> {
        let _ = outer;
        Err(unsupported(format!("subquery {query}")))
    }
}

/// One aggregate call found while binding: where it reads its argument.
#[derive(Debug, Clone)]
pub struct AggregateSlot {
    pub aggregate: Aggregate,
    pub argument: Option<Expr>,
}

/// One column a name can resolve to.
#[derive(Debug, Clone)]
pub struct ScopeColumn {
    pub name: String,
    pub sql_type: crate::SqlType,
    pub nullable: bool,
    /// Not visible to names or `*` (the hidden row id).
    pub hidden: bool,
}

/// One table (base table, view or derived table) of a FROM clause, at
/// `offset` in the row the executor builds.
#[derive(Debug, Clone)]
pub struct ScopeTable {
    /// The name the table is known by in the statement (alias or name).
    pub alias: String,
    pub schema: String,
    pub columns: Vec<ScopeColumn>,
    pub offset: usize,
    /// 0 for the outermost query; a subquery's tables are one level deeper.
    pub level: usize,
}

/// The tables names resolve against: the statement's own (deepest level)
/// first, then those of the queries it is nested in (correlated
/// references). A row holds the outer queries' columns first, so an index
/// below `outer_width` is an outer reference.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub tables: Vec<ScopeTable>,
    pub outer_width: usize,
    pub level: usize,
    /// Columns merged by JOIN ... USING: an unqualified name resolves to
    /// the first table that has it instead of being ambiguous.
    pub merged: Vec<String>,
}

impl Scope {
    /// A scope of one base table at offset 0.
    pub fn of_table(table: &TableMeta, alias: &str) -> Scope {
        let mut scope = Scope::default();
        scope.push(alias, &table.schema, table_columns(table));
        scope
    }

    /// The scope of a subquery nested in `outer`: outer names stay visible.
    pub fn nested(outer: &Scope) -> Scope {
        Scope {
            tables: outer.tables.clone(),
            outer_width: outer.width(),
            level: outer.level + 1,
            merged: Vec::new(),
        }
    }

    /// Row width: the outer columns and every table of this level.
    pub fn width(&self) -> usize {
        self.tables
            .iter()
            .map(|t| t.offset + t.columns.len())
            .max()
            .unwrap_or(0)
            .max(self.outer_width)
    }

    /// Adds a table of this level after the others; returns its offset.
    pub fn push(&mut self, alias: &str, schema: &str, columns: Vec<ScopeColumn>) -> usize {
        let offset = self.width();
        self.tables.push(ScopeTable {
            alias: alias.to_string(),
            schema: schema.to_string(),
            columns,
            offset,
            level: self.level,
        });
        offset
    }

    /// This level's tables.
    pub fn own_tables(&self) -> impl Iterator<Item = &ScopeTable> {
        self.tables.iter().filter(move |t| t.level == self.level)
    }
}

/// A base table's columns as scope columns.
pub fn table_columns(table: &TableMeta) -> Vec<ScopeColumn> {
    table
        .columns
        .iter()
        .map(|c| ScopeColumn {
            name: c.name.clone(),
            sql_type: c.sql_type,
            nullable: c.nullable,
            hidden: c.hidden,
        })
        .collect()
}

/// Binds expressions over the rows of the tables in a scope.
pub struct Binder<'a> {
    pub env: &'a dyn BindEnv,
    pub scope: Scope,
    /// Where aggregate calls go, when they are allowed; their values
    /// follow the scope's columns in the row the executor builds.
    pub aggregates: Option<Vec<AggregateSlot>>,
    /// The clause being bound, for "Unknown column 'x' in 'where clause'".
    pub context: &'static str,
    /// Outer columns read (a correlated subquery).
    pub outer_references: std::cell::RefCell<std::collections::BTreeSet<usize>>,
}

impl<'a> Binder<'a> {
    /// A binder over one table (or none).
    pub fn for_table(
        env: &'a dyn BindEnv,
        table: Option<&TableMeta>,
        alias: &str,
        context: &'static str,
    ) -> Binder<'a> {
        Binder {
            env,
            scope: table.map_or_else(Scope::default, |t| Scope::of_table(t, alias)),
            aggregates: None,
            context,
            outer_references: Default::default(),
        }
    }

    fn note_outer(&self, index: usize) {
        if index < self.scope.outer_width {
            self.outer_references.borrow_mut().insert(index);
        }
    }

    fn subquery(
        &mut self,
        query: &ast::Query,
    ) -> Result<std::sync::Arc<dyn crate::expr::SubqueryPlan>, StatementError> {
        let plan = self.env.bind_subquery(query, &self.scope)?;
        for &index in plan.outer_references() {
            self.note_outer(index);
        }
        Ok(plan)
    }
}

fn unsupported(what: impl std::fmt::Display) -> StatementError {
    StatementError::Unsupported(what.to_string())
}

fn bind_value(value: &ast::Value) -> Result<Value, StatementError> {
    Ok(match value {
        ast::Value::Number(text, _) => {
            Value::parse_number_literal(text).ok_or_else(|| StatementError::Parse {
                message: format!("bad number '{text}'"),
            })?
        }
        ast::Value::SingleQuotedString(text) | ast::Value::DoubleQuotedString(text) => {
            Value::string(text)
        }
        ast::Value::HexStringLiteral(hex) => {
            let digits = if hex.len() % 2 == 1 {
                format!("0{hex}")
            } else {
                hex.clone()
            };
            let bytes = (0..digits.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(digits.get(i..i + 2).unwrap_or("zz"), 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| StatementError::Parse {
                    message: format!("bad hex literal X'{hex}'"),
                })?;
            Value::Bytes(bytes, crate::Collation::Binary)
        }
        ast::Value::Null => Value::Null,
        ast::Value::Boolean(truth) => Value::Int(i64::from(*truth)),
        ast::Value::Placeholder(_) => {
            return Err(StatementError::Parse {
                message: "'?' outside a prepared statement".into(),
            })
        }
        other => return Err(unsupported(format!("literal {other}"))),
    })
}

fn literal_text(expr: &ast::Expr) -> Result<String, StatementError> {
    match expr {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(text) => Ok(text.clone()),
            other => Err(unsupported(other)),
        },
        other => Err(unsupported(other)),
    }
}

fn unit_of(field: &DateTimeField) -> Result<IntervalUnit, StatementError> {
    Ok(match field {
        DateTimeField::Microsecond | DateTimeField::Microseconds => IntervalUnit::Microsecond,
        DateTimeField::Second | DateTimeField::Seconds => IntervalUnit::Second,
        DateTimeField::Minute | DateTimeField::Minutes => IntervalUnit::Minute,
        DateTimeField::Hour | DateTimeField::Hours => IntervalUnit::Hour,
        DateTimeField::Day | DateTimeField::Days => IntervalUnit::Day,
        DateTimeField::Week(_) | DateTimeField::Weeks => IntervalUnit::Week,
        DateTimeField::Month | DateTimeField::Months => IntervalUnit::Month,
        DateTimeField::Quarter => IntervalUnit::Quarter,
        DateTimeField::Year | DateTimeField::Years => IntervalUnit::Year,
        other => return Err(unsupported(format!("interval unit {other}"))),
    })
}

fn fsp_of(precision: &Option<u64>) -> u8 {
    precision.and_then(|p| u8::try_from(p).ok()).unwrap_or(0)
}

fn cast_target(data_type: &DataType) -> Result<CastTarget, StatementError> {
    Ok(match data_type {
        DataType::Signed | DataType::SignedInteger => CastTarget::Signed,
        DataType::Unsigned | DataType::UnsignedInteger => CastTarget::Unsigned,
        DataType::Decimal(info) | DataType::Numeric(info) => {
            let (precision, scale) = match info {
                ast::ExactNumberInfo::None => (10, 0),
                ast::ExactNumberInfo::Precision(p) => (*p, 0),
                ast::ExactNumberInfo::PrecisionAndScale(p, s) => {
                    (*p, u64::try_from(*s).map_err(|_| unsupported(s))?)
                }
            };
            CastTarget::Decimal {
                precision: u8::try_from(precision).map_err(|_| unsupported(precision))?,
                scale: u8::try_from(scale).map_err(|_| unsupported(scale))?,
            }
        }
        DataType::Double(_) | DataType::DoublePrecision | DataType::Real => CastTarget::Double,
        DataType::Char(length) | DataType::Character(length) => CastTarget::Char {
            length_chars: match length {
                Some(ast::CharacterLength::IntegerLength { length, .. }) => {
                    u32::try_from(*length).ok()
                }
                _ => None,
            },
        },
        DataType::Binary(length) => CastTarget::Binary {
            length_bytes: length.and_then(|l| u32::try_from(l).ok()),
        },
        DataType::Date => CastTarget::Date,
        DataType::Datetime(precision) | DataType::Timestamp(precision, _) => CastTarget::DateTime {
            fsp: fsp_of(precision),
        },
        DataType::Time(precision, _) => CastTarget::Time {
            fsp: fsp_of(precision),
        },
        other => return Err(unsupported(format!("CAST AS {other}"))),
    })
}

/// A column read in the session time zone: a TIMESTAMP column (stored in
/// UTC) reads as CONVERT_TZ(column, '+00:00', zone) when the zone is not
/// UTC; every other column, and every column in UTC, reads as itself.
pub fn zoned_column(
    index: usize,
    sql_type: crate::SqlType,
    nullable: bool,
    time_zone_offset_s: i64,
) -> Expr {
    let column = Expr::column(index, sql_type, nullable);
    if time_zone_offset_s == 0 || !matches!(sql_type, crate::SqlType::Timestamp { .. }) {
        return column;
    }
    let minutes = time_zone_offset_s.abs() / 60;
    let sign = if time_zone_offset_s < 0 { '-' } else { '+' };
    let zone = format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60);
    Expr::Function {
        function: Function::ConvertTz,
        args: vec![
            column,
            Expr::Literal(Value::string("+00:00")),
            Expr::Literal(Value::string(&zone)),
        ],
    }
}

fn function_of(name: &str) -> Option<Function> {
    Some(match name {
        "abs" => Function::Abs,
        "round" => Function::Round,
        "truncate" => Function::Truncate,
        "mod" => Function::Mod,
        "length" | "octet_length" => Function::Length,
        "char_length" | "character_length" => Function::CharLength,
        "concat" => Function::Concat,
        "concat_ws" => Function::ConcatWs,
        "upper" | "ucase" => Function::Upper,
        "lower" | "lcase" => Function::Lower,
        "ltrim" => Function::LTrim,
        "rtrim" => Function::RTrim,
        "replace" => Function::Replace,
        "left" => Function::Left,
        "right" => Function::Right,
        "locate" => Function::Locate,
        "instr" => Function::Instr,
        "now" | "current_timestamp" | "localtime" | "localtimestamp" => Function::Now,
        "curdate" | "current_date" => Function::CurDate,
        "curtime" | "current_time" => Function::CurTime,
        "sysdate" => Function::SysDate,
        "unix_timestamp" => Function::UnixTimestamp,
        "from_unixtime" => Function::FromUnixtime,
        "convert_tz" => Function::ConvertTz,
        "datediff" => Function::DateDiff,
        "year" => Function::Year,
        "month" => Function::Month,
        "day" | "dayofmonth" => Function::Day,
        "coalesce" => Function::Coalesce,
        "ifnull" => Function::IfNull,
        "nullif" => Function::NullIf,
        "if" => Function::If,
        "substring" | "substr" | "mid" => Function::Substring,
        "ceil" | "ceiling" => Function::Ceil,
        "floor" => Function::Floor,
        other => return crate::builtins::Builtin::lookup(other).map(Function::Builtin),
    })
}

fn aggregate_of(name: &str) -> Option<AggregateFunction> {
    Some(match name {
        "count" => AggregateFunction::Count,
        "sum" => AggregateFunction::Sum,
        "avg" => AggregateFunction::Avg,
        "min" => AggregateFunction::Min,
        "max" => AggregateFunction::Max,
        _ => return None,
    })
}

/// Whether `expr` calls an aggregate function anywhere (not in subqueries).
pub fn has_aggregate(expr: &ast::Expr) -> bool {
    let text = expr.to_string().to_ascii_lowercase();
    ["count(", "sum(", "avg(", "min(", "max("]
        .iter()
        .any(|name| text.contains(name))
}

impl Binder<'_> {
    fn column(&self, parts: &[&ast::Ident]) -> Result<Expr, StatementError> {
        let unknown = || StatementError::UnknownColumn {
            column: parts
                .iter()
                .map(|p| p.value.as_str())
                .collect::<Vec<_>>()
                .join("."),
            context: self.context.to_string(),
        };
        let (qualifier, name) = match parts {
            [name] => (None, name),
            [table_name, name] => (Some((None, *table_name)), name),
            [schema, table_name, name] => (Some((Some(*schema), *table_name)), name),
            _ => return Err(unknown()),
        };
        // Deepest level first: a subquery's own tables hide outer ones.
        for level in (0..=self.scope.level).rev() {
            let mut found: Option<Expr> = None;
            for table in self.scope.tables.iter().filter(|t| t.level == level) {
                if let Some((schema, table_name)) = qualifier {
                    if !table_name.value.eq_ignore_ascii_case(&table.alias) {
                        continue;
                    }
                    if schema.is_some_and(|s| !s.value.eq_ignore_ascii_case(&table.schema)) {
                        continue;
                    }
                }
                let Some((index, column)) = table
                    .columns
                    .iter()
                    .enumerate()
                    .find(|(_, c)| !c.hidden && c.name.eq_ignore_ascii_case(&name.value))
                else {
                    continue;
                };
                if found.is_some() {
                    if qualifier.is_none()
                        && self
                            .scope
                            .merged
                            .iter()
                            .any(|m| m.eq_ignore_ascii_case(&name.value))
                    {
                        continue;
                    }
                    return Err(StatementError::AmbiguousColumn {
                        column: name.value.clone(),
                        context: self.context.to_string(),
                    });
                }
                self.note_outer(table.offset + index);
                found = Some(zoned_column(
                    table.offset + index,
                    column.sql_type,
                    column.nullable,
                    self.env.time_zone_offset_s(),
                ));
            }
            if let Some(expr) = found {
                return Ok(expr);
            }
        }
        Err(unknown())
    }

    fn variable(&self, name: &str) -> Result<Expr, StatementError> {
        if let Some(system) = name.strip_prefix("@@") {
            let system = system.to_ascii_lowercase();
            if let Some(global) = system.strip_prefix("global.") {
                return Ok(Expr::Literal(self.env.global_variable(global)?));
            }
            let bare = system
                .strip_prefix("session.")
                .or_else(|| system.strip_prefix("local."))
                .unwrap_or(&system);
            return Ok(Expr::Literal(self.env.system_variable(bare)?));
        }
        let user = name.strip_prefix('@').unwrap_or(name);
        Ok(Expr::Literal(
            self.env.user_variable(&user.to_ascii_lowercase()),
        ))
    }

    fn bind_interval(&mut self, expr: &ast::Expr) -> Result<(Expr, IntervalUnit), StatementError> {
        match expr {
            ast::Expr::Interval(interval) => {
                let field = interval
                    .leading_field
                    .as_ref()
                    .ok_or_else(|| unsupported("INTERVAL without a unit"))?;
                Ok((self.bind(&interval.value)?, unit_of(field)?))
            }
            other => Err(unsupported(other)),
        }
    }

    fn boxed(&mut self, expr: &ast::Expr) -> Result<Box<Expr>, StatementError> {
        self.bind(expr).map(Box::new)
    }

    fn session_function(&self, name: &str) -> Option<Value> {
        Some(match name {
            "database" | "schema" => match self.env.database() {
                Some(db) => Value::string(&db),
                None => Value::Null,
            },
            "user" | "current_user" | "session_user" | "system_user" => {
                Value::string(&format!("{}@%", self.env.user()))
            }
            "connection_id" => Value::UInt(u64::from(self.env.connection_id())),
            "last_insert_id" => Value::UInt(self.env.last_insert_id()),
            "version" => Value::string(super_version()),
            _ => return None,
        })
    }

    fn bind_function(&mut self, function: &ast::Function) -> Result<Expr, StatementError> {
        let name = function.name.to_string().to_ascii_lowercase();
        let mut star = false;
        let mut distinct = false;
        let args: Vec<&ast::Expr> = match &function.args {
            ast::FunctionArguments::None => Vec::new(),
            ast::FunctionArguments::List(list) => {
                distinct = list.duplicate_treatment == Some(ast::DuplicateTreatment::Distinct);
                let mut args = Vec::new();
                for arg in &list.args {
                    match arg {
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => args.push(e),
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Wildcard) => star = true,
                        other => return Err(unsupported(other)),
                    }
                }
                args
            }
            other => return Err(unsupported(other)),
        };
        if args.is_empty() && !star {
            if let Some(value) = self.session_function(&name) {
                return Ok(Expr::Literal(value));
            }
        }
        if matches!(
            name.as_str(),
            "date_add" | "date_sub" | "adddate" | "subdate"
        ) {
            let [date, interval] = args.as_slice() else {
                return Err(StatementError::Expr(crate::Error::ArgumentCount {
                    function: "DATE_ADD",
                }));
            };
            let (interval, unit) = self.bind_interval(interval)?;
            return Ok(Expr::DateArith {
                date: self.boxed(date)?,
                interval: Box::new(interval),
                unit,
                subtract: name.ends_with("sub"),
            });
        }
        if let Some(aggregate) = aggregate_of(&name) {
            return self.bind_aggregate(aggregate, star, distinct, &args, function);
        }
        let function = function_of(&name).ok_or_else(|| StatementError::Parse {
            message: format!("FUNCTION {name} does not exist"),
        })?;
        let args = args
            .into_iter()
            .map(|a| self.bind(a))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Expr::function(function, args)?)
    }

    fn bind_aggregate(
        &mut self,
        function: AggregateFunction,
        star: bool,
        distinct: bool,
        args: &[&ast::Expr],
        call: &ast::Function,
    ) -> Result<Expr, StatementError> {
        if self.aggregates.is_none() {
            return Err(StatementError::Unsupported(format!(
                "aggregate {call} in this clause"
            )));
        }
        let (function, argument) = if star && function == AggregateFunction::Count {
            (AggregateFunction::CountStar, None)
        } else {
            let [arg] = args else {
                return Err(StatementError::Parse {
                    message: format!("wrong arguments to {call}"),
                });
            };
            // The argument reads the table's row, never another aggregate.
            let saved = self.aggregates.take();
            let bound = self.bind(arg);
            self.aggregates = saved;
            (function, Some(bound?))
        };
        let argument_type = argument
            .as_ref()
            .map(Expr::result_type)
            .unwrap_or(crate::SqlType::BIGINT);
        let aggregate = Aggregate::new(function, distinct, argument_type);
        let result_type = aggregate.result_type();
        let base = self.scope.width();
        let slots = self.aggregates.as_mut().ok_or_else(|| unsupported(call))?;
        slots.push(AggregateSlot {
            aggregate,
            argument,
        });
        Ok(Expr::column(base + slots.len() - 1, result_type, true))
    }

    /// Binds one expression.
    pub fn bind(&mut self, expr: &ast::Expr) -> Result<Expr, StatementError> {
        Ok(match expr {
            ast::Expr::Value(v) => match &v.value {
                ast::Value::Placeholder(_) => Expr::Literal(self.env.parameter(v)?),
                other => Expr::Literal(bind_value(other)?),
            },
            ast::Expr::Identifier(ident) => {
                if ident.quote_style.is_none() && ident.value.starts_with('@') {
                    self.variable(&ident.value)?
                } else {
                    self.column(&[ident])?
                }
            }
            ast::Expr::CompoundIdentifier(parts) => {
                if let Some(first) = parts.first().filter(|p| p.value.starts_with("@@")) {
                    let rest: Vec<&str> = parts.iter().skip(1).map(|p| p.value.as_str()).collect();
                    self.variable(&format!("{}.{}", first.value, rest.join(".")))?
                } else {
                    self.column(&parts.iter().collect::<Vec<_>>())?
                }
            }
            ast::Expr::Nested(inner) => self.bind(inner)?,
            ast::Expr::UnaryOp { op, expr } => match op {
                UnaryOperator::Minus => match self.bind(expr)? {
                    // A negative numeric literal is one literal, as in MySQL.
                    Expr::Literal(Value::Int(v)) => Expr::Literal(Value::Int(-v)),
                    Expr::Literal(Value::UInt(v)) if v == 1u64 << 63 => {
                        Expr::Literal(Value::Int(i64::MIN))
                    }
                    other => Expr::Negate(Box::new(other)),
                },
                UnaryOperator::Plus => self.bind(expr)?,
                UnaryOperator::Not => Expr::Not(self.boxed(expr)?),
                other => return Err(unsupported(format!("operator {other}"))),
            },
            ast::Expr::BinaryOp { left, op, right } => {
                if let ast::Expr::Interval(_) = right.as_ref() {
                    let (interval, unit) = self.bind_interval(right)?;
                    let subtract = match op {
                        BinaryOperator::Plus => false,
                        BinaryOperator::Minus => true,
                        other => return Err(unsupported(format!("operator {other}"))),
                    };
                    return Ok(Expr::DateArith {
                        date: self.boxed(left)?,
                        interval: Box::new(interval),
                        unit,
                        subtract,
                    });
                }
                let (l, r) = (self.bind(left)?, self.bind(right)?);
                let arith = |op| Expr::arith(op, l.clone(), r.clone());
                let compare = |op| Expr::compare(op, l.clone(), r.clone());
                let logic = |op| Expr::logic(op, l.clone(), r.clone());
                match op {
                    BinaryOperator::Plus => arith(ArithOp::Add),
                    BinaryOperator::Minus => arith(ArithOp::Sub),
                    BinaryOperator::Multiply => arith(ArithOp::Mul),
                    BinaryOperator::Divide => arith(ArithOp::Div),
                    BinaryOperator::MyIntegerDivide => arith(ArithOp::IntDiv),
                    BinaryOperator::Modulo => arith(ArithOp::Mod),
                    BinaryOperator::Eq => compare(CompareOp::Eq),
                    BinaryOperator::Spaceship => compare(CompareOp::NullSafeEq),
                    BinaryOperator::NotEq => compare(CompareOp::Ne),
                    BinaryOperator::Lt => compare(CompareOp::Lt),
                    BinaryOperator::LtEq => compare(CompareOp::Le),
                    BinaryOperator::Gt => compare(CompareOp::Gt),
                    BinaryOperator::GtEq => compare(CompareOp::Ge),
                    BinaryOperator::And => logic(LogicOp::And),
                    BinaryOperator::Or => logic(LogicOp::Or),
                    BinaryOperator::Xor => logic(LogicOp::Xor),
                    other => return Err(unsupported(format!("operator {other}"))),
                }
            }
            ast::Expr::IsNull(e) => Expr::IsNull {
                operand: self.boxed(e)?,
                negated: false,
            },
            ast::Expr::IsNotNull(e) => Expr::IsNull {
                operand: self.boxed(e)?,
                negated: true,
            },
            ast::Expr::IsTrue(e) | ast::Expr::IsNotTrue(e) => Expr::IsTruth {
                operand: self.boxed(e)?,
                truth: true,
                negated: matches!(expr, ast::Expr::IsNotTrue(_)),
            },
            ast::Expr::IsFalse(e) | ast::Expr::IsNotFalse(e) => Expr::IsTruth {
                operand: self.boxed(e)?,
                truth: false,
                negated: matches!(expr, ast::Expr::IsNotFalse(_)),
            },
            ast::Expr::Between {
                expr,
                negated,
                low,
                high,
            } => Expr::Between {
                operand: self.boxed(expr)?,
                low: self.boxed(low)?,
                high: self.boxed(high)?,
                negated: *negated,
            },
            ast::Expr::In {
                expr,
                target: ast::InTarget::List(list),
                negated,
                ..
            } => Expr::InList {
                operand: self.boxed(expr)?,
                list: list
                    .iter()
                    .map(|e| self.bind(e))
                    .collect::<Result<_, _>>()?,
                negated: *negated,
            },
            ast::Expr::Like {
                negated,
                any: false,
                expr,
                pattern,
                escape_char,
            } => {
                let escape = match escape_char {
                    Some(e) => literal_text(e)?.chars().next(),
                    None => None,
                };
                Expr::Like {
                    operand: self.boxed(expr)?,
                    pattern: self.boxed(pattern)?,
                    escape,
                    negated: *negated,
                }
            }
            ast::Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                let operand = match operand.as_deref() {
                    Some(o) => Some(self.boxed(o)?),
                    None => None,
                };
                let mut branches = Vec::with_capacity(conditions.len());
                for w in conditions {
                    branches.push((self.bind(&w.condition)?, self.bind(&w.result)?));
                }
                let otherwise = match else_result.as_deref() {
                    Some(e) => Some(self.boxed(e)?),
                    None => None,
                };
                Expr::Case {
                    operand,
                    branches,
                    otherwise,
                }
            }
            ast::Expr::Cast {
                expr, data_type, ..
            } => Expr::Cast {
                operand: self.boxed(expr)?,
                target: cast_target(data_type)?,
            },
            ast::Expr::Ceil { expr, .. } => Expr::function(Function::Ceil, vec![self.bind(expr)?])?,
            ast::Expr::Floor { expr, .. } => {
                Expr::function(Function::Floor, vec![self.bind(expr)?])?
            }
            ast::Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                let mut args = vec![self.bind(expr)?];
                if let Some(from) = substring_from {
                    args.push(self.bind(from)?);
                }
                if let Some(length) = substring_for {
                    args.push(self.bind(length)?);
                }
                Expr::function(Function::Substring, args)?
            }
            ast::Expr::Trim {
                expr,
                trim_where,
                trim_what,
                ..
            } => {
                let side = match trim_where {
                    Some(ast::TrimWhereField::Leading) => TrimSide::Leading,
                    Some(ast::TrimWhereField::Trailing) => TrimSide::Trailing,
                    _ => TrimSide::Both,
                };
                let mut args = vec![self.bind(expr)?];
                if let Some(what) = trim_what {
                    args.push(self.bind(what)?);
                }
                Expr::function(Function::Trim(side), args)?
            }
            ast::Expr::TypedString(typed) => {
                let text = match &typed.value.value {
                    ast::Value::SingleQuotedString(text) => text.clone(),
                    other => return Err(unsupported(other)),
                };
                let bad = || {
                    StatementError::Expr(crate::Error::TruncatedValue {
                        type_name: "datetime",
                        value: text.clone(),
                    })
                };
                Expr::Literal(match typed.data_type {
                    DataType::Date => Value::Date(parse_datetime(&text).ok_or_else(bad)?.0.date()),
                    DataType::Timestamp(..) | DataType::Datetime(_) => {
                        Value::DateTime(parse_datetime(&text).ok_or_else(bad)?.0)
                    }
                    DataType::Time(..) => Value::Time(parse_time(&text).ok_or_else(bad)?),
                    ref other => return Err(unsupported(other)),
                })
            }
            ast::Expr::Function(function) => self.bind_function(function)?,
            ast::Expr::Subquery(query) => Expr::Subquery {
                plan: self.subquery(query)?,
                kind: SubqueryKind::Scalar,
                operand: None,
            },
            ast::Expr::Exists { subquery, negated } => {
                let exists = Expr::Subquery {
                    plan: self.subquery(subquery)?,
                    kind: SubqueryKind::Exists,
                    operand: None,
                };
                if *negated {
                    Expr::Not(Box::new(exists))
                } else {
                    exists
                }
            }
            ast::Expr::In {
                expr,
                target: ast::InTarget::Subquery(subquery),
                negated,
                ..
            } => Expr::Subquery {
                operand: Some(self.boxed(expr)?),
                plan: self.subquery(subquery)?,
                kind: SubqueryKind::In { negated: *negated },
            },
            other => return Err(unsupported(other)),
        })
    }
}

fn super_version() -> &'static str {
    crate::session::vars::lookup("version").map_or("8.0.36-floe", |v| v.1)
}
