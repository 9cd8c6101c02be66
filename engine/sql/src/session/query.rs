//! SELECT: binding a query (SELECT, UNION, derived tables, subqueries) into
//! a `QueryPlan`, and the executor that runs it.
//!
//! Binding. A SELECT's FROM clause becomes a list of sources (base tables
//! and derived tables) laid side by side in one row, in FROM order, after
//! the columns of any outer queries (a correlated subquery sees its outer
//! row as the first columns of its own rows). WHERE and inner-join ON
//! conditions are split into conjuncts; each is attached to the first join
//! step where every table it reads is bound. LEFT JOIN keeps its ON
//! conjuncts on its own step. `a RIGHT JOIN b` is bound as `b LEFT JOIN
//! a` (MySQL's rewrite; `SELECT *` still shows a's columns first after
//! ON). NATURAL JOIN is USING over the shared names; `SELECT *` shows
//! each USING column once, first (MySQL's coalesced column: the value of
//! the side that is never NULL-extended). WITH names bind as derived
//! tables at each use; a CTE sees the ones before it. A WITH RECURSIVE
//! CTE that names itself is `anchor UNION [ALL] part`: the anchor's rows,
//! then rounds of the part reading the last round's rows (`Working`)
//! until a round adds none, at most cte_max_recursion_depth rounds.
//! Subqueries are bound by the session (see
//! `BindEnv::bind_subquery`) and stay in the expressions as
//! `Expr::Subquery`.
//!
//! Join order. Without LEFT JOIN the order is chosen greedily: first the
//! table whose own conjuncts leave the fewest estimated rows (statistics,
//! see `crate::stats`; without them the best access path: point lookup,
//! then range, then full scan; FROM order on ties), then repeatedly the
//! smallest table joined to the bound ones by an equality on the first
//! column of one of its indexes, then any table joined by an equality,
//! then FROM order. With LEFT JOIN the FROM order is kept.
//!
//! Covering reads. The columns a SELECT reads (anywhere: projections,
//! conditions, grouping, ordering, correlated subqueries) are worked out
//! per table; `plan::choose_read` may then answer from a secondary index
//! that holds them all (EXPLAIN's "Using index").
//!
//! Join methods, per step: index nested loop when an equality ties a
//! column of the step's table to bound values and an index starts with
//! that column (the bound values become constants and `plan::choose` picks
//! the access path per outer row); hash join on such an equality
//! otherwise (the step's table is read once, filtered by its own
//! conjuncts, and hashed on its side of the equality, when both sides have
//! one key type); nested loop over the table read once otherwise. Every
//! conjunct is still evaluated on the joined row: access paths and hashes
//! only narrow the rows tried. The first step streams from its scan; inner
//! steps read the index per outer row or hold their (filtered) rows.
//!
//! Subqueries. One that reads no column of the query it sits in is run
//! once per execution of that query and replaced by its result (a
//! literal, or an IN list); one that does is run again for every row it
//! is evaluated on. IN (subquery) becomes an IN list, so NOT IN follows
//! MySQL's NULL rules (NULL when no value matches and one is NULL).
//!
//! Ordered reads. A SELECT of one base table without grouping, aggregates
//! or DISTINCT whose ORDER BY items are plain columns of the table, all ASC
//! or all DESC, may read an index in that order (`plan::choose_ordered`,
//! chosen by cost): then nothing is sorted and the scan stops once OFFSET +
//! LIMIT rows passed the WHERE clause. Otherwise (joins, expressions, mixed
//! directions) the rows are sorted in memory after all are read; EXPLAIN
//! says "Using filesort" on the first table then. Ties (equal keys, such as
//! case variants under a case-insensitive collation) come in index order on
//! an ordered read and in the access path's order when sorted, both of which
//! MySQL leaves unspecified too.
//!
//! Results. A SELECT without grouping, DISTINCT, ORDER BY or UNION sends
//! its rows to the client as the join makes them; the others collect their
//! rows first (they must see them all). EXPLAIN shows the join order,
//! access paths and join methods in MySQL's columns; information_schema's
//! SCHEMATA, TABLES, COLUMNS, STATISTICS and VIEWS are rows made from the
//! catalog when the statement binds. A read-only SELECT stops with 3024
//! once max_execution_time (or its `MAX_EXECUTION_TIME(n)` hint) is
//! spent, checked where KILL is: every INTERRUPT_CHECK_ROWS rows read,
//! and every INTERRUPT_CHECK_ROWS joined rows tried.
//!
//! Differences from MySQL, known: a greedy join order from row estimates,
//! not a cost search over orders; EXPLAIN's filtered is 100.00 (no
//! estimate of the conditions an access path leaves); FULL JOIN, LATERAL,
//! INTERSECT/EXCEPT, a LEFT JOIN of a parenthesized join, a RIGHT JOIN
//! whose left side is a join and ORDER BY/LIMIT inside a recursive CTE are
//! refused; a recursive CTE's rows keep the recursive part's values (MySQL
//! casts them to the anchor's column types); after chained
//! USING joins `SELECT *` lists the coalesced columns in row order; a
//! view does not hide the WITH names around it; a correlated
//! subquery in an aggregate's argument, or in UPDATE/DELETE, is refused;
//! views are stored as text and bound at each use (no column list,
//! ALGORITHM or CHECK OPTION).

use std::collections::HashSet;
use std::fmt;

use super::*;
use crate::bind::{table_columns, Scope, ScopeColumn};
use crate::expr::{CompareOp, LogicOp, SubqueryKind, SubqueryPlan};
use crate::key::decode_key;
use crate::types::TypeClass;
use floe_storage::trx::IndexRead;

/// The milliseconds of a `MAX_EXECUTION_TIME(n)` optimizer hint among
/// the hints of `text`, if it has one.
fn max_execution_time_hint(text: &str) -> Option<u64> {
    const NAME: &str = "MAX_EXECUTION_TIME";
    let upper = text.to_ascii_uppercase();
    let start = upper.find(NAME)? + NAME.len();
    let rest = upper.get(start..)?.trim_start().strip_prefix('(')?;
    let end = rest.find(')')?;
    rest.get(..end)?.trim().parse().ok()
}

/// Tables in one SELECT's FROM, as MySQL (join steps keep table sets in
/// a 64-bit mask).
const MAX_JOIN_TABLES: usize = 61;

/// A bound query.
pub(super) enum QueryPlan {
    Select(Box<SelectPlan>),
    SetOp(Box<SetOpPlan>),
}

/// A common table expression of a WITH being bound.
pub(super) struct Cte {
    name: String,
    query: Box<ast::Query>,
    /// `WITH name (a, b) AS ...`: the names its columns take.
    columns: Vec<String>,
    /// Declared by WITH RECURSIVE.
    recursive: bool,
    /// While a recursive CTE's recursive part binds: the name reads the
    /// previous round's rows, with these columns.
    working: Option<(Working, Vec<ScopeColumn>)>,
}

/// The rows a recursive CTE's previous round made, which its recursive
/// part reads; `used` tells whether the part reads them at all.
#[derive(Clone, Default)]
struct Working {
    rows: Arc<floe_rt::sync::Mutex<Vec<Vec<Value>>>>,
    used: Arc<std::sync::atomic::AtomicBool>,
}

/// How a recursive CTE's UNION runs: the right side again over the rows
/// the last round added, until a round adds none.
struct Recursion {
    working: Working,
    /// cte_max_recursion_depth when bound.
    rounds_max: u64,
}

/// What a CTE name in FROM binds to.
enum CteSource {
    Plan(QueryPlan),
    /// A recursive CTE's own name inside its recursive part.
    Working(Working, Vec<ScopeColumn>),
}

/// `left UNION [ALL] right [ORDER BY ..] [LIMIT ..]`.
pub(super) struct SetOpPlan {
    left: QueryPlan,
    right: QueryPlan,
    distinct: bool,
    columns: Vec<Column>,
    types: Vec<SqlType>,
    order: Vec<(Expr, bool)>,
    limit: Option<usize>,
    offset: usize,
    /// A recursive CTE: the right side repeats (see `Recursion`).
    recursion: Option<Recursion>,
}

enum SourceKind {
    Table(Arc<TableMeta>),
    Derived(QueryPlan),
    /// Rows made at bind time (information_schema).
    Rows(Vec<Vec<Value>>),
    /// A recursive CTE's previous round, inside its recursive part.
    Working(Working),
}

struct Source {
    kind: SourceKind,
    alias: String,
    offset: usize,
    width: usize,
    /// LEFT JOIN: rows without a match get NULLs here.
    left_join: bool,
    /// Where `SELECT *` shows this source's columns: its place in the
    /// FROM text (a RIGHT JOIN ... ON binds its right side first).
    display: usize,
    /// A LEFT JOIN's ON conjuncts.
    on: Vec<Expr>,
}

pub(super) struct SelectPlan {
    outer_width: usize,
    width: usize,
    sources: Vec<Source>,
    /// WHERE and inner joins' ON conditions, as conjuncts.
    conjuncts: Vec<Expr>,
    aggregate: bool,
    group: Vec<Expr>,
    slots: Vec<AggregateSlot>,
    having: Option<Expr>,
    projections: Vec<Expr>,
    distinct: bool,
    order: Vec<(Expr, bool)>,
    limit: Option<usize>,
    offset: usize,
    columns: Vec<Column>,
    types: Vec<SqlType>,
    /// The outer columns the query reads (subqueries included), sorted.
    outer_references: Vec<usize>,
}

impl QueryPlan {
    /// The outer columns read anywhere in the plan, sorted.
    fn outer_references(&self) -> Vec<usize> {
        match self {
            QueryPlan::Select(s) => s.outer_references.clone(),
            QueryPlan::SetOp(s) => {
                let mut all = s.left.outer_references();
                all.extend(s.right.outer_references());
                all.sort_unstable();
                all.dedup();
                all
            }
        }
    }

    /// Gives the result columns the names of a column list (`WITH
    /// name (a, b)`, `AS t (a, b)`); MySQL's 1353 when the counts differ.
    fn rename_columns(&mut self, names: &[String]) -> Result<()> {
        let columns = match self {
            QueryPlan::Select(s) => &mut s.columns,
            QueryPlan::SetOp(s) => &mut s.columns,
        };
        if columns.len() != names.len() {
            return Err(StatementError::Server(floe_server::SqlError {
                code: 1353,
                sql_state: *b"HY000",
                message: "In definition of view, derived table or common table expression, \
                          SELECT list and column names list have different column counts"
                    .into(),
            }));
        }
        for (column, name) in columns.iter_mut().zip(names) {
            column.name = name.clone();
        }
        Ok(())
    }

    pub(super) fn columns(&self) -> &[Column] {
        match self {
            QueryPlan::Select(s) => &s.columns,
            QueryPlan::SetOp(s) => &s.columns,
        }
    }

    fn types(&self) -> &[SqlType] {
        match self {
            QueryPlan::Select(s) => &s.types,
            QueryPlan::SetOp(s) => &s.types,
        }
    }

    /// Every base table the plan reads (for metadata holds).
    fn tables(&self, out: &mut Vec<Arc<TableMeta>>) {
        match self {
            QueryPlan::SetOp(s) => {
                s.left.tables(out);
                s.right.tables(out);
            }
            QueryPlan::Select(s) => {
                for source in &s.sources {
                    match &source.kind {
                        SourceKind::Table(meta) => out.push(Arc::clone(meta)),
                        SourceKind::Derived(plan) => plan.tables(out),
                        SourceKind::Rows(_) | SourceKind::Working(_) => {}
                    }
                }
                let mut visit = |e: &Expr| subquery_tables(e, out);
                s.conjuncts.iter().for_each(&mut visit);
                s.projections.iter().for_each(&mut visit);
                s.group.iter().for_each(&mut visit);
                s.having.iter().for_each(&mut visit);
                s.order.iter().for_each(|(e, _)| visit(e));
                s.sources
                    .iter()
                    .flat_map(|src| src.on.iter())
                    .for_each(&mut visit);
                s.slots
                    .iter()
                    .filter_map(|slot| slot.argument.as_ref())
                    .for_each(&mut visit);
            }
        }
    }
}

fn subquery_tables(expr: &Expr, out: &mut Vec<Arc<TableMeta>>) {
    if let Expr::Subquery { plan, .. } = expr {
        if let Some(bound) = plan.as_any().downcast_ref::<BoundSubquery>() {
            bound.plan.tables(out);
        }
    }
    for child in expr.children() {
        subquery_tables(child, out);
    }
}

/// A subquery as bound into an expression.
pub(super) struct BoundSubquery {
    plan: QueryPlan,
    outer_references: Vec<usize>,
}

impl BoundSubquery {
    pub(super) fn new(plan: QueryPlan) -> BoundSubquery {
        BoundSubquery {
            outer_references: plan.outer_references(),
            plan,
        }
    }
}

impl fmt::Debug for BoundSubquery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "subquery({} columns, outer references {:?})",
            self.plan.columns().len(),
            self.outer_references
        )
    }
}

impl SubqueryPlan for BoundSubquery {
    fn result_type(&self) -> SqlType {
        self.plan.types().first().copied().unwrap_or(SqlType::Null)
    }
    fn outer_references(&self) -> &[usize] {
        &self.outer_references
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn select_lock(query: &ast::Query) -> LockRead {
    match query.locks.first().map(|l| &l.lock_type) {
        None => LockRead::None,
        Some(ast::LockType::Share) => LockRead::Shared,
        Some(ast::LockType::Update) => LockRead::Exclusive,
    }
}

/// The conjuncts of `expr` (its AND tree flattened).
fn split_conjuncts(expr: Expr, out: &mut Vec<Expr>) {
    match expr {
        Expr::Logic {
            op: LogicOp::And,
            left,
            right,
        } => {
            split_conjuncts(*left, out);
            split_conjuncts(*right, out);
        }
        other => out.push(other),
    }
}

fn and_all(conjuncts: &[Expr]) -> Option<Expr> {
    let mut iter = conjuncts.iter().cloned();
    let first = iter.next()?;
    Some(iter.fold(first, |acc, e| Expr::logic(LogicOp::And, acc, e)))
}

fn order_items(query: &ast::Query) -> Result<Vec<&ast::OrderByExpr>> {
    match &query.order_by {
        None => Ok(Vec::new()),
        Some(order_by) => match &order_by.kind {
            ast::OrderByKind::Expressions(items) => Ok(items.iter().collect()),
            ast::OrderByKind::All(_) => Err(StatementError::Unsupported("ORDER BY ALL".into())),
        },
    }
}

fn position_of(expr: &ast::Expr) -> Option<usize> {
    match expr {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::Number(n, _) => n.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

impl SqlSession {
    /// The tables of `schema` with their metadata, by name.
    fn tables_in(&self, schema: &str) -> Vec<(String, Arc<TableMeta>)> {
        self.db
            .table_names(schema)
            .into_iter()
            .filter_map(|t| self.db.table(schema, &t).map(|meta| (t, meta)))
            .collect()
    }
    // ---- SELECT --------------------------------------------------------

    /// A SELECT statement. A read-only one runs under the session's
    /// max_execution_time, or its `MAX_EXECUTION_TIME(n)` hint (MySQL
    /// limits only those): past it, the next interrupt check fails with
    /// 3024.
    pub(super) fn select(&mut self, query: &ast::Query, sink: &mut dyn ResultSink) -> Result<()> {
        let time_limit_ms = match select_lock(query) {
            LockRead::None => self.time_limit_ms(query)?,
            _ => 0,
        };
        self.interrupt.set_time_limit(
            (time_limit_ms > 0).then(|| std::time::Duration::from_millis(time_limit_ms)),
        );
        let outcome = self.select_rows(query, sink);
        self.interrupt.set_time_limit(None);
        outcome
    }

    /// The time limit of a read-only SELECT in milliseconds (0: none):
    /// its top-level `/*+ MAX_EXECUTION_TIME(n) */` hint, else the
    /// session's max_execution_time.
    fn time_limit_ms(&self, query: &ast::Query) -> Result<u64> {
        // The server's own reads (account tables) are never cut short.
        if self.system {
            return Ok(0);
        }
        if let ast::SetExpr::Select(select) = query.body.as_ref() {
            if let Some(ms) = select
                .optimizer_hints
                .iter()
                .find_map(|hint| max_execution_time_hint(&hint.text))
            {
                return Ok(ms);
            }
        }
        let value = self.system_variable("max_execution_time")?;
        Ok(value
            .to_i128(&mut crate::error::Warnings::default())
            .and_then(|ms| u64::try_from(ms).ok())
            .unwrap_or(0))
    }

    fn select_rows(&mut self, query: &ast::Query, sink: &mut dyn ResultSink) -> Result<()> {
        let lock = select_lock(query);
        let plan = self.bind_query(query, &Scope::default())?;
        let mut tables = Vec::new();
        plan.tables(&mut tables);
        let interrupt = self.interrupt.clone();
        let read_only = lock == LockRead::None;
        // Rows go to the client as they are made unless they must all be
        // seen first (grouping, DISTINCT, ORDER BY, UNION).
        let streams = matches!(&plan, QueryPlan::Select(s)
            if !s.aggregate && !s.distinct && s.order.is_empty());
        let types = plan.types().to_vec();
        if streams {
            send_columns(sink, plan.columns())?;
        }
        let (rows, warnings) = {
            let mut send = |values: Vec<Value>| emit_row(&mut *sink, values, &types);
            let stream: Option<RowStream<'_>> = if streams { Some(&mut send) } else { None };
            if tables.is_empty() {
                // No table: no transaction needed.
                let mut exec = Exec {
                    trx: None,
                    interrupt: &interrupt,
                    tried: 0,
                    lock,
                    ctx: self.eval_context(),
                    stream,
                    reads: ReadCounts::default(),
                };
                let rows = exec.run(&plan, &[])?;
                (rows, exec.ctx.warnings)
            } else {
                self.data_statement(read_only, |session, trx| {
                    for table in &tables {
                        session.hold(table)?;
                    }
                    let mut exec = Exec {
                        trx: Some(trx),
                        interrupt: &interrupt,
                        tried: 0,
                        lock,
                        ctx: session.eval_context(),
                        stream,
                        reads: ReadCounts::default(),
                    };
                    let rows = exec.run(&plan, &[])?;
                    session.handler_reads.add(&exec.reads);
                    Ok((rows, exec.ctx.warnings))
                })?
            }
        };
        self.absorb(&warnings);
        if !streams {
            send_columns(sink, plan.columns())?;
            for row in rows {
                emit_row(sink, row, &types)?;
            }
        }
        sink.done(&Summary {
            status: self.status_flags(),
            warning_count: u16::try_from(self.warnings.total_count()).unwrap_or(u16::MAX),
            ..Summary::default()
        })?;
        Ok(())
    }

    /// CREATE [OR REPLACE] VIEW: the SELECT must bind now (its tables and
    /// columns exist); its text is stored and bound again at each use.
    pub(super) fn create_view(&mut self, view: &ast::CreateView) -> Result<Done> {
        if view.materialized || view.temporary || !view.columns.is_empty() {
            return Err(StatementError::Unsupported(format!(
                "CREATE VIEW {}",
                view.name
            )));
        }
        let (schema, name) = self.schema_and_table(&view.name)?;
        if self.db.table(&schema, &name).is_some() {
            return Err(StatementError::TableExists(name));
        }
        self.bind_query(&view.query, &Scope::default())?;
        self.db
            .create_view(&schema, &name, &view.query.to_string(), view.or_replace)?;
        Ok(Done::default())
    }

    /// information_schema.SCHEMATA / TABLES / COLUMNS / STATISTICS / VIEWS
    /// as rows made from the catalog now (a snapshot for the statement);
    /// None for other names. The columns are the ones clients read most,
    /// not all of MySQL's.
    #[allow(clippy::type_complexity)]
    fn information_schema(
        &self,
        name: &ast::ObjectName,
    ) -> Result<Option<(String, Vec<ScopeColumn>, Vec<Vec<Value>>)>> {
        let parts = ident_name(name)?;
        let (schema, table) = match parts.as_slice() {
            [table] => (self.database.clone().unwrap_or_default(), table.clone()),
            [schema, table] => (schema.clone(), table.clone()),
            _ => return Ok(None),
        };
        if !schema.eq_ignore_ascii_case("information_schema") {
            return Ok(None);
        }
        let table = table.to_ascii_uppercase();
        let text = |s: &str| Value::string(s);
        let opt = |s: Option<String>| s.map_or(Value::Null, |s| Value::string(&s));
        let column = |name: &str, numeric: bool| ScopeColumn {
            name: name.to_string(),
            sql_type: if numeric {
                SqlType::BIGINT_UNSIGNED
            } else {
                SqlType::varchar(64)
            },
            nullable: true,
            hidden: false,
        };
        let columns_of = |spec: &[(&str, bool)]| spec.iter().map(|(n, k)| column(n, *k)).collect();
        let mut schemas = self.db.schemas()?;
        // As SHOW DATABASES: only what the account holds privileges on.
        schemas.retain(|s| self.sees_database(s));
        schemas.sort();
        let mut rows = Vec::new();
        let columns: Vec<ScopeColumn> = match table.as_str() {
            "SCHEMATA" => {
                for s in std::iter::once("information_schema".to_string()).chain(schemas) {
                    rows.push(vec![
                        text("def"),
                        text(&s),
                        text("utf8mb4"),
                        text("utf8mb4_0900_ai_ci"),
                        Value::Null,
                        text("NO"),
                    ]);
                }
                columns_of(&[
                    ("CATALOG_NAME", false),
                    ("SCHEMA_NAME", false),
                    ("DEFAULT_CHARACTER_SET_NAME", false),
                    ("DEFAULT_COLLATION_NAME", false),
                    ("SQL_PATH", false),
                    ("DEFAULT_ENCRYPTION", false),
                ])
            }
            "TABLES" => {
                for s in &schemas {
                    for (t, meta) in self.tables_in(s) {
                        let auto = meta
                            .auto_increment_column
                            .map(|_| {
                                Value::UInt(
                                    meta.next_auto_increment
                                        .load(std::sync::atomic::Ordering::Relaxed),
                                )
                            })
                            .unwrap_or(Value::Null);
                        rows.push(vec![
                            text("def"),
                            text(s),
                            text(&t),
                            text("BASE TABLE"),
                            text("InnoDB"),
                            Value::UInt(10),
                            text("Dynamic"),
                            meta.estimated_rows().map_or(Value::Null, Value::UInt),
                            auto,
                            text("utf8mb4_0900_ai_ci"),
                            text(""),
                        ]);
                    }
                    for v in self.db.views_of(s) {
                        rows.push(vec![
                            text("def"),
                            text(s),
                            text(&v.name),
                            text("VIEW"),
                            Value::Null,
                            Value::Null,
                            Value::Null,
                            Value::Null,
                            Value::Null,
                            Value::Null,
                            text("VIEW"),
                        ]);
                    }
                }
                columns_of(&[
                    ("TABLE_CATALOG", false),
                    ("TABLE_SCHEMA", false),
                    ("TABLE_NAME", false),
                    ("TABLE_TYPE", false),
                    ("ENGINE", false),
                    ("VERSION", true),
                    ("ROW_FORMAT", false),
                    ("TABLE_ROWS", true),
                    ("AUTO_INCREMENT", true),
                    ("TABLE_COLLATION", false),
                    ("TABLE_COMMENT", false),
                ])
            }
            "COLUMNS" => {
                for s in &schemas {
                    for (t, meta) in self.tables_in(s) {
                        for (i, c) in meta.columns.iter().enumerate().filter(|(_, c)| !c.hidden) {
                            let key =
                                match meta.indexes.iter().find(|x| x.columns.first() == Some(&i)) {
                                    Some(x)
                                        if x.kind == IndexKind::Primary && !meta.hidden_row_id =>
                                    {
                                        "PRI"
                                    }
                                    Some(x) if x.kind == IndexKind::Unique => "UNI",
                                    Some(_) => "MUL",
                                    None => "",
                                };
                            let full = c.sql_type.sql_name();
                            let data_type = full
                                .split('(')
                                .next()
                                .unwrap_or("")
                                .split(' ')
                                .next()
                                .unwrap_or("")
                                .to_string();
                            let default = match &c.default {
                                crate::catalog::ColumnDefault::Value(v) => opt(v
                                    .to_text()
                                    .map(|b| String::from_utf8_lossy(&b).into_owned())),
                                _ => Value::Null,
                            };
                            let (length, precision, scale) = match c.sql_type.class() {
                                TypeClass::String => (
                                    Value::UInt(u64::from(crate::expr::text_length_chars(
                                        &c.sql_type,
                                    ))),
                                    Value::Null,
                                    Value::Null,
                                ),
                                TypeClass::Int | TypeClass::Decimal => {
                                    let p = if let SqlType::Decimal { precision, .. } = c.sql_type {
                                        u64::from(precision)
                                    } else {
                                        u64::from(c.sql_type.display_length())
                                    };
                                    (
                                        Value::Null,
                                        Value::UInt(p),
                                        Value::UInt(u64::from(c.sql_type.scale())),
                                    )
                                }
                                _ => (Value::Null, Value::Null, Value::Null),
                            };
                            rows.push(vec![
                                text("def"),
                                text(s),
                                text(&t),
                                text(&c.name),
                                Value::UInt(i as u64 + 1),
                                default,
                                text(if c.nullable { "YES" } else { "NO" }),
                                text(&data_type),
                                length,
                                precision,
                                scale,
                                text(&full),
                                text(key),
                                text(if c.auto_increment {
                                    "auto_increment"
                                } else {
                                    ""
                                }),
                            ]);
                        }
                    }
                }
                columns_of(&[
                    ("TABLE_CATALOG", false),
                    ("TABLE_SCHEMA", false),
                    ("TABLE_NAME", false),
                    ("COLUMN_NAME", false),
                    ("ORDINAL_POSITION", true),
                    ("COLUMN_DEFAULT", false),
                    ("IS_NULLABLE", false),
                    ("DATA_TYPE", false),
                    ("CHARACTER_MAXIMUM_LENGTH", true),
                    ("NUMERIC_PRECISION", true),
                    ("NUMERIC_SCALE", true),
                    ("COLUMN_TYPE", false),
                    ("COLUMN_KEY", false),
                    ("EXTRA", false),
                ])
            }
            "STATISTICS" => {
                for s in &schemas {
                    for (t, meta) in self.tables_in(s) {
                        for (position, index) in meta.indexes.iter().enumerate() {
                            if position == 0 && meta.hidden_row_id {
                                continue;
                            }
                            for (seq, &c) in index.columns.iter().enumerate() {
                                let Some(column) = meta.columns.get(c) else {
                                    continue;
                                };
                                rows.push(vec![
                                    text("def"),
                                    text(s),
                                    text(&t),
                                    Value::UInt(u64::from(index.kind == IndexKind::NonUnique)),
                                    text(s),
                                    text(&index.name),
                                    Value::UInt(seq as u64 + 1),
                                    text(&column.name),
                                    text("A"),
                                    meta.cardinality(position, seq + 1)
                                        .map_or(Value::Null, |c| Value::Int(c as i64)),
                                    text(if column.nullable { "YES" } else { "" }),
                                    text("BTREE"),
                                ]);
                            }
                        }
                    }
                }
                columns_of(&[
                    ("TABLE_CATALOG", false),
                    ("TABLE_SCHEMA", false),
                    ("TABLE_NAME", false),
                    ("NON_UNIQUE", true),
                    ("INDEX_SCHEMA", false),
                    ("INDEX_NAME", false),
                    ("SEQ_IN_INDEX", true),
                    ("COLUMN_NAME", false),
                    ("COLLATION", false),
                    ("CARDINALITY", true),
                    ("NULLABLE", false),
                    ("INDEX_TYPE", false),
                ])
            }
            "VIEWS" => {
                for s in &schemas {
                    for v in self.db.views_of(s) {
                        rows.push(vec![text("def"), text(s), text(&v.name), text(&v.sql)]);
                    }
                }
                columns_of(&[
                    ("TABLE_CATALOG", false),
                    ("TABLE_SCHEMA", false),
                    ("TABLE_NAME", false),
                    ("VIEW_DEFINITION", false),
                ])
            }
            _ => {
                return Err(StatementError::NoSuchTable {
                    schema: "information_schema".into(),
                    table: table.to_ascii_lowercase(),
                })
            }
        };
        Ok(Some((table, columns, rows)))
    }

    /// The parsed SELECT of view `name`, if it is a view.
    fn view_query(&self, name: &ast::ObjectName) -> Result<Option<(String, Box<ast::Query>)>> {
        let (schema, view) = self.schema_and_table(name)?;
        let Some(meta) = self.db.view(&schema, &view) else {
            return Ok(None);
        };
        let statements = parse(&meta.sql)?;
        match statements.into_iter().next() {
            Some(Statement::Query(query)) => Ok(Some((meta.name.clone(), query))),
            _ => Err(StatementError::Storage(format!(
                "view {schema}.{view}: stored text is not a query"
            ))),
        }
    }

    /// EXPLAIN SELECT: one row per table read, in join order, in MySQL's
    /// columns. Without statistics, `rows` and `filtered` are NULL; `type`
    /// says how the table is read (const: primary key lookup, eq_ref/ref:
    /// index lookup per row of the tables before it, range, ALL), `key` the
    /// index, and Extra the join method (hash join, nested loop).
    pub(super) fn explain(
        &mut self,
        statement: &Statement,
        sink: &mut dyn ResultSink,
    ) -> Result<()> {
        let Statement::Query(query) = statement else {
            return Err(StatementError::Unsupported(format!(
                "EXPLAIN {}",
                statement.to_string().chars().take(40).collect::<String>()
            )));
        };
        let plan = self.bind_query(query, &Scope::default())?;
        let mut lines = Vec::new();
        let mut next_id = 1;
        explain_plan(&plan, "SIMPLE", &mut next_id, &mut lines);
        // With subqueries or unions, the outer SELECT is PRIMARY.
        if lines.iter().any(|l| l.id > 1) {
            for line in &mut lines {
                if line.select_type == "SIMPLE" {
                    line.select_type = "PRIMARY".into();
                }
            }
        }
        let types = explain_types();
        send_columns(sink, &explain_columns())?;
        let text = |v: Option<String>| v.map_or(Value::Null, |s| Value::string(&s));
        for line in lines {
            let row = vec![
                Value::Int(line.id),
                Value::string(&line.select_type),
                text(line.table),
                Value::Null,
                text(line.access),
                Value::Null,
                text(line.key),
                Value::Null,
                Value::Null,
                // MySQL's estimates: rows read, and the share of them the
                // remaining conditions keep (not estimated: 100).
                line.rows
                    .map_or(Value::Null, |r| Value::Int(r.round().max(1.0) as i64)),
                line.rows.map_or(Value::Null, |_| Value::string("100.00")),
                text((!line.extra.is_empty()).then(|| line.extra.join("; "))),
            ];
            emit_row(sink, row, &types)?;
        }
        sink.done(&Summary {
            status: self.status_flags(),
            ..Summary::default()
        })?;
        Ok(())
    }

    /// INSERT ... SELECT: the query's rows are read first (as MySQL does
    /// through a temporary table when it reads the target), then written.
    pub(super) fn insert_select(
        &mut self,
        trx: &mut Trx,
        meta: &Arc<TableMeta>,
        targets: &[usize],
        query: &ast::Query,
    ) -> Result<Done> {
        let lock = select_lock(query);
        let plan = self.bind_query(query, &Scope::default())?;
        if plan.columns().len() != targets.len() {
            return Err(StatementError::ColumnCount(1));
        }
        let mut tables = Vec::new();
        plan.tables(&mut tables);
        for table in &tables {
            self.hold(table)?;
        }
        let interrupt = self.interrupt.clone();
        let mut exec = Exec {
            trx: Some(trx),
            interrupt: &interrupt,
            tried: 0,
            lock,
            ctx: self.eval_context(),
            stream: None,
            reads: ReadCounts::default(),
        };
        let rows = exec.run(&plan, &[])?;
        let warnings = exec.ctx.warnings;
        self.absorb(&warnings);
        let mut generated = None;
        let mut count = 0u64;
        for (row_index, values) in rows.into_iter().enumerate() {
            let mut given: Vec<Option<Value>> = vec![None; meta.columns.len()];
            for ((value, &target), sql_type) in values.into_iter().zip(targets).zip(plan.types()) {
                given[target] = Some(finalize(value, sql_type));
            }
            let row = self.complete_row(meta, given, row_index + 1, &mut generated)?;
            self.write_row(trx, meta, &row, None)?;
            count += 1;
            if count.is_multiple_of(INTERRUPT_CHECK_ROWS as u64) {
                self.interrupt.check()?;
            }
        }
        if let Some(id) = generated {
            self.last_insert_id = id;
        }
        Ok(Done {
            affected_rows: count,
            last_insert_id: generated.unwrap_or(0),
            info: format!(
                "Records: {count}  Duplicates: 0  Warnings: {}",
                self.warnings.total_count()
            ),
        })
    }

    /// Runs the subqueries of an UPDATE's or DELETE's expression now (they
    /// read other tables, so once is enough) and puts their results in its
    /// place. A subquery that reads the statement's own row (correlated)
    /// is refused, and so is one that reads the target table (MySQL 1093).
    pub(super) fn statement_subqueries(
        &mut self,
        trx: &mut Trx,
        target: &Arc<TableMeta>,
        mut expr: Expr,
    ) -> Result<Expr> {
        if !expr.has_subquery() {
            return Ok(expr);
        }
        if expr.has_correlated_subquery() {
            return Err(StatementError::Unsupported(
                "a correlated subquery in UPDATE or DELETE".into(),
            ));
        }
        let mut tables = Vec::new();
        subquery_tables(&expr, &mut tables);
        if tables.iter().any(|t| Arc::ptr_eq(t, target)) {
            return Err(StatementError::Server(floe_server::SqlError {
                code: 1093,
                sql_state: *b"HY000",
                message: format!(
                    "You can't specify target table '{}' for update in FROM clause",
                    target.name
                ),
            }));
        }
        for table in &tables {
            self.hold(table)?;
        }
        let interrupt = self.interrupt.clone();
        let mut exec = Exec {
            trx: Some(trx),
            interrupt: &interrupt,
            tried: 0,
            lock: LockRead::None,
            ctx: self.eval_context(),
            stream: None,
            reads: ReadCounts::default(),
        };
        exec.resolve(&mut expr, &[], &|_| true)?;
        let warnings = exec.ctx.warnings;
        self.absorb(&warnings);
        Ok(expr)
    }

    /// The value of a constant expression (SET, ...): subqueries in it run
    /// in a read-only statement of their own.
    pub(super) fn constant_value(
        &mut self,
        expr: &ast::Expr,
        context: &'static str,
    ) -> Result<Value> {
        let bound = self.binder(None, "", context).bind(expr)?;
        if !bound.has_subquery() {
            return Ok(bound.eval_output(&[], &mut self.eval_context())?);
        }
        let interrupt = self.interrupt.clone();
        let (value, warnings) = self.data_statement(true, |session, trx| {
            let mut tables = Vec::new();
            subquery_tables(&bound, &mut tables);
            for table in &tables {
                session.hold(table)?;
            }
            let mut exec = Exec {
                trx: Some(trx),
                interrupt: &interrupt,
                tried: 0,
                lock: LockRead::None,
                ctx: session.eval_context(),
                stream: None,
                reads: ReadCounts::default(),
            };
            let mut resolved = bound.clone();
            exec.resolve(&mut resolved, &[], &|_| true)?;
            let value = resolved.eval_output(&[], &mut exec.ctx)?;
            Ok((value, exec.ctx.warnings))
        })?;
        self.absorb(&warnings);
        Ok(value)
    }

    /// Binds a query (any body, ORDER BY, LIMIT) nested in `outer`. Its
    /// WITH names are visible while it binds (to its own subqueries too).
    pub(super) fn bind_query(&self, query: &ast::Query, outer: &Scope) -> Result<QueryPlan> {
        let Some(with) = &query.with else {
            return self.bind_query_body(query, outer);
        };
        let depth = self.ctes.borrow().len();
        for cte in &with.cte_tables {
            let name = cte.alias.name.value.clone();
            let duplicate = self.ctes.borrow()[depth..]
                .iter()
                .any(|c| c.name.eq_ignore_ascii_case(&name));
            if duplicate {
                self.ctes.borrow_mut().truncate(depth);
                return Err(StatementError::NotUniqueTable(name));
            }
            self.ctes.borrow_mut().push(Cte {
                name,
                query: cte.query.clone(),
                columns: cte
                    .alias
                    .columns
                    .iter()
                    .map(|c| c.name.value.clone())
                    .collect(),
                recursive: with.recursive,
                working: None,
            });
        }
        let plan = self.bind_query_body(query, outer);
        self.ctes.borrow_mut().truncate(depth);
        plan
    }

    /// The common table expression `name` refers to, bound as a derived
    /// table: it sees only the CTEs defined before it (a recursive one
    /// also itself, in its recursive part).
    fn bind_cte(&self, name: &ast::ObjectName) -> Result<Option<(String, CteSource)>> {
        let [part] = name.0.as_slice() else {
            return Ok(None);
        };
        let Some(ident) = part.as_ident() else {
            return Ok(None);
        };
        let found = self
            .ctes
            .borrow()
            .iter()
            .rposition(|c| c.name.eq_ignore_ascii_case(&ident.value));
        let Some(position) = found else {
            return Ok(None);
        };
        if let Some(cte) = self.ctes.borrow().get(position) {
            if let Some((working, columns)) = &cte.working {
                working
                    .used
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                let source = CteSource::Working(working.clone(), columns.clone());
                return Ok(Some((cte.name.clone(), source)));
            }
        }
        let later = self.ctes.borrow_mut().split_off(position);
        let Some(cte) = later.first() else {
            return Ok(None);
        };
        let plan = match cte.query.body.as_ref() {
            ast::SetExpr::SetOperation {
                left,
                op: ast::SetOperator::Union,
                set_quantifier,
                right,
            } if cte.recursive => self.bind_recursive_cte(cte, left, set_quantifier, right),
            _ => self
                .bind_query(&cte.query, &Scope::default())
                .and_then(|mut plan| {
                    if !cte.columns.is_empty() {
                        plan.rename_columns(&cte.columns)?;
                    }
                    Ok(plan)
                }),
        };
        let cte_name = cte.name.clone();
        self.ctes.borrow_mut().extend(later);
        Ok(Some((cte_name, CteSource::Plan(plan?))))
    }

    /// `WITH RECURSIVE name AS (anchor UNION [ALL] recursive part)`: the
    /// anchor fixes the columns and their types; the recursive part binds
    /// with `name` reading the previous round's rows. A part that never
    /// names the CTE makes an ordinary UNION.
    fn bind_recursive_cte(
        &self,
        cte: &Cte,
        left: &ast::SetExpr,
        set_quantifier: &ast::SetQuantifier,
        right: &ast::SetExpr,
    ) -> Result<QueryPlan> {
        if !order_items(&cte.query)?.is_empty() || cte.query.limit_clause.is_some() {
            return Err(StatementError::Unsupported(
                "ORDER BY or LIMIT in a recursive WITH".into(),
            ));
        }
        let mut anchor = self.bind_set_expr(left, &Scope::default())?;
        if !cte.columns.is_empty() {
            anchor.rename_columns(&cte.columns)?;
        }
        let types = anchor.types().to_vec();
        let columns: Vec<Column> = anchor
            .columns()
            .iter()
            .zip(&types)
            .map(|(c, t)| column_definition(t, true, &c.name))
            .collect();
        let working = Working::default();
        let scope_columns = columns
            .iter()
            .zip(&types)
            .map(|(c, t)| ScopeColumn {
                name: c.name.clone(),
                sql_type: *t,
                nullable: true,
                hidden: false,
            })
            .collect();
        self.ctes.borrow_mut().push(Cte {
            name: cte.name.clone(),
            query: cte.query.clone(),
            columns: Vec::new(),
            recursive: false,
            working: Some((working.clone(), scope_columns)),
        });
        let step = self.bind_set_expr(right, &Scope::default());
        self.ctes.borrow_mut().pop();
        let step = step?;
        if step.columns().len() != columns.len() {
            return Err(StatementError::UnionColumns);
        }
        let rounds_max = self
            .system_variable("cte_max_recursion_depth")?
            .to_i128(&mut crate::error::Warnings::default())
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(1000);
        let used = working.used.load(std::sync::atomic::Ordering::Relaxed);
        Ok(QueryPlan::SetOp(Box::new(SetOpPlan {
            left: anchor,
            right: step,
            distinct: !matches!(
                set_quantifier,
                ast::SetQuantifier::All | ast::SetQuantifier::AllByName
            ),
            columns,
            types,
            order: Vec::new(),
            limit: None,
            offset: 0,
            recursion: used.then_some(Recursion {
                working,
                rounds_max,
            }),
        })))
    }

    fn bind_query_body(&self, query: &ast::Query, outer: &Scope) -> Result<QueryPlan> {
        let (limit, offset) = self.limit_offset(query)?;
        let order = order_items(query)?;
        match query.body.as_ref() {
            ast::SetExpr::Select(select) => Ok(QueryPlan::Select(Box::new(
                self.bind_select(select, &order, limit, offset, outer)?,
            ))),
            body => {
                let mut plan = self.bind_set_expr(body, outer)?;
                if order.is_empty() && limit.is_none() && offset == 0 {
                    return Ok(plan);
                }
                // ORDER BY / LIMIT over the whole set operation.
                let QueryPlan::SetOp(set) = &mut plan else {
                    // A parenthesized single query with its own order.
                    return Ok(plan);
                };
                set.order = self.bind_output_order(&order, &set.columns, &set.types)?;
                set.limit = limit;
                set.offset = offset;
                Ok(plan)
            }
        }
    }

    fn bind_set_expr(&self, body: &ast::SetExpr, outer: &Scope) -> Result<QueryPlan> {
        match body {
            ast::SetExpr::Select(select) => Ok(QueryPlan::Select(Box::new(self.bind_select(
                select,
                &[],
                None,
                0,
                outer,
            )?))),
            ast::SetExpr::Query(query) => self.bind_query(query, outer),
            ast::SetExpr::SetOperation {
                left,
                op,
                set_quantifier,
                right,
            } => {
                if *op != ast::SetOperator::Union {
                    return Err(StatementError::Unsupported(format!("{op}")));
                }
                let distinct = !matches!(
                    set_quantifier,
                    ast::SetQuantifier::All | ast::SetQuantifier::AllByName
                );
                let left = self.bind_set_expr(left, outer)?;
                let right = self.bind_set_expr(right, outer)?;
                if left.columns().len() != right.columns().len() {
                    return Err(StatementError::UnionColumns);
                }
                let types: Vec<SqlType> = left
                    .types()
                    .iter()
                    .zip(right.types())
                    .map(|(a, b)| crate::expr::aggregate_types(&[*a, *b]))
                    .collect();
                let columns = left
                    .columns()
                    .iter()
                    .zip(&types)
                    .map(|(c, t)| column_definition(t, true, &c.name))
                    .collect();
                Ok(QueryPlan::SetOp(Box::new(SetOpPlan {
                    left,
                    right,
                    distinct,
                    columns,
                    types,
                    order: Vec::new(),
                    limit: None,
                    offset: 0,
                    recursion: None,
                })))
            }
            other => Err(StatementError::Unsupported(format!("query {other}"))),
        }
    }

    /// ORDER BY over output columns (set operations): by position or name.
    fn bind_output_order(
        &self,
        items: &[&ast::OrderByExpr],
        columns: &[Column],
        types: &[SqlType],
    ) -> Result<Vec<(Expr, bool)>> {
        let mut scope = Scope::default();
        scope.push(
            "",
            "",
            columns
                .iter()
                .zip(types)
                .map(|(c, t)| ScopeColumn {
                    name: c.name.clone(),
                    sql_type: *t,
                    nullable: true,
                    hidden: false,
                })
                .collect(),
        );
        let mut binder = Binder {
            env: self,
            scope,
            aggregates: None,
            context: "order clause",
            outer_references: Default::default(),
        };
        let mut out = Vec::new();
        for item in items {
            let descending = matches!(item.options.sort, Some(ast::OrderBySort::Desc));
            let expr = match position_of(&item.expr) {
                Some(p) if p >= 1 && p <= columns.len() => Expr::column(p - 1, types[p - 1], true),
                Some(_) => {
                    return Err(StatementError::UnknownColumn {
                        column: item.expr.to_string(),
                        context: "order clause".into(),
                    })
                }
                None => binder.bind(&item.expr)?,
            };
            out.push((expr, descending));
        }
        Ok(out)
    }

    /// Adds `a JOIN b ...` to the scope: its sources, and its ON / USING
    /// conditions by the position of the source they join. `a RIGHT JOIN
    /// b` is bound as `b LEFT JOIN a`, as MySQL rewrites it; NATURAL JOIN
    /// is USING over the columns both sides name.
    fn bind_joins<'q>(
        &self,
        from: &'q ast::TableWithJoins,
        scope: &mut Scope,
        sources: &mut Vec<Source>,
        on_conditions: &mut Vec<(usize, &'q ast::Expr)>,
        using: &mut Vec<(usize, Vec<String>)>,
    ) -> Result<()> {
        let start = sources.len();
        let right_first = from
            .joins
            .first()
            .and_then(|join| match &join.join_operator {
                ast::JoinOperator::Right(c) | ast::JoinOperator::RightOuter(c) => Some((join, c)),
                _ => None,
            });
        let joins = from.joins.iter().skip(usize::from(right_first.is_some()));
        if let Some((join, constraint)) = right_first {
            // b first, then a as the LEFT JOIN's inner side.
            if matches!(from.relation, ast::TableFactor::NestedJoin { .. }) {
                return Err(StatementError::Unsupported(
                    "RIGHT JOIN of a parenthesized join".into(),
                ));
            }
            self.bind_factor(&join.relation, scope, sources, on_conditions, using)?;
            let right_end = sources.len();
            self.bind_from_item(&from.relation, scope, sources)?;
            let position = sources.len() - 1;
            sources[position].left_join = true;
            if matches!(constraint, ast::JoinConstraint::On(_)) {
                // SELECT * keeps the FROM text's order.
                sources[position].display = start;
                for source in &mut sources[start..right_end] {
                    source.display += 1;
                }
            }
            self.join_constraint(
                constraint,
                position,
                start,
                scope,
                sources,
                on_conditions,
                using,
            )?;
        } else {
            self.bind_factor(&from.relation, scope, sources, on_conditions, using)?;
        }
        for join in joins {
            let (left_join, constraint) = match &join.join_operator {
                ast::JoinOperator::Join(c)
                | ast::JoinOperator::Inner(c)
                | ast::JoinOperator::CrossJoin(c)
                | ast::JoinOperator::StraightJoin(c) => (false, c),
                ast::JoinOperator::Left(c) | ast::JoinOperator::LeftOuter(c) => (true, c),
                ast::JoinOperator::Right(_) | ast::JoinOperator::RightOuter(_) => {
                    return Err(StatementError::Unsupported(
                        "RIGHT JOIN after another join (its left side is a join)".into(),
                    ))
                }
                other => return Err(StatementError::Unsupported(format!("join {other:?}"))),
            };
            if left_join && matches!(join.relation, ast::TableFactor::NestedJoin { .. }) {
                return Err(StatementError::Unsupported(
                    "LEFT JOIN of a parenthesized join".into(),
                ));
            }
            self.bind_factor(&join.relation, scope, sources, on_conditions, using)?;
            let position = sources.len() - 1;
            sources[position].left_join = left_join;
            self.join_constraint(
                constraint,
                position,
                start,
                scope,
                sources,
                on_conditions,
                using,
            )?;
        }
        Ok(())
    }

    /// Records the ON / USING / NATURAL condition joining the source at
    /// `position` to the sources from `start` before it.
    #[allow(clippy::too_many_arguments)]
    fn join_constraint<'q>(
        &self,
        constraint: &'q ast::JoinConstraint,
        position: usize,
        start: usize,
        scope: &Scope,
        sources: &[Source],
        on_conditions: &mut Vec<(usize, &'q ast::Expr)>,
        using: &mut Vec<(usize, Vec<String>)>,
    ) -> Result<()> {
        match constraint {
            ast::JoinConstraint::On(e) => on_conditions.push((position, e)),
            ast::JoinConstraint::Using(names) => {
                let names = names
                    .iter()
                    .map(|n| ident_name(n).map(|p| p.join(".")))
                    .collect::<Result<Vec<_>>>()?;
                using.push((position, names));
            }
            ast::JoinConstraint::Natural => {
                // The columns the new source shares by name with the
                // sources joined before it in this FROM item.
                let visible = |offset: usize| {
                    scope
                        .tables
                        .iter()
                        .filter(move |t| t.level == scope.level && t.offset == offset)
                        .flat_map(|t| t.columns.iter().filter(|c| !c.hidden))
                };
                let left: Vec<&ScopeColumn> = sources[start..position]
                    .iter()
                    .flat_map(|s| visible(s.offset))
                    .collect();
                let mut names: Vec<String> = Vec::new();
                for column in visible(sources[position].offset) {
                    let shared = left
                        .iter()
                        .any(|l| l.name.eq_ignore_ascii_case(&column.name));
                    if shared && !names.iter().any(|n| n.eq_ignore_ascii_case(&column.name)) {
                        names.push(column.name.clone());
                    }
                }
                using.push((position, names));
            }
            ast::JoinConstraint::None => {}
            other => return Err(StatementError::Unsupported(format!("join {other:?}"))),
        }
        Ok(())
    }

    /// One FROM item; a parenthesized inner join is the same as its
    /// tables listed in place.
    fn bind_factor<'q>(
        &self,
        factor: &'q ast::TableFactor,
        scope: &mut Scope,
        sources: &mut Vec<Source>,
        on_conditions: &mut Vec<(usize, &'q ast::Expr)>,
        using: &mut Vec<(usize, Vec<String>)>,
    ) -> Result<()> {
        match factor {
            ast::TableFactor::NestedJoin {
                table_with_joins,
                alias: None,
            } => self.bind_joins(table_with_joins, scope, sources, on_conditions, using),
            other => self.bind_from_item(other, scope, sources),
        }
    }

    /// Adds a FROM item (base table or derived table) to the scope.
    fn bind_from_item(
        &self,
        factor: &ast::TableFactor,
        scope: &mut Scope,
        sources: &mut Vec<Source>,
    ) -> Result<()> {
        match factor {
            ast::TableFactor::Table { name, alias, .. } => {
                if let Some((cte, source)) = self.bind_cte(name)? {
                    let alias = alias.as_ref().map_or(cte, |a| a.name.value.clone());
                    let (working, columns) = match source {
                        CteSource::Plan(plan) => {
                            return self.push_derived(plan, alias, scope, sources)
                        }
                        CteSource::Working(working, columns) => (working, columns),
                    };
                    let schema = self.database.clone().unwrap_or_default();
                    return push_source(
                        SourceKind::Working(working),
                        alias,
                        &schema,
                        columns,
                        scope,
                        sources,
                    );
                }
                if let Some((table, columns, rows)) = self.information_schema(name)? {
                    let alias = alias.as_ref().map_or(table, |a| a.name.value.clone());
                    return push_source(
                        SourceKind::Rows(rows),
                        alias,
                        "information_schema",
                        columns,
                        scope,
                        sources,
                    );
                }
                if let Some((view, query)) = self.view_query(name)? {
                    let plan = self.bind_query(&query, &Scope::default())?;
                    let alias = alias.as_ref().map_or(view, |a| a.name.value.clone());
                    return self.push_derived(plan, alias, scope, sources);
                }
                let meta = self.lookup(name)?;
                let alias = match alias {
                    Some(a) => a.name.value.clone(),
                    None => meta.name.clone(),
                };
                let (schema, columns) = (meta.schema.clone(), table_columns(&meta));
                push_source(
                    SourceKind::Table(meta),
                    alias,
                    &schema,
                    columns,
                    scope,
                    sources,
                )
            }
            ast::TableFactor::Derived {
                lateral: false,
                subquery,
                alias,
                ..
            } => {
                let Some(alias) = alias else {
                    return Err(StatementError::Server(floe_server::SqlError {
                        code: 1248,
                        sql_state: *b"42000",
                        message: "Every derived table must have its own alias".into(),
                    }));
                };
                // A derived table does not see the outer query (no LATERAL).
                let mut plan = self.bind_query(subquery, &Scope::default())?;
                if !alias.columns.is_empty() {
                    let names: Vec<String> =
                        alias.columns.iter().map(|c| c.name.value.clone()).collect();
                    plan.rename_columns(&names)?;
                }
                self.push_derived(plan, alias.name.value.clone(), scope, sources)
            }
            other => Err(StatementError::Unsupported(format!("FROM {other}"))),
        }
    }

    fn push_derived(
        &self,
        plan: QueryPlan,
        alias: String,
        scope: &mut Scope,
        sources: &mut Vec<Source>,
    ) -> Result<()> {
        let columns: Vec<ScopeColumn> = plan
            .columns()
            .iter()
            .zip(plan.types())
            .map(|(c, t)| ScopeColumn {
                name: c.name.clone(),
                sql_type: *t,
                nullable: true,
                hidden: false,
            })
            .collect();
        let schema = self.database.clone().unwrap_or_default();
        push_source(
            SourceKind::Derived(plan),
            alias,
            &schema,
            columns,
            scope,
            sources,
        )
    }

    fn bind_select(
        &self,
        select: &ast::Select,
        order_by: &[&ast::OrderByExpr],
        limit: Option<usize>,
        offset: usize,
        outer: &Scope,
    ) -> Result<SelectPlan> {
        let mut scope = if outer.tables.is_empty() && outer.outer_width == 0 {
            Scope::default()
        } else {
            Scope::nested(outer)
        };
        let outer_width = scope.outer_width;
        // FROM: sources, and the join conditions.
        let mut sources: Vec<Source> = Vec::new();
        let mut on_conditions: Vec<(usize, &ast::Expr)> = Vec::new();
        let mut using: Vec<(usize, Vec<String>)> = Vec::new();
        for from in &select.from {
            self.bind_joins(
                from,
                &mut scope,
                &mut sources,
                &mut on_conditions,
                &mut using,
            )?;
        }
        if sources.len() > MAX_JOIN_TABLES {
            return Err(StatementError::Server(floe_server::SqlError {
                code: 1116,
                sql_state: *b"HY000",
                message: format!(
                    "Too many tables; Floe can only use {MAX_JOIN_TABLES} tables in a join"
                ),
            }));
        }
        let width = scope.width();
        let mut binder = Binder {
            env: self,
            scope,
            aggregates: None,
            context: "on clause",
            outer_references: Default::default(),
        };
        // Conjuncts: WHERE, inner ON; LEFT JOIN ON kept per source.
        let mut conjuncts = Vec::new();
        for (position, condition) in on_conditions {
            let bound = binder.bind(condition)?;
            if sources[position].left_join {
                split_conjuncts(bound, &mut sources[position].on);
            } else {
                split_conjuncts(bound, &mut conjuncts);
            }
        }
        // USING / NATURAL: (the column shown, the one merged into it), as
        // row indexes.
        let mut coalesced: Vec<(usize, usize)> = Vec::new();
        for (position, names) in using {
            for name in names {
                let right = &sources[position];
                let right_table = binder
                    .scope
                    .tables
                    .iter()
                    .find(|t| t.level == binder.scope.level && t.offset == right.offset)
                    .cloned();
                let Some(right_table) = right_table else {
                    continue;
                };
                let find = |table: &crate::bind::ScopeTable| {
                    table
                        .columns
                        .iter()
                        .position(|c| c.name.eq_ignore_ascii_case(&name))
                        .map(|i| {
                            let c = &table.columns[i];
                            Expr::column(table.offset + i, c.sql_type, c.nullable)
                        })
                };
                let unknown = || StatementError::UnknownColumn {
                    column: name.clone(),
                    context: "from clause".into(),
                };
                let right_column = find(&right_table).ok_or_else(unknown)?;
                let left_column = binder
                    .scope
                    .tables
                    .iter()
                    .filter(|t| t.level == binder.scope.level && t.offset < right.offset)
                    .find_map(find)
                    .ok_or_else(unknown)?;
                if let (Expr::Column { index: left, .. }, Expr::Column { index: right, .. }) =
                    (&left_column, &right_column)
                {
                    coalesced.push((*left, *right));
                }
                let equal = Expr::compare(CompareOp::Eq, left_column, right_column);
                if right.left_join {
                    sources[position].on.push(equal);
                } else {
                    conjuncts.push(equal);
                }
                binder.scope.merged.push(name.clone());
            }
        }
        binder.context = "where clause";
        if let Some(e) = &select.selection {
            let bound = binder.bind(e)?;
            split_conjuncts(bound, &mut conjuncts);
        }
        // GROUP BY (positions and aliases resolve against the select list).
        let group_by: Vec<&ast::Expr> = match &select.group_by {
            ast::GroupByExpr::Expressions(exprs, _) => exprs.iter().collect(),
            ast::GroupByExpr::All(_) => {
                return Err(StatementError::Unsupported("GROUP BY ALL".into()))
            }
        };
        // Projections, with aggregates allowed.
        binder.aggregates = Some(Vec::new());
        binder.context = "field list";
        let mut projections = Vec::new();
        let mut columns = Vec::new();
        let mut aliases: Vec<Option<String>> = Vec::new();
        let mut alias_items: Vec<Option<ast::Expr>> = Vec::new();
        for item in &select.projection {
            match item {
                ast::SelectItem::Wildcard(_) | ast::SelectItem::QualifiedWildcard(..) => {
                    let qualifier = match item {
                        ast::SelectItem::QualifiedWildcard(
                            ast::SelectItemQualifiedWildcardKind::ObjectName(name),
                            _,
                        ) => Some(ident_name(name)?.last().cloned().unwrap_or_default()),
                        ast::SelectItem::QualifiedWildcard(..) => {
                            return Err(StatementError::Unsupported(item.to_string()))
                        }
                        _ => None,
                    };
                    let mut any = false;
                    // `*` shows each USING / NATURAL column once, first
                    // (MySQL's coalesced columns); `t.*` shows all of t.
                    let mut shown: Vec<usize> = Vec::new();
                    let mut hidden: Vec<usize> = Vec::new();
                    if qualifier.is_none() {
                        for &(left, right) in &coalesced {
                            if !shown.contains(&left) && !hidden.contains(&left) {
                                shown.push(left);
                            }
                            hidden.push(right);
                        }
                        shown.sort_unstable();
                    }
                    let mut in_order: Vec<&Source> = sources.iter().collect();
                    in_order.sort_by_key(|s| s.display);
                    let mut listed: Vec<(usize, &Source)> = shown
                        .iter()
                        .filter_map(|&index| {
                            sources
                                .iter()
                                .find(|s| index >= s.offset && index < s.offset + s.width)
                                .map(|s| (index, s))
                        })
                        .collect();
                    for source in in_order {
                        if qualifier
                            .as_ref()
                            .is_some_and(|q| !q.eq_ignore_ascii_case(&source.alias))
                        {
                            continue;
                        }
                        any = true;
                        listed.extend(
                            (source.offset..source.offset + source.width)
                                .filter(|i| !shown.contains(i) && !hidden.contains(i))
                                .map(|i| (i, source)),
                        );
                    }
                    for (index, source) in listed {
                        let table =
                            binder.scope.tables.iter().find(|t| {
                                t.level == binder.scope.level && t.offset == source.offset
                            });
                        let i = index - source.offset;
                        let Some(c) = table.and_then(|t| t.columns.get(i)) else {
                            continue;
                        };
                        if c.hidden {
                            continue;
                        }
                        let expr = crate::bind::zoned_column(
                            index,
                            c.sql_type,
                            c.nullable,
                            self.time_zone_offset_s,
                        );
                        columns.push(self.source_column(source, i, &c.name, &expr));
                        projections.push(expr);
                        aliases.push(None);
                        alias_items.push(None);
                    }
                    if !any {
                        return Err(match qualifier {
                            Some(q) => StatementError::UnknownTable {
                                schema: String::new(),
                                table: q,
                            },
                            None => StatementError::Server(floe_server::SqlError {
                                code: 1096,
                                sql_state: *b"HY000",
                                message: "No tables used".into(),
                            }),
                        });
                    }
                }
                ast::SelectItem::UnnamedExpr(e)
                | ast::SelectItem::ExprWithAlias { expr: e, .. } => {
                    let expr = binder.bind(e)?;
                    let alias = match item {
                        ast::SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
                        _ => None,
                    };
                    let name = match (&alias, e) {
                        (Some(a), _) => a.clone(),
                        (None, ast::Expr::Identifier(i)) => i.value.clone(),
                        (None, ast::Expr::CompoundIdentifier(parts)) => {
                            parts.last().map(|p| p.value.clone()).unwrap_or_default()
                        }
                        // MySQL names a string literal's column by its text.
                        (None, ast::Expr::Value(v)) => match &v.value {
                            ast::Value::SingleQuotedString(text)
                            | ast::Value::DoubleQuotedString(text) => text.clone(),
                            other => other.to_string(),
                        },
                        (None, other) => other.to_string(),
                    };
                    let column = match &expr {
                        Expr::Column { index, .. } => sources
                            .iter()
                            .find(|s| *index >= s.offset && *index < s.offset + s.width)
                            .map(|s| self.source_column(s, index - s.offset, &name, &expr))
                            .unwrap_or_else(|| {
                                column_definition(&expr.result_type(), expr.nullable(), &name)
                            }),
                        _ => column_definition(&expr.result_type(), expr.nullable(), &name),
                    };
                    let mut column = column;
                    column.name = name;
                    columns.push(column);
                    projections.push(expr);
                    aliases.push(alias);
                    alias_items.push(Some(e.clone()));
                }
                other => return Err(StatementError::Unsupported(other.to_string())),
            }
        }
        // GROUP BY: no aggregates; position or select alias allowed.
        let saved = binder.aggregates.take();
        binder.context = "group statement";
        let mut group = Vec::new();
        for e in &group_by {
            let expr = match position_of(e) {
                Some(p) => projections.get(p.wrapping_sub(1)).cloned().ok_or_else(|| {
                    StatementError::UnknownColumn {
                        column: e.to_string(),
                        context: "group statement".into(),
                    }
                })?,
                None => match binder.bind(e) {
                    Ok(expr) => expr,
                    Err(StatementError::UnknownColumn { .. })
                        if alias_index(&aliases, e).is_some() =>
                    {
                        projections[alias_index(&aliases, e).unwrap_or(0)].clone()
                    }
                    Err(err) => return Err(err),
                },
            };
            group.push(expr);
        }
        binder.aggregates = saved;
        binder.context = "having clause";
        let having = match &select.having {
            Some(e) => Some(match binder.bind(e) {
                Err(StatementError::UnknownColumn { .. }) => {
                    // HAVING may name select aliases.
                    self.bind_with_aliases(&mut binder, e, &aliases, &alias_items)?
                }
                other => other?,
            }),
            None => None,
        };
        binder.context = "order clause";
        let mut order = Vec::new();
        for item in order_by {
            let descending = matches!(item.options.sort, Some(ast::OrderBySort::Desc));
            let expr = if let Some(p) = position_of(&item.expr) {
                projections.get(p.wrapping_sub(1)).cloned().ok_or_else(|| {
                    StatementError::UnknownColumn {
                        column: item.expr.to_string(),
                        context: "order clause".into(),
                    }
                })?
            } else if let Some(i) = alias_index(&aliases, &item.expr) {
                projections[i].clone()
            } else {
                binder.bind(&item.expr)?
            };
            order.push((expr, descending));
        }
        let slots = binder.aggregates.take().unwrap_or_default();
        let aggregate = !group.is_empty() || having.is_some() || !slots.is_empty();
        let distinct = matches!(select.distinct, Some(ast::Distinct::Distinct));
        if matches!(select.distinct, Some(ast::Distinct::On(_))) {
            return Err(StatementError::Unsupported("DISTINCT ON".into()));
        }
        let types = projections.iter().map(Expr::result_type).collect();
        let outer_references: Vec<usize> =
            binder.outer_references.borrow().iter().copied().collect();
        drop(binder);
        let plan = SelectPlan {
            outer_width,
            width,
            sources,
            conjuncts,
            aggregate,
            group,
            slots,
            having,
            projections,
            distinct,
            order,
            limit,
            offset,
            columns,
            types,
            outer_references,
        };
        Ok(plan)
    }

    /// Binds `e` with select aliases standing for their expressions.
    fn bind_with_aliases(
        &self,
        binder: &mut Binder<'_>,
        e: &ast::Expr,
        aliases: &[Option<String>],
        items: &[Option<ast::Expr>],
    ) -> Result<Expr> {
        let rewritten = replace_aliases(e, aliases, items);
        binder.bind(&rewritten)
    }

    fn source_column(&self, source: &Source, index: usize, name: &str, expr: &Expr) -> Column {
        match &source.kind {
            SourceKind::Table(meta) if index < meta.columns.len() => {
                let mut c = self.table_column(meta, &source.alias, index);
                c.name = name.to_string();
                c
            }
            _ => {
                let mut c = column_definition(&expr.result_type(), expr.nullable(), name);
                c.table = source.alias.clone();
                c
            }
        }
    }
}

/// `e` with identifiers that name select aliases replaced by the aliased
/// expressions (HAVING may name aliases).
/// Adds a FROM source named `alias` (unique in this FROM: else 1066) with
/// `columns` to the scope and the source list.
fn push_source(
    kind: SourceKind,
    alias: String,
    schema: &str,
    columns: Vec<ScopeColumn>,
    scope: &mut Scope,
    sources: &mut Vec<Source>,
) -> Result<()> {
    if sources.iter().any(|s| s.alias.eq_ignore_ascii_case(&alias)) {
        return Err(StatementError::NotUniqueTable(alias));
    }
    let width = columns.len();
    let offset = scope.push(&alias, schema, columns);
    sources.push(Source {
        kind,
        alias,
        offset,
        width,
        left_join: false,
        display: sources.len(),
        on: Vec::new(),
    });
    Ok(())
}

fn replace_aliases(
    e: &ast::Expr,
    aliases: &[Option<String>],
    items: &[Option<ast::Expr>],
) -> ast::Expr {
    let again = |x: &ast::Expr| Box::new(replace_aliases(x, aliases, items));
    match e {
        ast::Expr::Identifier(_) => match alias_index(aliases, e).and_then(|i| items.get(i)) {
            Some(Some(item)) => ast::Expr::Nested(Box::new(item.clone())),
            _ => e.clone(),
        },
        ast::Expr::BinaryOp { left, op, right } => ast::Expr::BinaryOp {
            left: again(left),
            op: op.clone(),
            right: again(right),
        },
        ast::Expr::UnaryOp { op, expr } => ast::Expr::UnaryOp {
            op: *op,
            expr: again(expr),
        },
        ast::Expr::Nested(inner) => ast::Expr::Nested(again(inner)),
        ast::Expr::IsNull(inner) => ast::Expr::IsNull(again(inner)),
        ast::Expr::IsNotNull(inner) => ast::Expr::IsNotNull(again(inner)),
        _ => e.clone(),
    }
}

fn alias_index(aliases: &[Option<String>], e: &ast::Expr) -> Option<usize> {
    let ast::Expr::Identifier(i) = e else {
        return None;
    };
    aliases.iter().position(|a| {
        a.as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case(&i.value))
    })
}

// ---- execution -------------------------------------------------------------

/// Runs plans inside one statement's transaction.
struct Exec<'a, 's> {
    /// None only for queries without tables.
    trx: Option<&'a mut Trx>,
    interrupt: &'a Interrupt,
    /// Joined rows tried, for checking the interrupt every
    /// INTERRUPT_CHECK_ROWS of them (a join over held rows reads no index).
    tried: usize,
    lock: LockRead,
    ctx: EvalContext,
    /// Where the statement's own SELECT sends rows as they are made, when
    /// it needs no grouping, DISTINCT or ORDER BY (taken by the first
    /// `run_select`, so subqueries never see it).
    stream: Option<RowStream<'s>>,
    /// Rows the statement's index reads returned (SHOW STATUS'
    /// Handler_read_*).
    reads: ReadCounts,
}

/// Rows read, by kind, as MySQL's Handler_read_* counters: `key` point
/// lookups, `next` / `prev` rows of index ranges read forward /
/// backward, `rnd_next` rows of full clustered scans read forward
/// (ordered by the primary key or not).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct ReadCounts {
    pub(super) key: u64,
    pub(super) next: u64,
    pub(super) prev: u64,
    pub(super) rnd_next: u64,
}

impl ReadCounts {
    pub(super) fn add(&mut self, other: &ReadCounts) {
        self.key += other.key;
        self.next += other.next;
        self.prev += other.prev;
        self.rnd_next += other.rnd_next;
    }
}

type RowStream<'a> = &'a mut dyn FnMut(Vec<Value>) -> Result<()>;

/// How one join step finds its rows.
enum Method {
    /// The first step, or an index lookup per outer row.
    Access,
    /// A hash of the step's rows on `inner`, probed with `outer`.
    Hash { inner: Expr, outer: Expr },
    /// Every row of the step's table, read once.
    Loop,
}

struct Step {
    source: usize,
    method: Method,
    /// The source's columns the statement reads (a covering index may
    /// serve them).
    needed: Vec<bool>,
    /// Conjuncts decided at this step (inner joins), or the LEFT JOIN's ON.
    matching: Vec<Expr>,
    /// WHERE conjuncts decided after a LEFT JOIN's NULL row.
    after: Vec<Expr>,
    /// The first step's access path when chosen before the join (an
    /// index read in ORDER BY order).
    preset: Option<Access>,
}

/// A step's rows read once (loop and hash methods).
struct Held {
    rows: Vec<Vec<Value>>,
    hash: Option<HashMap<Vec<u8>, Vec<usize>>>,
}

/// A key under which values equal by `=` meet, when both sides share a
/// key type; None when the value is NULL (never equal).
fn hash_key(value: &Value, class: TypeClass, key: Option<KeyColumn>) -> Option<Vec<u8>> {
    if value.is_null() {
        return None;
    }
    let mut out = Vec::new();
    match class {
        TypeClass::Int | TypeClass::Decimal | TypeClass::Double => {
            let mut warnings = Warnings::default();
            let number = value.to_f64(&mut warnings)?;
            let number = if number == 0.0 { 0.0 } else { number };
            out.extend_from_slice(&number.to_bits().to_be_bytes());
        }
        _ => {
            let column = key?;
            encode_key(std::slice::from_ref(value), &[column], &mut out).ok()?;
        }
    }
    Some(out)
}

/// The key class two sides of an equality can be hashed in, if any.
fn hash_class(left: &SqlType, right: &SqlType) -> Option<(TypeClass, Option<KeyColumn>)> {
    let numeric =
        |c: TypeClass| matches!(c, TypeClass::Int | TypeClass::Decimal | TypeClass::Double);
    let (lc, rc) = (left.class(), right.class());
    if numeric(lc) && numeric(rc) {
        return Some((TypeClass::Double, None));
    }
    if lc == TypeClass::String && rc == TypeClass::String && left.collation() == right.collation() {
        return Some((TypeClass::String, KeyColumn::for_type(left)));
    }
    None
}

impl Exec<'_, '_> {
    fn run(&mut self, plan: &QueryPlan, outer: &[Value]) -> Result<Vec<Vec<Value>>> {
        match plan {
            QueryPlan::Select(select) => self.run_select(select, outer),
            QueryPlan::SetOp(set) => {
                let mut rows = match &set.recursion {
                    None => {
                        let mut rows = self.run(&set.left, outer)?;
                        rows.extend(self.run(&set.right, outer)?);
                        rows
                    }
                    Some(recursion) => self.recurse(set, recursion, outer)?,
                };
                if set.distinct {
                    rows = distinct_rows(rows, &set.types);
                }
                let mut keyed = Vec::with_capacity(rows.len());
                for row in rows {
                    let keys = set
                        .order
                        .iter()
                        .map(|(e, _)| e.eval_output(&row, &mut self.ctx))
                        .collect::<std::result::Result<Vec<_>, _>>()?;
                    keyed.push((keys, row));
                }
                let descending: Vec<bool> = set.order.iter().map(|(_, d)| *d).collect();
                Ok(order_and_limit(keyed, &descending, set.limit, set.offset))
            }
        }
    }

    /// A recursive CTE: the anchor's rows, then rounds of the recursive
    /// part over the rows the last round added (new ones only under UNION
    /// DISTINCT) until a round adds none; more than cte_max_recursion_depth
    /// rounds is MySQL's 3636.
    fn recurse(
        &mut self,
        set: &SetOpPlan,
        recursion: &Recursion,
        outer: &[Value],
    ) -> Result<Vec<Vec<Value>>> {
        let mut seen = HashSet::new();
        let mut all = self.run(&set.left, outer)?;
        if set.distinct {
            all.retain(|r| seen.insert(row_key(r, &set.types)));
        }
        let mut frontier = all.clone();
        let mut rounds = 0u64;
        while !frontier.is_empty() {
            if rounds >= recursion.rounds_max {
                return Err(StatementError::Server(floe_server::SqlError {
                    code: 3636,
                    sql_state: *b"HY000",
                    message: format!(
                        "Recursive query aborted after {} iterations. Try increasing \
                         @@cte_max_recursion_depth to a larger value.",
                        rounds + 1
                    ),
                }));
            }
            rounds += 1;
            *recursion.working.rows.lock() = frontier;
            let mut made = self.run(&set.right, outer)?;
            if set.distinct {
                made.retain(|r| seen.insert(row_key(r, &set.types)));
            }
            all.extend(made.iter().cloned());
            frontier = made;
            self.interrupt.check()?;
        }
        Ok(all)
    }

    /// Runs `plan` for `row` (its first `outer_width` values are the outer
    /// query's) and turns the result into what `kind` asks.
    fn subquery(
        &mut self,
        plan: &Arc<dyn SubqueryPlan>,
        kind: SubqueryKind,
        operand: Option<Expr>,
        row: &[Value],
    ) -> Result<Expr> {
        let Some(bound) = plan.as_any().downcast_ref::<BoundSubquery>() else {
            return Err(StatementError::Storage(
                "subquery of another executor".into(),
            ));
        };
        let columns = bound.plan.columns().len();
        let rows = self.run(&bound.plan, row)?;
        Ok(match kind {
            SubqueryKind::Exists => Expr::Literal(Value::Int(i64::from(!rows.is_empty()))),
            SubqueryKind::Scalar => {
                if columns != 1 {
                    return Err(StatementError::OperandColumns(1));
                }
                let mut rows = rows.into_iter();
                let first = rows.next();
                if rows.next().is_some() {
                    return Err(StatementError::SubqueryRows);
                }
                let value = first
                    .and_then(|r| r.into_iter().next())
                    .unwrap_or(Value::Null);
                Expr::Literal(value)
            }
            SubqueryKind::In { negated } => {
                if columns != 1 {
                    return Err(StatementError::OperandColumns(1));
                }
                let Some(operand) = operand else {
                    return Err(StatementError::Storage(
                        "IN subquery without operand".into(),
                    ));
                };
                if rows.is_empty() {
                    // x IN (empty) is false, even for a NULL x.
                    return Ok(Expr::Literal(Value::Int(i64::from(negated))));
                }
                Expr::InList {
                    operand: Box::new(operand),
                    list: rows
                        .into_iter()
                        .filter_map(|r| r.into_iter().next())
                        .map(Expr::Literal)
                        .collect(),
                    negated,
                }
            }
        })
    }

    /// Resolves the subqueries of `expr` that `which` selects, against `row`.
    fn resolve(
        &mut self,
        expr: &mut Expr,
        row: &[Value],
        which: &dyn Fn(&dyn SubqueryPlan) -> bool,
    ) -> Result<()> {
        expr.resolve_subqueries(
            &|plan: &Arc<dyn SubqueryPlan>| which(plan.as_ref()),
            &mut |plan, kind, operand| self.subquery(plan, kind, operand, row),
        )
    }

    /// Evaluates `expr` on `row`, running the subqueries left in it.
    fn eval(&mut self, expr: &Expr, row: &[Value]) -> Result<Value> {
        if expr.has_subquery() {
            let mut resolved = expr.clone();
            self.resolve(&mut resolved, row, &|_| true)?;
            return Ok(resolved.eval(row, &mut self.ctx)?);
        }
        Ok(expr.eval(row, &mut self.ctx)?)
    }

    fn truth(&mut self, expr: &Expr, row: &[Value]) -> Result<bool> {
        let value = self.eval(expr, row)?;
        Ok(value.truth(&mut self.ctx.warnings) == Some(true))
    }

    fn all_true(&mut self, exprs: &[Expr], row: &[Value]) -> Result<bool> {
        for e in exprs {
            if !self.truth(e, row)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn run_select(&mut self, plan: &SelectPlan, outer: &[Value]) -> Result<Vec<Vec<Value>>> {
        let mut stream = self.stream.take();
        let (mut skipped, mut sent) = (0usize, 0usize);
        // Subqueries that read nothing of this query's own tables run once.
        let mut base: Vec<Value> = outer.iter().take(plan.outer_width).cloned().collect();
        base.resize(plan.width, Value::Null);
        let outer_width = plan.outer_width;
        let once = move |p: &dyn SubqueryPlan| {
            p.outer_references().last().is_none_or(|i| *i < outer_width)
        };
        let mut conjuncts = plan.conjuncts.clone();
        for e in &mut conjuncts {
            self.resolve(e, &base, &once)?;
        }
        let mut sources_on: Vec<Vec<Expr>> = plan.sources.iter().map(|s| s.on.clone()).collect();
        for on in &mut sources_on {
            for e in on.iter_mut() {
                self.resolve(e, &base, &once)?;
            }
        }
        let mut projections = plan.projections.clone();
        for e in &mut projections {
            self.resolve(e, &base, &once)?;
        }
        let mut group = plan.group.clone();
        for e in &mut group {
            self.resolve(e, &base, &once)?;
        }
        let mut having = plan.having.clone();
        if let Some(e) = &mut having {
            self.resolve(e, &base, &once)?;
        }
        let mut order = plan.order.clone();
        for (e, _) in &mut order {
            self.resolve(e, &base, &once)?;
        }
        let mut slots = plan.slots.clone();
        for slot in &mut slots {
            if let Some(argument) = &mut slot.argument {
                self.resolve(argument, &base, &once)?;
                if argument.has_subquery() {
                    return Err(StatementError::Unsupported(
                        "a correlated subquery in an aggregate's argument".into(),
                    ));
                }
            }
        }
        // A constant false WHERE reads nothing.
        let mut steps = self.plan_steps(plan, conjuncts, sources_on);
        let aggregate = plan.aggregate;
        // An index read in ORDER BY order: no sort, and LIMIT stops it.
        let ordered = match ordered_access(plan, &steps, &order, &base) {
            Some(access) => {
                if let Some(first) = steps.first_mut() {
                    first.preset = Some(access);
                }
                true
            }
            None => false,
        };
        let stop_after = if (ordered || order.is_empty()) && !aggregate && !plan.distinct {
            plan.limit.map(|l| l.saturating_add(plan.offset))
        } else {
            None
        };
        let mut joined: Vec<Vec<Value>> = Vec::new();
        let mut out: Vec<(Vec<Value>, Vec<Value>)> = Vec::new();
        let mut held: Vec<Option<Held>> = (0..steps.len()).map(|_| None).collect();
        let (limit, offset) = (plan.limit, plan.offset);
        let mut row = base.clone();
        {
            let mut emit = |exec: &mut Exec<'_, '_>, row: &[Value]| -> Result<bool> {
                if aggregate {
                    joined.push(row.to_vec());
                    return Ok(true);
                }
                let keys = order
                    .iter()
                    .map(|(e, _)| exec.eval(e, row))
                    .collect::<Result<Vec<_>>>()?;
                let values = projections
                    .iter()
                    .map(|e| exec.eval(e, row))
                    .collect::<Result<Vec<_>>>()?;
                if let Some(stream) = stream.as_mut() {
                    if limit == Some(0) {
                        return Ok(false);
                    }
                    if skipped < offset {
                        skipped += 1;
                        return Ok(true);
                    }
                    stream(values)?;
                    sent += 1;
                    return Ok(limit.is_none_or(|l| sent < l));
                }
                out.push((keys, values));
                Ok(stop_after.is_none_or(|n| out.len() < n))
            };
            self.join(plan, &steps, 0, &mut row, &mut held, &mut emit)?;
        }
        if aggregate {
            let grouped = aggregate_rows(joined, &group, &slots, plan.width, &mut self.ctx)?;
            for row in grouped {
                if let Some(h) = &having {
                    if !self.truth(h, &row)? {
                        continue;
                    }
                }
                let keys = order
                    .iter()
                    .map(|(e, _)| self.eval(e, &row))
                    .collect::<Result<Vec<_>>>()?;
                let values = projections
                    .iter()
                    .map(|e| self.eval(e, &row))
                    .collect::<Result<Vec<_>>>()?;
                out.push((keys, values));
            }
        }
        if plan.distinct {
            let mut seen = HashSet::new();
            out.retain(|(_, values)| seen.insert(row_key(values, &plan.types)));
        }
        // ORDER BY keys compare as the client sees them.
        for (keys, _) in &mut out {
            for (key, (e, _)) in keys.iter_mut().zip(&order) {
                *key = finalize(std::mem::replace(key, Value::Null), &e.result_type());
            }
        }
        let descending: Vec<bool> = if ordered {
            Vec::new()
        } else {
            order.iter().map(|(_, d)| *d).collect()
        };
        Ok(order_and_limit(out, &descending, plan.limit, plan.offset))
    }

    /// Which source each column index belongs to (None: outer).
    fn sources_of(plan: &SelectPlan, expr: &Expr) -> (u64, bool) {
        let mut mask = 0u64;
        expr.for_each_column(&mut |index| {
            if let Some(position) = plan
                .sources
                .iter()
                .position(|s| index >= s.offset && index < s.offset + s.width)
            {
                mask |= 1u64 << position.min(63);
            }
        });
        // A correlated subquery may read any of this query's tables.
        let per_row = expr.has_subquery();
        (mask, per_row)
    }

    /// Per source, the columns anything in the plan reads (over-marking
    /// is harmless: it only rules out covering reads).
    fn needed_columns(plan: &SelectPlan) -> Vec<Vec<bool>> {
        fn mark(expr: &Expr, used: &mut [bool]) {
            match expr {
                Expr::Column { index, .. } => {
                    if let Some(u) = used.get_mut(*index) {
                        *u = true;
                    }
                }
                Expr::Subquery { plan, .. } => {
                    for &outer in plan.outer_references() {
                        if let Some(u) = used.get_mut(outer) {
                            *u = true;
                        }
                    }
                }
                _ => {}
            }
            expr.for_each_child(&mut |child| mark(child, used));
        }
        let mut used = vec![false; plan.width];
        let exprs = plan
            .projections
            .iter()
            .chain(&plan.conjuncts)
            .chain(&plan.group)
            .chain(plan.having.iter())
            .chain(plan.order.iter().map(|(e, _)| e))
            .chain(plan.slots.iter().filter_map(|s| s.argument.as_ref()))
            .chain(plan.sources.iter().flat_map(|s| s.on.iter()));
        for e in exprs {
            mark(e, &mut used);
        }
        plan.sources
            .iter()
            .map(|s| {
                used.get(s.offset..s.offset + s.width)
                    .map_or_else(|| vec![true; s.width], <[bool]>::to_vec)
            })
            .collect()
    }

    fn plan_steps(
        &self,
        plan: &SelectPlan,
        conjuncts: Vec<Expr>,
        sources_on: Vec<Vec<Expr>>,
    ) -> Vec<Step> {
        let count = plan.sources.len();
        let needed = Self::needed_columns(plan);
        let all: u64 = if count == 0 { 0 } else { (1u64 << count) - 1 };
        let mut pending: Vec<(Expr, u64)> = conjuncts
            .into_iter()
            .map(|e| {
                let (mask, per_row) = Self::sources_of(plan, &e);
                (e, if per_row { all } else { mask })
            })
            .collect();
        let has_left = plan.sources.iter().any(|s| s.left_join);
        // Join order.
        let mut order: Vec<usize> = Vec::new();
        let mut bound = 0u64;
        while order.len() < count {
            // One table, or LEFT JOIN: FROM order.
            let next = if has_left || count == 1 {
                order.len()
            } else {
                self.pick_next(plan, &pending, bound, &order, &needed)
            };
            order.push(next);
            bound |= 1u64 << next;
        }
        // Steps: each conjunct at the first step where its tables are bound.
        let mut steps = Vec::with_capacity(count);
        let mut bound = 0u64;
        for (position, &source) in order.iter().enumerate() {
            bound |= 1u64 << source;
            let mut decided = Vec::new();
            pending.retain(|(e, mask)| {
                if mask & !bound == 0 {
                    decided.push(e.clone());
                    false
                } else {
                    true
                }
            });
            let src = &plan.sources[source];
            let (matching, after) = if src.left_join {
                (sources_on[source].clone(), decided)
            } else {
                let mut m = decided;
                m.extend(sources_on[source].iter().cloned());
                (m, Vec::new())
            };
            let method = if position == 0 {
                Method::Access
            } else {
                self.method(plan, source, bound & !(1u64 << source), &matching)
            };
            steps.push(Step {
                source,
                method,
                needed: needed[source].clone(),
                matching,
                after,
                preset: None,
            });
        }
        // Conjuncts that read no table (constants, outer columns) go first.
        if !pending.is_empty() {
            let rest: Vec<Expr> = pending.into_iter().map(|(e, _)| e).collect();
            match steps.first_mut() {
                Some(first) => {
                    if plan.sources[first.source].left_join {
                        first.after.extend(rest);
                    } else {
                        first.matching.extend(rest);
                    }
                }
                None => steps.push(Step {
                    source: usize::MAX,
                    method: Method::Loop,
                    needed: Vec::new(),
                    matching: rest,
                    after: Vec::new(),
                    preset: None,
                }),
            }
        }
        steps
    }

    /// Equalities `source.column = <bound values>`: (column within the
    /// source, the other side).
    fn equalities<'e>(
        plan: &SelectPlan,
        source: usize,
        bound: u64,
        matching: &'e [Expr],
    ) -> Vec<(&'e Expr, &'e Expr)> {
        let mut out = Vec::new();
        for e in matching {
            let Expr::Compare {
                op: CompareOp::Eq,
                left,
                right,
            } = e
            else {
                continue;
            };
            for (mine, other) in [(left, right), (right, left)] {
                let (m, m_sub) = Self::sources_of(plan, mine);
                let (o, o_sub) = Self::sources_of(plan, other);
                if !m_sub && !o_sub && m == 1u64 << source && o & !bound == 0 {
                    out.push((mine.as_ref(), other.as_ref()));
                }
            }
        }
        out
    }

    fn method(&self, plan: &SelectPlan, source: usize, bound: u64, matching: &[Expr]) -> Method {
        let src = &plan.sources[source];
        let equalities = Self::equalities(plan, source, bound, matching);
        if let SourceKind::Table(meta) = &src.kind {
            let indexed = equalities.iter().any(|(mine, _)| {
                matches!(mine, Expr::Column { index, .. }
                    if meta.indexes.iter().any(|i| i.columns.first() == Some(&(index - src.offset))))
            });
            if indexed {
                return Method::Access;
            }
        }
        for (mine, other) in equalities {
            if hash_class(&mine.result_type(), &other.result_type()).is_some() {
                return Method::Hash {
                    inner: mine.clone(),
                    outer: other.clone(),
                };
            }
        }
        Method::Loop
    }

    /// The next table in the join order (see the module comment).
    fn pick_next(
        &self,
        plan: &SelectPlan,
        pending: &[(Expr, u64)],
        bound: u64,
        order: &[usize],
        needed: &[Vec<bool>],
    ) -> usize {
        let remaining: Vec<usize> = (0..plan.sources.len())
            .filter(|s| !order.contains(s))
            .collect();
        let conjuncts: Vec<Expr> = pending.iter().map(|(e, _)| e.clone()).collect();
        // A table's own access path: (estimated rows, old score).
        let own_access = |s: usize| -> (f64, usize) {
            match &plan.sources[s].kind {
                SourceKind::Table(meta) => {
                    let own: Vec<Expr> = pending
                        .iter()
                        .filter(|(_, mask)| *mask == 1u64 << s)
                        .map(|(e, _)| shift(e, plan.sources[s].offset))
                        .collect();
                    let access = plan::choose_read(
                        meta,
                        and_all(&own).as_ref(),
                        needed.get(s).map(|n| &n[..]),
                    );
                    let score = if access.point {
                        3
                    } else if access.is_full_scan() {
                        1
                    } else {
                        2
                    };
                    (access.rows.unwrap_or(f64::INFINITY), score)
                }
                SourceKind::Derived(_) | SourceKind::Rows(_) | SourceKind::Working(_) => {
                    (f64::INFINITY, 1)
                }
            }
        };
        if order.is_empty() {
            // Fewest estimated rows after its own conditions; the best
            // access path where there are no estimates; FROM order on ties.
            let mut best: Option<(f64, usize, usize)> = None;
            for &s in &remaining {
                let (rows, score) = own_access(s);
                let better = match best {
                    None => true,
                    Some((best_rows, best_score, _)) => {
                        rows < best_rows || (rows == best_rows && score > best_score)
                    }
                };
                if better {
                    best = Some((rows, score, s));
                }
            }
            return best.map_or(0, |(_, _, s)| s);
        }
        // Joined by an equality on an index's first column (an index
        // lookup per row): the one with the fewest estimated rows of its
        // own; else any joined by an equality; else FROM order.
        let mut indexed: Option<(f64, usize)> = None;
        let mut joined_by_equality = None;
        for &s in &remaining {
            let equalities = Self::equalities(plan, s, bound, &conjuncts);
            if equalities.is_empty() {
                continue;
            }
            if let SourceKind::Table(meta) = &plan.sources[s].kind {
                let offset = plan.sources[s].offset;
                if equalities.iter().any(|(mine, _)| {
                    matches!(mine, Expr::Column { index, .. }
                        if meta.indexes.iter().any(|i| i.columns.first() == Some(&(index - offset))))
                }) {
                    let rows = meta.stats().map_or(f64::INFINITY, |st| st.rows);
                    if indexed.is_none_or(|(best, _)| rows < best) {
                        indexed = Some((rows, s));
                    }
                    continue;
                }
            }
            joined_by_equality.get_or_insert(s);
        }
        indexed
            .map(|(_, s)| s)
            .or(joined_by_equality)
            .unwrap_or_else(|| remaining.first().copied().unwrap_or(0))
    }

    /// Joins step `at` onward into `row`, calling `emit` for each full row
    /// until it returns false. Returns false when stopped.
    fn join(
        &mut self,
        plan: &SelectPlan,
        steps: &[Step],
        at: usize,
        row: &mut Vec<Value>,
        held: &mut Vec<Option<Held>>,
        emit: &mut dyn FnMut(&mut Exec<'_, '_>, &[Value]) -> Result<bool>,
    ) -> Result<bool> {
        let Some(step) = steps.get(at) else {
            return emit(self, row);
        };
        if step.source == usize::MAX {
            // No FROM: one row, if the conditions hold.
            if self.all_true(&step.matching, row)? {
                return self.join(plan, steps, at + 1, row, held, emit);
            }
            return Ok(true);
        }
        let source = &plan.sources[step.source];
        let (offset, width) = (source.offset, source.width);
        let mut matched = false;
        match (&step.method, &source.kind) {
            (Method::Access, SourceKind::Table(meta)) => {
                // Bound values become constants; the table's own conjuncts
                // choose the access path. Rows stream from the index.
                let own: Vec<Expr> = step
                    .matching
                    .iter()
                    .filter(|e| !e.has_subquery())
                    .filter_map(|e| constant_for(e, offset, width, row))
                    .collect();
                let access = match &step.preset {
                    Some(access) => access.clone(),
                    None => plan::choose_read(meta, and_all(&own).as_ref(), Some(&step.needed)),
                };
                log::debug!(
                    "select on {}.{}: {}",
                    meta.schema,
                    meta.name,
                    access.describe(meta)
                );
                let mut reader = Reader::new(meta, access, self.lock);
                let mut stop = false;
                loop {
                    let Some(trx) = self.trx.as_deref_mut() else {
                        return Err(no_transaction());
                    };
                    let Some((_, values)) = reader.next(trx, self.interrupt)? else {
                        break;
                    };
                    match self.candidate(plan, steps, at, row, held, emit, values)? {
                        Candidate::Rejected => {}
                        Candidate::Matched => matched = true,
                        Candidate::Stop => {
                            stop = true;
                            break;
                        }
                    }
                }
                self.reads.add(&reader.reads);
                if stop {
                    return Ok(false);
                }
            }
            (Method::Access | Method::Loop, _) | (Method::Hash { .. }, _) => {
                self.hold_rows(plan, step, held, at, row)?;
                let positions: Vec<usize> = match &step.method {
                    Method::Hash { inner, outer } => {
                        let probe = self.eval(outer, row)?;
                        let (class, key_column) =
                            hash_class(&inner.result_type(), &outer.result_type())
                                .unwrap_or((TypeClass::String, None));
                        match (hash_key(&probe, class, key_column), &held[at]) {
                            (
                                Some(key),
                                Some(Held {
                                    hash: Some(hash), ..
                                }),
                            ) => hash.get(&key).cloned().unwrap_or_default(),
                            _ => Vec::new(),
                        }
                    }
                    _ => (0..held[at].as_ref().map_or(0, |h| h.rows.len())).collect(),
                };
                for position in positions {
                    let Some(values) = held[at]
                        .as_ref()
                        .and_then(|h| h.rows.get(position))
                        .cloned()
                    else {
                        continue;
                    };
                    match self.candidate(plan, steps, at, row, held, emit, values)? {
                        Candidate::Rejected => {}
                        Candidate::Matched => matched = true,
                        Candidate::Stop => return Ok(false),
                    }
                }
            }
        }
        if source.left_join && !matched {
            for v in row.iter_mut().skip(offset).take(width) {
                *v = Value::Null;
            }
            if self.all_true(&step.after, row)?
                && !self.join(plan, steps, at + 1, row, held, emit)?
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Puts one row of step `at` into `row` and goes on if it matches.
    #[allow(clippy::too_many_arguments)]
    fn candidate(
        &mut self,
        plan: &SelectPlan,
        steps: &[Step],
        at: usize,
        row: &mut Vec<Value>,
        held: &mut Vec<Option<Held>>,
        emit: &mut dyn FnMut(&mut Exec<'_, '_>, &[Value]) -> Result<bool>,
        values: Vec<Value>,
    ) -> Result<Candidate> {
        self.tried += 1;
        if self.tried.is_multiple_of(INTERRUPT_CHECK_ROWS) {
            self.interrupt.check()?;
        }
        let step = &steps[at];
        let offset = plan.sources[step.source].offset;
        for (i, value) in values.into_iter().enumerate() {
            if let Some(slot) = row.get_mut(offset + i) {
                *slot = value;
            }
        }
        if !self.all_true(&step.matching, row)? {
            return Ok(Candidate::Rejected);
        }
        if self.all_true(&step.after, row)? && !self.join(plan, steps, at + 1, row, held, emit)? {
            return Ok(Candidate::Stop);
        }
        Ok(Candidate::Matched)
    }

    /// Reads a step's rows once (filtered by its own conjuncts), and hashes
    /// them for a hash join.
    fn hold_rows(
        &mut self,
        plan: &SelectPlan,
        step: &Step,
        held: &mut [Option<Held>],
        at: usize,
        row: &[Value],
    ) -> Result<()> {
        if held[at].is_some() {
            return Ok(());
        }
        let source = &plan.sources[step.source];
        let (offset, width) = (source.offset, source.width);
        let own_mask = 1u64 << step.source;
        let own: Vec<Expr> = step
            .matching
            .iter()
            .filter(|e| {
                let (mask, per_row) = Self::sources_of(plan, e);
                !per_row && mask == own_mask
            })
            .cloned()
            .collect();
        let mut rows = match &source.kind {
            SourceKind::Derived(query) => self.run(query, &[])?,
            SourceKind::Rows(rows) => rows.clone(),
            SourceKind::Working(working) => working.rows.lock().clone(),
            SourceKind::Table(meta) => {
                let shifted: Vec<Expr> = own.iter().map(|e| shift(e, offset)).collect();
                let access =
                    plan::choose_read(meta, and_all(&shifted).as_ref(), Some(&step.needed));
                let Some(trx) = self.trx.as_deref_mut() else {
                    return Err(no_transaction());
                };
                let mut rows = Vec::new();
                let mut reader = Reader::new(meta, access, self.lock);
                while let Some((_, values)) = reader.next(trx, self.interrupt)? {
                    rows.push(values);
                }
                self.reads.add(&reader.reads);
                rows
            }
        };
        // Own conjuncts, evaluated in place in a row of the full width.
        let mut scratch = row.to_vec();
        let mut kept = Vec::with_capacity(rows.len());
        for r in rows.drain(..) {
            for (i, value) in r.iter().take(width).enumerate() {
                scratch[offset + i] = value.clone();
            }
            if self.all_true(&own, &scratch)? {
                kept.push(r);
            }
        }
        let hash = match &step.method {
            Method::Hash { inner, outer } => {
                let (class, key_column) = hash_class(&inner.result_type(), &outer.result_type())
                    .unwrap_or((TypeClass::String, None));
                let mut hash: HashMap<Vec<u8>, Vec<usize>> = HashMap::new();
                for (position, r) in kept.iter().enumerate() {
                    for (i, value) in r.iter().take(width).enumerate() {
                        scratch[offset + i] = value.clone();
                    }
                    let value = self.eval(inner, &scratch)?;
                    if let Some(key) = hash_key(&value, class, key_column) {
                        hash.entry(key).or_default().push(position);
                    }
                }
                Some(hash)
            }
            _ => None,
        };
        held[at] = Some(Held { rows: kept, hash });
        Ok(())
    }
}

/// EXPLAIN's column types: id and rows are BIGINTs (the binary protocol
/// sends them as such), the rest text.
fn explain_types() -> Vec<SqlType> {
    EXPLAIN_TITLES
        .iter()
        .map(|title| match *title {
            "id" | "rows" => SqlType::Int {
                width: crate::types::IntWidth::Big,
                unsigned: false,
            },
            _ => SqlType::varchar(64),
        })
        .collect()
}

/// EXPLAIN's columns, MySQL's.
pub(super) fn explain_columns() -> Vec<Column> {
    EXPLAIN_TITLES
        .iter()
        .zip(explain_types())
        .map(|(t, sql_type)| column_definition(&sql_type, true, t))
        .collect()
}

const EXPLAIN_TITLES: [&str; 12] = [
    "id",
    "select_type",
    "table",
    "partitions",
    "type",
    "possible_keys",
    "key",
    "key_len",
    "ref",
    "rows",
    "filtered",
    "Extra",
];

/// One row of EXPLAIN.
struct ExplainLine {
    id: i64,
    select_type: String,
    table: Option<String>,
    access: Option<String>,
    key: Option<String>,
    /// Estimated rows read per execution of the step.
    rows: Option<f64>,
    extra: Vec<String>,
}

fn explain_plan(
    plan: &QueryPlan,
    select_type: &str,
    next_id: &mut i64,
    out: &mut Vec<ExplainLine>,
) {
    match plan {
        QueryPlan::SetOp(set) => {
            explain_plan(&set.left, select_type, next_id, out);
            explain_plan(&set.right, "UNION", next_id, out);
        }
        QueryPlan::Select(select) => explain_select(select, select_type, next_id, out),
    }
}

fn explain_select(
    plan: &SelectPlan,
    select_type: &str,
    next_id: &mut i64,
    out: &mut Vec<ExplainLine>,
) {
    let id = *next_id;
    *next_id += 1;
    let interrupt = Interrupt::new();
    let exec = Exec {
        trx: None,
        interrupt: &interrupt,
        tried: 0,
        lock: LockRead::None,
        ctx: EvalContext::new(now_utc()),
        stream: None,
        reads: ReadCounts::default(),
    };
    let sources_on: Vec<Vec<Expr>> = plan.sources.iter().map(|s| s.on.clone()).collect();
    let steps = exec.plan_steps(plan, plan.conjuncts.clone(), sources_on);
    let mut derived = Vec::new();
    let null_row = vec![Value::Null; plan.width];
    let mut filesort = false;
    for (position, step) in steps.iter().enumerate() {
        if step.source == usize::MAX {
            out.push(ExplainLine {
                id,
                select_type: select_type.into(),
                table: None,
                access: None,
                key: None,
                rows: None,
                extra: vec![if step.matching.is_empty() {
                    "No tables used"
                } else {
                    "Using where"
                }
                .into()],
            });
            continue;
        }
        let source = &plan.sources[step.source];
        let mut extra = Vec::new();
        if !step.matching.is_empty() || !step.after.is_empty() {
            extra.push("Using where".to_string());
        }
        let mut rows = None;
        let (table, access, key) = match &source.kind {
            SourceKind::Rows(r) => {
                rows = Some(r.len() as f64);
                (source.alias.clone(), "ALL".to_string(), None)
            }
            SourceKind::Working(_) => (source.alias.clone(), "ALL".to_string(), None),
            SourceKind::Derived(inner) => {
                derived.push(inner);
                (
                    format!("<derived{}>", *next_id + derived.len() as i64 - 1),
                    "ALL".to_string(),
                    None,
                )
            }
            SourceKind::Table(meta) => match &step.method {
                Method::Access if position == 0 => {
                    let own: Vec<Expr> = step
                        .matching
                        .iter()
                        .filter(|e| !e.has_subquery())
                        .filter_map(|e| constant_for(e, source.offset, source.width, &null_row))
                        .collect();
                    let ordered = ordered_access(plan, &steps, &plan.order, &null_row);
                    if !plan.order.is_empty() && ordered.is_none() {
                        filesort = true;
                    }
                    let is_ordered = ordered.is_some();
                    let access = ordered.unwrap_or_else(|| {
                        plan::choose_read(meta, and_all(&own).as_ref(), Some(&step.needed))
                    });
                    let name = meta.indexes.get(access.index).map(|i| i.name.clone());
                    rows = access.rows;
                    if access.covering {
                        extra.push("Using index".into());
                    }
                    // A whole clustered index read in key order is
                    // MySQL's "index" type too.
                    if access.is_full_scan() && !is_ordered {
                        (source.alias.clone(), "ALL".into(), None)
                    } else if access.reads_everything() {
                        (source.alias.clone(), "index".into(), name)
                    } else if access.point {
                        (source.alias.clone(), "const".into(), name)
                    } else if access.equality {
                        (source.alias.clone(), "ref".into(), name)
                    } else {
                        (source.alias.clone(), "range".into(), name)
                    }
                }
                Method::Access => {
                    let bound: u64 = steps[..position]
                        .iter()
                        .filter(|s| s.source != usize::MAX)
                        .fold(0, |m, s| m | (1u64 << s.source));
                    let equal: Vec<usize> =
                        Exec::equalities(plan, step.source, bound, &step.matching)
                            .iter()
                            .filter_map(|(mine, _)| match mine {
                                Expr::Column { index, .. } => Some(index - source.offset),
                                _ => None,
                            })
                            .collect();
                    let found = meta
                        .indexes
                        .iter()
                        .enumerate()
                        .find(|(_, i)| i.columns.first().is_some_and(|c| equal.contains(c)));
                    let index = found.map(|(_, i)| i);
                    let kind = match index {
                        Some(i)
                            if i.kind != floe_storage::dict::IndexKind::NonUnique
                                && i.columns.iter().all(|c| equal.contains(c)) =>
                        {
                            rows = Some(1.0);
                            "eq_ref"
                        }
                        _ => {
                            // Rows per value of the bound leading columns.
                            if let (Some((position, i)), Some(stats)) = (found, meta.stats()) {
                                let bound_columns =
                                    i.columns.iter().take_while(|c| equal.contains(c)).count();
                                rows = stats
                                    .indexes
                                    .get(position)
                                    .map(|st| st.rows_per_prefix(stats.rows, bound_columns));
                            }
                            "ref"
                        }
                    };
                    (
                        source.alias.clone(),
                        kind.into(),
                        index.map(|i| i.name.clone()),
                    )
                }
                Method::Hash { .. } => {
                    extra.push("Using join buffer (hash join)".into());
                    rows = meta.stats().map(|st| st.rows);
                    (source.alias.clone(), "ALL".into(), None)
                }
                Method::Loop => {
                    if position > 0 {
                        extra.push("Using join buffer (nested loop)".into());
                    }
                    rows = meta.stats().map(|st| st.rows);
                    (source.alias.clone(), "ALL".into(), None)
                }
            },
        };
        if source.left_join {
            extra.push("Left join".into());
        }
        if std::mem::take(&mut filesort) {
            extra.push("Using filesort".into());
        }
        out.push(ExplainLine {
            id,
            select_type: select_type.into(),
            table: Some(table),
            access: Some(access),
            key,
            rows,
            extra,
        });
    }
    for inner in derived {
        explain_plan(inner, "DERIVED", next_id, out);
    }
    // Subqueries in expressions, in clause order.
    let mut subqueries = Vec::new();
    for e in plan
        .projections
        .iter()
        .chain(&plan.conjuncts)
        .chain(plan.having.iter())
    {
        collect_subqueries(e, &mut subqueries);
    }
    for bound in subqueries {
        let kind = if bound.outer_references.is_empty() {
            "SUBQUERY"
        } else {
            "DEPENDENT SUBQUERY"
        };
        explain_plan(&bound.plan, kind, next_id, out);
    }
}

fn collect_subqueries<'p>(expr: &'p Expr, out: &mut Vec<&'p BoundSubquery>) {
    if let Expr::Subquery { plan, .. } = expr {
        if let Some(bound) = plan.as_any().downcast_ref::<BoundSubquery>() {
            out.push(bound);
        }
    }
    for child in expr.children() {
        collect_subqueries(child, out);
    }
}

enum Candidate {
    Rejected,
    Matched,
    Stop,
}

/// The first step's access path when `plan` reads one base table and
/// its ORDER BY (`order`) can come from an index read in that order
/// (`plan::choose_ordered`): plain columns of the table, all ASC or all
/// DESC, and nothing (grouping, aggregates, DISTINCT) that must see every
/// row. `row` holds the outer values.
fn ordered_access(
    plan: &SelectPlan,
    steps: &[Step],
    order: &[(Expr, bool)],
    row: &[Value],
) -> Option<Access> {
    let [step] = steps else {
        return None;
    };
    let source = plan.sources.get(step.source)?;
    let SourceKind::Table(meta) = &source.kind else {
        return None;
    };
    if plan.aggregate
        || plan.distinct
        || !plan.group.is_empty()
        || plan.having.is_some()
        || !matches!(step.method, Method::Access)
    {
        return None;
    }
    let descending = order.first()?.1;
    let mut columns = Vec::with_capacity(order.len());
    for (e, desc) in order {
        match e {
            Expr::Column { index, .. }
                if *desc == descending
                    && *index >= source.offset
                    && *index < source.offset + source.width =>
            {
                columns.push(index - source.offset);
            }
            _ => return None,
        }
    }
    let own: Vec<Expr> = step
        .matching
        .iter()
        .filter(|e| !e.has_subquery())
        .filter_map(|e| constant_for(e, source.offset, source.width, row))
        .collect();
    let wanted = plan::OrderWanted {
        columns,
        descending,
        limit: plan.limit.map(|l| l.saturating_add(plan.offset)),
    };
    let (access, ordered) =
        plan::choose_ordered(meta, and_all(&own).as_ref(), Some(&step.needed), &wanted);
    ordered.then_some(access)
}

fn no_transaction() -> StatementError {
    StatementError::Storage("a table read without a transaction".into())
}

/// Reads the rows of an access path one at a time, borrowing the
/// transaction only per call (so a join can recurse between rows).
struct Reader<'m> {
    meta: &'m TableMeta,
    access: Access,
    lock: LockRead,
    range: usize,
    cursor: Option<floe_storage::trx::table::Scan<'m>>,
    count: usize,
    /// Rows returned, by kind.
    reads: ReadCounts,
    /// Covering reads: the entry's key columns (the index's, then the
    /// primary key's) and their places in the row.
    entry_columns: Vec<(KeyColumn, usize)>,
}

impl<'m> Reader<'m> {
    fn new(meta: &'m TableMeta, access: Access, lock: LockRead) -> Reader<'m> {
        let entry_columns = match (access.covering, meta.indexes.get(access.index)) {
            (true, Some(index)) if access.index > 0 => {
                let primary = &meta.indexes[0];
                index
                    .key_columns
                    .iter()
                    .copied()
                    .zip(index.columns.iter().copied())
                    .chain(
                        primary
                            .key_columns
                            .iter()
                            .copied()
                            .zip(primary.columns.iter().copied()),
                    )
                    .collect()
            }
            _ => Vec::new(),
        };
        Reader {
            meta,
            access,
            lock,
            range: 0,
            cursor: None,
            count: 0,
            reads: ReadCounts::default(),
            entry_columns,
        }
    }

    fn corrupt(&self, what: impl fmt::Display) -> StatementError {
        StatementError::Storage(format!(
            "table {}.{}: {what}",
            self.meta.schema, self.meta.name
        ))
    }

    fn decode(&self, bytes: &[u8]) -> Result<Vec<Value>> {
        row::decode(bytes, &self.meta.types).map_err(|e| self.corrupt(e))
    }

    /// (pk, row) from a secondary entry key: the columns that decode from
    /// their keys (every column the statement reads, or the plan would not
    /// be covering); NULL for the rest.
    fn decode_entry(&self, key: &[u8]) -> Result<(Vec<u8>, Vec<Value>)> {
        let columns: Vec<KeyColumn> = self.entry_columns.iter().map(|(c, _)| *c).collect();
        let ends = crate::key::column_ends(key, &columns)
            .ok_or_else(|| self.corrupt("an index entry that is not a key"))?;
        let secondary = self.meta.indexes[self.access.index].columns.len();
        let mut values = vec![Value::Null; self.meta.types.len()];
        let mut done = vec![false; values.len()];
        let mut start = 0;
        for ((column, position), end) in self.entry_columns.iter().zip(&ends) {
            let piece = &key[start..*end];
            start = *end;
            if matches!(column, KeyColumn::Collated(_)) || done[*position] {
                continue;
            }
            let mut value = decode_key(piece, std::slice::from_ref(column))
                .map_err(|e| self.corrupt(e))?
                .pop()
                .unwrap_or(Value::Null);
            // Binary-collated text keeps its column's collation.
            if let (Value::Bytes(bytes, _), Some(collation)) =
                (&mut value, self.meta.types[*position].collation())
            {
                value = Value::Bytes(std::mem::take(bytes), collation);
            }
            values[*position] = value;
            done[*position] = true;
        }
        let pk_start = secondary
            .checked_sub(1)
            .and_then(|last| ends.get(last))
            .copied()
            .unwrap_or(0);
        Ok((key[pk_start..].to_vec(), values))
    }

    /// The next (primary key, row).
    fn next(
        &mut self,
        trx: &mut Trx,
        interrupt: &Interrupt,
    ) -> Result<Option<(Vec<u8>, Vec<Value>)>> {
        loop {
            if let Some(cursor) = &mut self.cursor {
                let read = if self.access.covering {
                    cursor.next_covering(trx)
                } else {
                    cursor
                        .next(trx)
                        .map(|r| r.map(|(pk, row)| IndexRead::Row(pk, row)))
                };
                if let Some(read) = read.map_err(error::trx_error)? {
                    self.count += 1;
                    if self.access.descending {
                        self.reads.prev += 1;
                    } else if self.access.is_full_scan() {
                        self.reads.rnd_next += 1;
                    } else {
                        self.reads.next += 1;
                    }
                    if self.count.is_multiple_of(INTERRUPT_CHECK_ROWS) {
                        interrupt.check()?;
                    }
                    return match read {
                        IndexRead::Entry(key) => self.decode_entry(&key).map(Some),
                        IndexRead::Row(pk, bytes) => Ok(Some((pk, self.decode(&bytes)?))),
                    };
                }
                self.cursor = None;
                self.range += 1;
                continue;
            }
            // Backward: the ranges last to first.
            let at = if self.access.descending {
                self.access.ranges.len().checked_sub(self.range + 1)
            } else {
                Some(self.range)
            };
            let Some((lower, upper)) = at.and_then(|at| self.access.ranges.get(at)) else {
                return Ok(None);
            };
            if self.access.point {
                self.range += 1;
                if let std::ops::Bound::Included(key) = lower {
                    let key = key.clone();
                    self.reads.key += 1;
                    if let Some(bytes) = self
                        .meta
                        .table
                        .get(trx, &key, self.lock)
                        .map_err(error::trx_error)?
                    {
                        return Ok(Some((key, self.decode(&bytes)?)));
                    }
                }
                continue;
            }
            let (lower, upper) = (lower.clone(), upper.clone());
            let direction = if self.access.descending {
                Direction::Backward
            } else {
                Direction::Forward
            };
            self.cursor = Some(if self.access.index == 0 {
                self.meta.table.scan(lower, upper, direction, self.lock)
            } else {
                self.meta.table.scan_index(
                    self.access.index - 1,
                    lower,
                    upper,
                    direction,
                    self.lock,
                )
            });
        }
    }
}

/// `expr` over the full row, as an expression over the source's own row
/// (columns at `offset` move to 0), with every other column replaced by
/// its value in `row`; None when it reads no column of the source.
fn constant_for(expr: &Expr, offset: usize, width: usize, row: &[Value]) -> Option<Expr> {
    let mut reads_source = false;
    expr.for_each_column(&mut |i| reads_source |= i >= offset && i < offset + width);
    if !reads_source {
        return None;
    }
    let mut out = expr.clone();
    out.map_columns(&mut |index| {
        if index >= offset && index < offset + width {
            let mut moved = None;
            if let Expr::Column {
                sql_type, nullable, ..
            } = expr_column(expr, index)
            {
                moved = Some(Expr::column(index - offset, sql_type, nullable));
            }
            moved
        } else {
            Some(Expr::Literal(
                row.get(index).cloned().unwrap_or(Value::Null),
            ))
        }
    });
    Some(out)
}

/// The column node for `index` in `expr` (its type).
fn expr_column(expr: &Expr, index: usize) -> Expr {
    let mut found = None;
    find_column(expr, index, &mut found);
    found.unwrap_or(Expr::column(index, SqlType::Null, true))
}

fn find_column(expr: &Expr, index: usize, found: &mut Option<Expr>) {
    if found.is_some() {
        return;
    }
    if let Expr::Column { index: i, .. } = expr {
        if *i == index {
            *found = Some(expr.clone());
        }
        return;
    }
    expr.for_each_child(&mut |child| find_column(child, index, found));
}

/// `expr` with its columns moved down by `offset` (a source's own row).
fn shift(expr: &Expr, offset: usize) -> Expr {
    let mut out = expr.clone();
    let original = expr.clone();
    out.map_columns(&mut |index| {
        let Expr::Column {
            sql_type, nullable, ..
        } = expr_column(&original, index)
        else {
            return None;
        };
        Some(Expr::column(
            index.saturating_sub(offset),
            sql_type,
            nullable,
        ))
    });
    out
}

/// A key equal for rows DISTINCT treats as duplicates.
fn row_key(values: &[Value], types: &[SqlType]) -> Vec<u8> {
    let mut key = Vec::new();
    for (value, sql_type) in values.iter().zip(types) {
        let value = finalize(value.clone(), sql_type);
        if value.is_null() {
            key.push(0);
            continue;
        }
        key.push(1);
        let column = KeyColumn::for_type(sql_type);
        let converted = plan::key_value(&value, sql_type).unwrap_or_else(|| value.clone());
        let encoded = column
            .is_some_and(|c| encode_key(std::slice::from_ref(&converted), &[c], &mut key).is_ok());
        if !encoded {
            key.extend_from_slice(&value.to_text().unwrap_or_default());
            key.push(0);
        }
    }
    key
}

fn distinct_rows(rows: Vec<Vec<Value>>, types: &[SqlType]) -> Vec<Vec<Value>> {
    let mut seen = HashSet::new();
    rows.into_iter()
        .filter(|r| seen.insert(row_key(r, types)))
        .collect()
}

type KeyedRow = (Vec<Value>, Vec<Value>);

fn order_and_limit(
    mut rows: Vec<KeyedRow>,
    descending: &[bool],
    limit: Option<usize>,
    offset: usize,
) -> Vec<Vec<Value>> {
    if !descending.is_empty() {
        rows.sort_by(|(a, _), (b, _)| {
            for ((x, y), desc) in a.iter().zip(b).zip(descending) {
                let ordering = sort_compare(x, y);
                if ordering != std::cmp::Ordering::Equal {
                    return if *desc { ordering.reverse() } else { ordering };
                }
            }
            std::cmp::Ordering::Equal
        });
    }
    rows.into_iter()
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .map(|(_, v)| v)
        .collect()
}

impl SqlSession {
    /// A LIMIT or OFFSET count: a number, or in a prepared statement a
    /// `?` whose parameter must be a non-negative integer (MySQL's 1210
    /// otherwise). While prepare works out result columns the parameter is
    /// not known yet and counts as 0.
    pub(super) fn limit_number(&self, expr: &ast::Expr) -> Result<usize> {
        let ast::Expr::Value(v) = expr else {
            return Err(parse_error(format!("bad LIMIT {expr}")));
        };
        match &v.value {
            ast::Value::Number(n, _) => {
                n.parse().map_err(|_| parse_error(format!("bad LIMIT {n}")))
            }
            ast::Value::Placeholder(_) => {
                let value = self.parameter(v)?;
                let count = match value {
                    Value::Int(n) => usize::try_from(n).ok(),
                    Value::UInt(n) => usize::try_from(n).ok(),
                    Value::Null if self.describing => Some(0),
                    _ => None,
                };
                count.ok_or_else(|| {
                    StatementError::Server(floe_server::SqlError::new(
                        floe_server::protocol::codes::ER_WRONG_ARGUMENTS,
                        "Incorrect arguments to mysqld_stmt_execute",
                    ))
                })
            }
            other => Err(parse_error(format!("bad LIMIT {other}"))),
        }
    }

    /// A query's LIMIT and OFFSET (`LIMIT n`, `LIMIT n OFFSET m`,
    /// `LIMIT m, n`).
    pub(super) fn limit_offset(&self, query: &ast::Query) -> Result<(Option<usize>, usize)> {
        match &query.limit_clause {
            None => Ok((None, 0)),
            Some(ast::LimitClause::LimitOffset { limit, offset, .. }) => Ok((
                limit.as_ref().map(|l| self.limit_number(l)).transpose()?,
                offset
                    .as_ref()
                    .map(|o| self.limit_number(&o.value))
                    .transpose()?
                    .unwrap_or(0),
            )),
            Some(ast::LimitClause::OffsetCommaLimit { offset, limit }) => {
                Ok((Some(self.limit_number(limit)?), self.limit_number(offset)?))
            }
        }
    }
}

/// Reads the rows of `access`, calling `visit(pk, row)` until it returns
/// false.
pub(super) fn scan(
    trx: &mut Trx,
    meta: &TableMeta,
    access: &Access,
    lock: LockRead,
    interrupt: &Interrupt,
    visit: &mut dyn FnMut(Vec<u8>, Vec<Value>) -> Result<bool>,
) -> Result<()> {
    let mut reader = Reader::new(meta, access.clone(), lock);
    while let Some((pk, values)) = reader.next(trx, interrupt)? {
        if !visit(pk, values)? {
            break;
        }
    }
    Ok(())
}

/// Groups `rows` by `group_exprs`; each output row is the group's first row
/// (padded to `width`) followed by the aggregates' results.
pub(super) fn aggregate_rows(
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
