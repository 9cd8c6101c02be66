//! Access paths: from a bound WHERE clause, the index and key ranges a
//! statement reads. Conjuncts of the form `column op constant` (op one of
//! `=`, `<`, `<=`, `>`, `>=`, BETWEEN, IN) on a prefix of an index's
//! columns become ranges of memcomparable keys; the whole WHERE clause is
//! still applied to every row read, so a range only narrows the rows read
//! and never decides a row alone. A constant is used only when it converts
//! to the column's key type without loss (otherwise MySQL's comparison
//! rules could disagree with byte order, as for a string column compared
//! with a number).
//!
//! Choice. A unique index whose every column is bound by equality wins
//! at once (the clustered one first), without statistics. Otherwise each
//! candidate (every index with a usable prefix, and a full scan of every
//! secondary index that covers the columns the statement reads) is costed
//! from the table's statistics (`crate::stats`): estimated rows read
//! (rows per equality prefix from `n_diff`, capped by the share of the
//! sampled keys inside the ranges) times a per-row cost (clustered 1,
//! covering secondary 0.6, secondary with a clustered lookup per row 3),
//! plus one per range for its descent; a full scan of the clustered index
//! costs its rows. The cheapest wins, earlier indexes on ties. Without
//! statistics (pages unreadable) the choice falls back to the most
//! equality columns, then a range on the next column.
//!
//! Order. `choose_ordered` serves a one-table ORDER BY from an index read
//! in key order (forward for ASC, backward for DESC: `Access.descending`,
//! ranges sorted by key and read last to first): the ORDER BY columns must
//! follow the index's key (a secondary entry's key is its columns, then the
//! primary key's) once the columns bound to one value by equality are
//! skipped; after the whole key any columns follow (it is unique). Key
//! order is the ORDER BY order: NULL first, collated strings by weights
//! (TIMESTAMP, sorted by its session-time-zone value, is left to the sort).
//! The ordered read is taken when it is the path `choose_read` picks anyway,
//! or, with LIMIT n, when about n / selectivity rows of its ranges (the
//! selectivity estimated from the rows the best path reads) at its per-row
//! cost cost less than the best path; a unique point lookup stays. MySQL
//! also weighs the sort's cost and reconsiders for each LIMIT in the plan;
//! Floe counts only rows read.
//!
//! Covering. A secondary entry's key holds the index's columns and the
//! primary key's; when the statement reads no other column, and each one
//! it reads decodes exactly from its key (integers, DECIMAL, DATE,
//! DATETIME, TIME, binary strings; not collated strings, whose keys are
//! weights, nor CHAR, DOUBLE/FLOAT or TIMESTAMP), the scan answers from
//! the entries (see `floe_storage::trx::table`).

use std::ops::Bound;

use crate::catalog::{IndexMeta, TableMeta};
use crate::expr::{CompareOp, Expr, LogicOp};
use crate::key::{encode_key, KeyColumn};
use crate::types::{SqlType, TypeClass};
use crate::value::Value;

/// Equality lists larger than this make a plan with this many ranges at most.
const MAX_RANGES: usize = 256;

pub type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

#[derive(Debug, Clone, PartialEq)]
pub struct Access {
    /// 0: the clustered index; i > 0: secondary index i - 1.
    pub index: usize,
    pub ranges: Vec<KeyRange>,
    /// Every range is one full clustered key: read with `get`.
    pub point: bool,
    /// A secondary index that holds every column read: rows come from
    /// its entries (see the module comment).
    pub covering: bool,
    /// Estimated rows read, when statistics or a unique key tell.
    pub rows: Option<f64>,
    /// One equality prefix and no range (EXPLAIN's `ref`).
    pub equality: bool,
    /// Read in key order, backward (the ranges last to first, each from
    /// its upper end); set only by `choose_ordered`.
    pub descending: bool,
}

/// Per-row costs (see the module comment).
const CLUSTERED_ROW: f64 = 1.0;
const COVERING_ROW: f64 = 0.6;
const LOOKUP_ROW: f64 = 3.0;

impl Access {
    pub fn full_scan() -> Access {
        Access {
            index: 0,
            ranges: vec![(Bound::Unbounded, Bound::Unbounded)],
            point: false,
            covering: false,
            rows: None,
            equality: false,
            descending: false,
        }
    }

    /// Reads every row of the clustered index.
    pub fn is_full_scan(&self) -> bool {
        self.index == 0 && self.reads_everything()
    }

    /// One range without bounds (a full scan of its index).
    pub fn reads_everything(&self) -> bool {
        self.ranges == [(Bound::Unbounded, Bound::Unbounded)]
    }

    /// For EXPLAIN-like logs and tests.
    pub fn describe(&self, table: &TableMeta) -> String {
        let name = table
            .indexes
            .get(self.index)
            .map_or("?", |i| i.name.as_str());
        if self.reads_everything() {
            format!("full scan of {name}")
        } else if self.point {
            format!("{} point lookup(s) on {name}", self.ranges.len())
        } else {
            format!("{} range(s) on {name}", self.ranges.len())
        }
    }
}

#[derive(Default, Clone)]
struct ColumnBounds {
    equal: Option<Vec<Value>>,
    lower: Option<(Value, bool)>,
    upper: Option<(Value, bool)>,
}

fn conjuncts<'e>(expr: &'e Expr, out: &mut Vec<&'e Expr>) {
    match expr {
        Expr::Logic {
            op: LogicOp::And,
            left,
            right,
        } => {
            conjuncts(left, out);
            conjuncts(right, out);
        }
        other => out.push(other),
    }
}

fn flip(op: CompareOp) -> CompareOp {
    match op {
        CompareOp::Lt => CompareOp::Gt,
        CompareOp::Le => CompareOp::Ge,
        CompareOp::Gt => CompareOp::Lt,
        CompareOp::Ge => CompareOp::Le,
        other => other,
    }
}

/// `value` as a key value of a column of `sql_type`, when exact.
pub fn key_value(value: &Value, sql_type: &SqlType) -> Option<Value> {
    match (sql_type.class(), value) {
        (_, Value::Null) => None,
        (TypeClass::Int, Value::Int(_) | Value::UInt(_)) => Some(value.clone()),
        (TypeClass::Int, Value::Decimal(d)) => {
            let whole = d.rescale(0)?;
            (whole == *d)
                .then(|| i64::try_from(whole.mantissa()).ok().map(Value::Int))
                .flatten()
        }
        (TypeClass::Decimal, Value::Int(_) | Value::UInt(_)) => Some(value.clone()),
        (TypeClass::Decimal, Value::Decimal(d)) => {
            let scaled = d.rescale(sql_type.scale())?;
            (scaled == *d).then_some(Value::Decimal(scaled))
        }
        (TypeClass::Double, Value::Int(v)) => Some(Value::Double(*v as f64)),
        (TypeClass::Double, Value::Double(_)) => Some(value.clone()),
        (TypeClass::String, Value::Bytes(bytes, _)) => {
            // CHAR keys are stored without trailing spaces.
            let mut bytes = bytes.clone();
            if let SqlType::Char { .. } = sql_type {
                while bytes.last() == Some(&b' ') {
                    bytes.pop();
                }
            }
            Some(Value::Bytes(bytes, sql_type.collation()?))
        }
        (TypeClass::Temporal, Value::Date(_) | Value::DateTime(_) | Value::Time(_))
        | (TypeClass::Temporal, Value::Bytes(..)) => {
            match crate::row::convert_for_column(value.clone(), sql_type).ok()? {
                // A date compared with a DATETIME column is midnight.
                Value::Date(d) if *sql_type != SqlType::Date => {
                    Some(Value::DateTime(crate::temporal::DateTime::from_date(d)))
                }
                converted => Some(converted),
            }
        }
        _ => None,
    }
}

fn column_constant<'e>(left: &'e Expr, right: &'e Expr) -> Option<(usize, &'e Value, bool)> {
    match (left, right) {
        (Expr::Column { index, .. }, Expr::Literal(v)) => Some((*index, v, false)),
        (Expr::Literal(v), Expr::Column { index, .. }) => Some((*index, v, true)),
        _ => None,
    }
}

fn keep_first(slot: &mut Option<(Value, bool)>, value: Value, inclusive: bool) {
    // Several lower bounds: keep the first (the filter applies the rest).
    if slot.is_none() {
        *slot = Some((value, inclusive));
    }
}

fn collect_bounds(table: &TableMeta, where_clause: &Expr) -> Vec<ColumnBounds> {
    let mut bounds = vec![ColumnBounds::default(); table.columns.len()];
    let mut parts = Vec::new();
    conjuncts(where_clause, &mut parts);
    for part in parts {
        match part {
            Expr::Compare { op, left, right } => {
                let Some((column, value, flipped)) = column_constant(left, right) else {
                    continue;
                };
                let Some(sql_type) = table.types.get(column) else {
                    continue;
                };
                let Some(value) = key_value(value, sql_type) else {
                    continue;
                };
                let op = if flipped { flip(*op) } else { *op };
                let slot = &mut bounds[column];
                match op {
                    CompareOp::Eq | CompareOp::NullSafeEq => {
                        if slot.equal.is_none() {
                            slot.equal = Some(vec![value]);
                        }
                    }
                    CompareOp::Gt => keep_first(&mut slot.lower, value, false),
                    CompareOp::Ge => keep_first(&mut slot.lower, value, true),
                    CompareOp::Lt => keep_first(&mut slot.upper, value, false),
                    CompareOp::Le => keep_first(&mut slot.upper, value, true),
                    CompareOp::Ne => {}
                }
            }
            Expr::Between {
                operand,
                low,
                high,
                negated: false,
            } => {
                if let (Expr::Column { index, .. }, Expr::Literal(lo), Expr::Literal(hi)) =
                    (operand.as_ref(), low.as_ref(), high.as_ref())
                {
                    let Some(sql_type) = table.types.get(*index) else {
                        continue;
                    };
                    if let (Some(lo), Some(hi)) = (key_value(lo, sql_type), key_value(hi, sql_type))
                    {
                        keep_first(&mut bounds[*index].lower, lo, true);
                        keep_first(&mut bounds[*index].upper, hi, true);
                    }
                }
            }
            Expr::InList {
                operand,
                list,
                negated: false,
            } => {
                if let Expr::Column { index, .. } = operand.as_ref() {
                    let Some(sql_type) = table.types.get(*index) else {
                        continue;
                    };
                    let values: Option<Vec<Value>> = list
                        .iter()
                        .map(|e| match e {
                            Expr::Literal(v) => key_value(v, sql_type),
                            _ => None,
                        })
                        .collect();
                    if let Some(values) = values.filter(|v| !v.is_empty() && v.len() <= MAX_RANGES)
                    {
                        if bounds[*index].equal.is_none() {
                            bounds[*index].equal = Some(values);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    bounds
}

fn prefix_successor(key: &[u8]) -> Option<Vec<u8>> {
    let mut out = key.to_vec();
    while let Some(last) = out.pop() {
        if last < 0xFF {
            out.push(last + 1);
            return Some(out);
        }
    }
    None
}

fn encode_prefix(values: &[Value], columns: &[KeyColumn]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    encode_key(values, columns.get(..values.len())?, &mut out).ok()?;
    Some(out)
}

/// Ranges on `index` for equality prefixes `prefixes` and an optional range
/// on the next column.
fn ranges_for(
    index: &IndexMeta,
    prefixes: &[Vec<Value>],
    range: Option<&ColumnBounds>,
) -> Option<Vec<KeyRange>> {
    let mut ranges = Vec::with_capacity(prefixes.len());
    for prefix in prefixes {
        let encoded = encode_prefix(prefix, &index.key_columns)?;
        let next = index.key_columns.get(prefix.len());
        let lower_default = if encoded.is_empty() {
            Bound::Unbounded
        } else {
            Bound::Included(encoded.clone())
        };
        let upper_default = match prefix_successor(&encoded) {
            Some(s) if !encoded.is_empty() => Bound::Excluded(s),
            _ => Bound::Unbounded,
        };
        let (mut lower, mut upper) = (lower_default, upper_default);
        if let (Some(bounds), Some(next)) = (range, next) {
            let with = |value: &Value| -> Option<Vec<u8>> {
                let mut key = encoded.clone();
                encode_key(
                    std::slice::from_ref(value),
                    std::slice::from_ref(next),
                    &mut key,
                )
                .ok()?;
                Some(key)
            };
            match &bounds.lower {
                Some((value, true)) => lower = Bound::Included(with(value)?),
                Some((value, false)) => match prefix_successor(&with(value)?) {
                    Some(s) => lower = Bound::Included(s),
                    None => return Some(Vec::new()),
                },
                None => {
                    // `c < v` never matches NULL: start after the NULLs.
                    let mut key = encoded.clone();
                    key.push(0x01);
                    lower = Bound::Included(key);
                }
            }
            match &bounds.upper {
                Some((value, true)) => {
                    if let Some(s) = prefix_successor(&with(value)?) {
                        upper = Bound::Excluded(s);
                    }
                }
                Some((value, false)) => upper = Bound::Excluded(with(value)?),
                None => {}
            }
        }
        ranges.push((lower, upper));
    }
    Some(ranges)
}

/// Whether a column of this type reads back exactly from its key.
fn decodes_from_key(sql_type: &SqlType) -> bool {
    match sql_type {
        SqlType::Int { .. }
        | SqlType::Decimal { .. }
        | SqlType::Date
        | SqlType::DateTime { .. }
        | SqlType::Time { .. }
        | SqlType::Binary { .. }
        | SqlType::VarBinary { .. }
        | SqlType::Blob => true,
        SqlType::VarChar { collation, .. } | SqlType::Text { collation } => collation.is_binary(),
        _ => false,
    }
}

/// Whether secondary index `position` of `table` holds every column
/// `needed` marks, each decodable from its key.
pub fn covers(table: &TableMeta, position: usize, needed: &[bool]) -> bool {
    let (Some(index), Some(primary)) = (table.indexes.get(position), table.indexes.first()) else {
        return false;
    };
    position > 0
        && needed.iter().enumerate().all(|(column, &wanted)| {
            !wanted
                || ((index.columns.contains(&column) || primary.columns.contains(&column))
                    && table.types.get(column).is_some_and(decodes_from_key))
        })
}

/// One index a statement could read.
struct Candidate {
    index: usize,
    ranges: Vec<KeyRange>,
    equal_columns: usize,
    prefixes: usize,
    has_range: bool,
    /// A unique index with every column bound by equality.
    unique_full: bool,
    covering: bool,
}

impl Candidate {
    fn access(self, rows: Option<f64>) -> Access {
        Access {
            index: self.index,
            point: self.index == 0 && self.unique_full,
            ranges: self.ranges,
            covering: self.covering,
            rows,
            equality: self.equal_columns > 0 && !self.has_range && self.prefixes == 1,
            descending: false,
        }
    }

    /// Estimated rows in the candidate's ranges.
    fn rows(&self, index_stats: &crate::stats::IndexStats, total: f64) -> f64 {
        let mut rows = if self.equal_columns > 0 {
            self.prefixes as f64 * index_stats.rows_per_prefix(total, self.equal_columns)
        } else {
            total
        };
        if self.equal_columns > 0 || self.has_range {
            rows = rows.min(total * index_stats.share_in(&self.ranges));
        }
        rows
    }

    /// Old choice without statistics: most equality columns, then a range.
    fn score(&self) -> usize {
        let score = self.equal_columns * 2 + usize::from(self.has_range);
        if self.unique_full {
            score + 1000
        } else {
            score
        }
    }
}

/// The access path for a write (UPDATE, DELETE) on `table` filtered by
/// `where_clause`: it needs whole rows, so never a covering read.
pub fn choose(table: &TableMeta, where_clause: Option<&Expr>) -> Access {
    choose_read(table, where_clause, None)
}

/// Every index `table` could read for `bounds` (see the module comment).
fn candidates(
    table: &TableMeta,
    bounds: &[ColumnBounds],
    needed: Option<&[bool]>,
) -> Vec<Candidate> {
    let mut candidates = Vec::new();
    for (position, index) in table.indexes.iter().enumerate() {
        let covering = needed.is_some_and(|n| covers(table, position, n));
        let mut prefixes: Vec<Vec<Value>> = vec![Vec::new()];
        let mut equal_columns = 0;
        for &column in &index.columns {
            let Some(values) = bounds.get(column).and_then(|b| b.equal.as_ref()) else {
                break;
            };
            if prefixes.len() * values.len() > MAX_RANGES {
                break;
            }
            prefixes = prefixes
                .iter()
                .flat_map(|p| {
                    values.iter().map(move |v| {
                        let mut next = p.clone();
                        next.push(v.clone());
                        next
                    })
                })
                .collect();
            equal_columns += 1;
        }
        let range = index
            .columns
            .get(equal_columns)
            .and_then(|&c| bounds.get(c))
            .filter(|b| b.lower.is_some() || b.upper.is_some());
        if equal_columns == 0 && range.is_none() {
            if covering {
                candidates.push(Candidate {
                    index: position,
                    ranges: vec![(Bound::Unbounded, Bound::Unbounded)],
                    equal_columns: 0,
                    prefixes: 1,
                    has_range: false,
                    unique_full: false,
                    covering,
                });
            }
            continue;
        }
        let Some(mut ranges) = ranges_for(index, &prefixes, range) else {
            continue;
        };
        // `c IN (1, 1)` (or an IN list from a subquery) repeats values:
        // each range once, or its rows would be read twice.
        let mut seen = std::collections::HashSet::new();
        ranges.retain(|r| seen.insert(r.clone()));
        candidates.push(Candidate {
            index: position,
            prefixes: ranges.len(),
            ranges,
            equal_columns,
            has_range: range.is_some(),
            unique_full: equal_columns == index.columns.len()
                && index.kind != floe_storage::dict::IndexKind::NonUnique,
            covering,
        });
    }
    candidates
}

/// The access path for a read of the columns `needed` marks (None: all)
/// of `table`, filtered by `where_clause`.
pub fn choose_read(
    table: &TableMeta,
    where_clause: Option<&Expr>,
    needed: Option<&[bool]>,
) -> Access {
    let bounds = match where_clause {
        Some(w) => collect_bounds(table, w),
        None => vec![ColumnBounds::default(); table.columns.len()],
    };
    let mut candidates = candidates(table, &bounds, needed);
    // A unique key fully bound: no statistics needed.
    if let Some(best) = candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| c.unique_full)
        .min_by_key(|(_, c)| (c.ranges.len(), !c.covering && c.index > 0, c.index))
        .map(|(i, _)| i)
    {
        let best = candidates.swap_remove(best);
        let rows = best.ranges.len() as f64;
        return best.access(Some(rows));
    }
    let Some(stats) = table.stats() else {
        // No statistics: the old order, never a covering full-index scan.
        return candidates
            .into_iter()
            .filter(|c| c.score() > 0)
            .fold(None::<Candidate>, |best, c| match best {
                Some(b) if b.score() >= c.score() => Some(b),
                _ => Some(c),
            })
            .map_or_else(Access::full_scan, |c| c.access(None));
    };
    let total = stats.rows;
    let mut best = Access {
        rows: Some(total),
        ..Access::full_scan()
    };
    let mut best_cost = total * CLUSTERED_ROW + 1.0;
    let mut best_is_index = false;
    for candidate in candidates {
        let Some(index_stats) = stats.indexes.get(candidate.index) else {
            continue;
        };
        let rows = candidate.rows(index_stats, total);
        let cost =
            candidate.ranges.len() as f64 + rows * per_row(candidate.index, candidate.covering);
        // An index on ties with the full scan (a tiny or empty table).
        if cost < best_cost || (cost == best_cost && !best_is_index) {
            best_cost = cost;
            best_is_index = true;
            best = candidate.access(Some(rows));
        }
    }
    best
}

/// The cost of reading one row through index `index`.
fn per_row(index: usize, covering: bool) -> f64 {
    if index == 0 {
        CLUSTERED_ROW
    } else if covering {
        COVERING_ROW
    } else {
        LOOKUP_ROW
    }
}

/// What an ORDER BY asks of a one-table read: the table's columns in
/// order, one direction for all, and the rows it needs at most (OFFSET +
/// LIMIT).
#[derive(Debug, Clone)]
pub struct OrderWanted {
    pub columns: Vec<usize>,
    pub descending: bool,
    pub limit: Option<usize>,
}

/// Whether a column of this type sorts in key order exactly as ORDER BY
/// sorts its values (TIMESTAMP sorts by its session-time-zone value, the
/// key by UTC).
fn sorts_in_key_order(sql_type: &SqlType) -> bool {
    !matches!(sql_type, SqlType::Timestamp { .. } | SqlType::Null)
}

/// Whether index `position`'s key order (a secondary entry's key is its
/// columns, then the primary key's) is the order of `columns`, once the
/// columns `fixed` marks (bound to one value by equality) are skipped.
fn index_orders_by(table: &TableMeta, position: usize, fixed: &[bool], columns: &[usize]) -> bool {
    let (Some(index), Some(primary)) = (table.indexes.get(position), table.indexes.first()) else {
        return false;
    };
    let key = if position == 0 {
        index.columns.clone()
    } else {
        index
            .columns
            .iter()
            .chain(&primary.columns)
            .copied()
            .collect()
    };
    let mut seen = fixed.to_vec();
    let mut wanted = columns.iter().peekable();
    for column in key {
        while wanted
            .next_if(|c| seen.get(**c).copied().unwrap_or(false))
            .is_some()
        {}
        let Some(&&next) = wanted.peek() else {
            return true;
        };
        if next == column {
            wanted.next();
        } else if !seen.get(column).copied().unwrap_or(false) {
            return false;
        }
        if let Some(s) = seen.get_mut(column) {
            *s = true;
        }
    }
    // The key holds the whole primary key: it is unique, so any later
    // columns are decided by it.
    true
}

/// The access path for a one-table read whose ORDER BY is `wanted`, and
/// whether it reads in that order (so the sort is skipped and the scan
/// may stop after `wanted.limit` matching rows). An index serves when
/// `index_orders_by`; the ordered read is taken when it is the access
/// path `choose_read` picks anyway (then ordering is free), or, with a
/// LIMIT, when walking it until LIMIT rows match is estimated cheaper:
/// about limit / selectivity rows of its ranges, selectivity being the
/// share of them the WHERE keeps (estimated by the rows the best access
/// path reads), each at its per-row cost. A unique point lookup stays.
pub fn choose_ordered(
    table: &TableMeta,
    where_clause: Option<&Expr>,
    needed: Option<&[bool]>,
    wanted: &OrderWanted,
) -> (Access, bool) {
    let base = choose_read(table, where_clause, needed);
    let plain = wanted
        .columns
        .iter()
        .all(|&c| table.types.get(c).is_some_and(sorts_in_key_order));
    if base.point || wanted.columns.is_empty() || !plain {
        return (base, false);
    }
    let bounds = match where_clause {
        Some(w) => collect_bounds(table, w),
        None => vec![ColumnBounds::default(); table.columns.len()],
    };
    let fixed: Vec<bool> = bounds
        .iter()
        .map(|b| b.equal.as_ref().is_some_and(|v| v.len() == 1))
        .collect();
    let stats = table.stats();
    let total = stats.as_ref().map(|s| s.rows);
    let matching = base.rows;
    let base_cost = base
        .rows
        .map(|r| base.ranges.len() as f64 + r * per_row(base.index, base.covering));
    let mut others = candidates(table, &bounds, needed);
    let mut best: Option<(f64, Access)> = None;
    for position in 0..table.indexes.len() {
        if !index_orders_by(table, position, &fixed, &wanted.columns) {
            continue;
        }
        let same = base.index == position;
        let mut access = if same {
            base.clone()
        } else if let Some(at) = others.iter().position(|c| c.index == position) {
            let candidate = others.swap_remove(at);
            let rows = match (stats.as_ref(), total) {
                (Some(st), Some(total)) => st
                    .indexes
                    .get(position)
                    .map(|index_stats| candidate.rows(index_stats, total)),
                _ => None,
            };
            candidate.access(rows)
        } else {
            Access {
                index: position,
                covering: needed.is_some_and(|n| covers(table, position, n)),
                rows: total,
                ..Access::full_scan()
            }
        };
        // Rows read until `limit` of them match.
        let read = match (wanted.limit, access.rows) {
            (Some(limit), Some(in_ranges)) => {
                let limit = limit as f64;
                Some(match matching {
                    Some(m) if m >= 1.0 => {
                        (limit * in_ranges / m).clamp(limit.min(in_ranges), in_ranges)
                    }
                    _ => in_ranges,
                })
            }
            (None, rows) => rows,
            (Some(limit), None) => Some(limit as f64),
        };
        let cost =
            read.map(|r| access.ranges.len() as f64 + r * per_row(position, access.covering));
        let take = if same {
            true
        } else if wanted.limit.is_none() {
            false
        } else {
            match (cost, base_cost) {
                (Some(c), Some(b)) => c < b,
                // No statistics: only instead of reading everything anyway.
                _ => base.reads_everything(),
            }
        };
        if !take {
            continue;
        }
        let order_cost = if same {
            f64::NEG_INFINITY
        } else {
            cost.unwrap_or(f64::MAX)
        };
        if best.as_ref().is_some_and(|(c, _)| *c <= order_cost) {
            continue;
        }
        access.rows = read;
        access.descending = wanted.descending;
        access.ranges.sort_by(|a, b| compare_lower(&a.0, &b.0));
        best = Some((order_cost, access));
    }
    match best {
        Some((_, access)) => (access, true),
        None => (base, false),
    }
}

/// Orders disjoint ranges by their lower bounds.
fn compare_lower(a: &Bound<Vec<u8>>, b: &Bound<Vec<u8>>) -> std::cmp::Ordering {
    match (a, b) {
        (Bound::Unbounded, Bound::Unbounded) => std::cmp::Ordering::Equal,
        (Bound::Unbounded, _) => std::cmp::Ordering::Less,
        (_, Bound::Unbounded) => std::cmp::Ordering::Greater,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            x.cmp(y)
        }
    }
}
