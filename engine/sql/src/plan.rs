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
//! Choice, without statistics yet: the index with the most equality
//! columns, then one with a range on the next column, the clustered index
//! first on ties; a full scan of the clustered index otherwise.

use std::ops::Bound;

use crate::catalog::{IndexMeta, TableMeta};
use crate::expr::{CompareOp, Expr, LogicOp};
use crate::key::{encode_key, KeyColumn};
use crate::types::{SqlType, TypeClass};
use crate::value::Value;

/// Equality lists larger than this make a plan with this many ranges at most.
const MAX_RANGES: usize = 256;

pub type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// 0: the clustered index; i > 0: secondary index i - 1.
    pub index: usize,
    pub ranges: Vec<KeyRange>,
    /// Every range is one full clustered key: read with `get`.
    pub point: bool,
}

impl Access {
    pub fn full_scan() -> Access {
        Access {
            index: 0,
            ranges: vec![(Bound::Unbounded, Bound::Unbounded)],
            point: false,
        }
    }

    /// For EXPLAIN-like logs and tests.
    pub fn describe(&self, table: &TableMeta) -> String {
        let name = table
            .indexes
            .get(self.index)
            .map_or("?", |i| i.name.as_str());
        if self.ranges == [(Bound::Unbounded, Bound::Unbounded)] {
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

/// The access path for a statement on `table` filtered by `where_clause`.
pub fn choose(table: &TableMeta, where_clause: Option<&Expr>) -> Access {
    let Some(where_clause) = where_clause else {
        return Access::full_scan();
    };
    let bounds = collect_bounds(table, where_clause);
    let mut best: Option<(usize, Access)> = None;
    for (position, index) in table.indexes.iter().enumerate() {
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
        let score = equal_columns * 2 + usize::from(range.is_some());
        if score == 0 {
            continue;
        }
        let full_key = equal_columns == index.columns.len();
        let Some(mut ranges) = ranges_for(index, &prefixes, range) else {
            continue;
        };
        // `c IN (1, 1)` (or an IN list from a subquery) repeats values:
        // each range once, or its rows would be read twice.
        let mut seen = std::collections::HashSet::new();
        ranges.retain(|r| seen.insert(r.clone()));
        // A unique index fully bound beats a longer partial prefix.
        let score = if full_key && index.kind != floe_storage::dict::IndexKind::NonUnique {
            score + 1000
        } else {
            score
        };
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((
                score,
                Access {
                    index: position,
                    point: position == 0 && full_key,
                    ranges,
                },
            ));
        }
    }
    best.map_or_else(Access::full_scan, |(_, access)| access)
}
