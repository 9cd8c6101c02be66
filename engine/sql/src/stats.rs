//! Index statistics, as InnoDB's transient statistics: per table an
//! estimate of its rows, and per index an estimate of the distinct values
//! of every key prefix (MySQL's `n_diff`, shown as SHOW INDEX's
//! Cardinality) plus a small sorted sample of keys (for the share of rows a
//! key range holds). `plan::choose` turns them into row estimates and
//! costs; the join order and EXPLAIN's `rows` read the same figures.
//!
//! Taking them reads `SAMPLE_DIVES` random leaves per index
//! (`Table::sample`), or small indexes whole (then the figures are exact).
//! Distinct prefixes are estimated from how often the prefix changes
//! between neighbouring keys in the leaves read: with `t` the share of
//! neighbour pairs whose first k columns differ, `n_diff(k) = 1 + t * (rows
//! - 1)`. Unlike counting distinct values per page (which counts a value
//! spread over many pages once per page), changes between neighbours scale
//! from a sample to the whole index without bias. A unique index's full
//! key is taken as `rows` distinct values.
//!
//! When: on first use of a table's figures, at ANALYZE TABLE, and again
//! once the rows changed since the last taking exceed 16 + rows/16
//! (InnoDB's rule for recalculation), counted by the writes
//! (`TableMeta::note_change`). Statements that have one obvious path (a
//! unique key fully bound) never ask for them.

use std::sync::Arc;

use floe_storage::dict::IndexKind;
use floe_storage::trx::TrxSystem;

use crate::catalog::TableMeta;
use crate::key::column_ends;

/// Random leaves read per index.
pub const SAMPLE_DIVES: usize = 16;
/// Keys kept per index for range estimates.
const SAMPLE_KEYS: usize = 256;

/// The statistics of one table.
#[derive(Debug, Clone)]
pub struct TableStats {
    /// Estimated live rows.
    pub rows: f64,
    /// One per index of the table, in `TableMeta::indexes` order.
    pub indexes: Vec<IndexStats>,
    /// `TableMeta::changes` when these were taken.
    pub taken_at_change: u64,
    /// Every leaf was read: the figures are counts, not estimates.
    pub exact: bool,
}

/// The statistics of one index.
#[derive(Debug, Clone)]
pub struct IndexStats {
    /// Estimated distinct values of the first k key columns at `k - 1`.
    pub n_diff: Vec<f64>,
    /// Sorted keys (for a secondary index: key and primary key) picked
    /// evenly from the leaves read.
    pub sample: Vec<Vec<u8>>,
}

impl IndexStats {
    /// Estimated rows per value of the first `columns` key columns.
    pub fn rows_per_prefix(&self, rows: f64, columns: usize) -> f64 {
        match columns.checked_sub(1).and_then(|k| self.n_diff.get(k)) {
            Some(&distinct) if distinct >= 1.0 => (rows / distinct).max(1.0),
            Some(_) => rows.max(1.0),
            None => rows,
        }
    }

    /// The share of the index's keys inside any of `ranges`, from the
    /// sample (at least half a sampled key, so no range reads as empty).
    pub fn share_in(&self, ranges: &[crate::plan::KeyRange]) -> f64 {
        if self.sample.is_empty() {
            return 1.0;
        }
        let inside = self
            .sample
            .iter()
            .filter(|key| ranges.iter().any(|range| in_range(key, range)))
            .count();
        (inside as f64).max(0.5) / self.sample.len() as f64
    }
}

fn in_range(key: &[u8], (lower, upper): &crate::plan::KeyRange) -> bool {
    use std::ops::Bound;
    let above = match lower {
        Bound::Included(l) => key >= l.as_slice(),
        Bound::Excluded(l) => key > l.as_slice(),
        Bound::Unbounded => true,
    };
    // A bound on a key prefix covers every longer key that starts with it.
    let below = match upper {
        Bound::Included(u) => key <= u.as_slice() || key.starts_with(u),
        Bound::Excluded(u) => key < u.as_slice(),
        Bound::Unbounded => true,
    };
    above && below
}

/// Takes the statistics of `meta` now. `seed` picks the leaves.
pub fn take(
    sys: &TrxSystem,
    meta: &TableMeta,
    taken_at_change: u64,
    seed: u64,
) -> Result<TableStats, floe_storage::trx::TrxError> {
    let mut indexes = Vec::with_capacity(meta.indexes.len());
    let mut rows = 0.0;
    let mut exact = true;
    for (position, index) in meta.indexes.iter().enumerate() {
        let which = position.checked_sub(1);
        let sample = meta.table.sample(sys, which, SAMPLE_DIVES, seed)?;
        if position == 0 {
            rows = sample.records;
        }
        exact &= sample.exact;
        let columns = index.key_columns.len();
        let mut changes = vec![0usize; columns];
        let mut pairs = 0usize;
        let mut compare = |a: &[u8], b: &[u8]| {
            let (Some(ends_a), Some(ends_b)) = (
                column_ends(a, &index.key_columns),
                column_ends(b, &index.key_columns),
            ) else {
                return;
            };
            pairs += 1;
            for k in 0..columns {
                if a[..ends_a[k]] != b[..ends_b[k]] {
                    changes[k] += 1;
                }
            }
        };
        if sample.exact {
            let all: Vec<&Vec<u8>> = sample.leaves.iter().flatten().collect();
            for pair in all.windows(2) {
                compare(pair[0], pair[1]);
            }
        } else {
            for leaf in &sample.leaves {
                for pair in leaf.windows(2) {
                    compare(&pair[0], &pair[1]);
                }
            }
        }
        let unique = index.kind != IndexKind::NonUnique;
        let n_diff = (0..columns)
            .map(|k| {
                if rows < 1.0 {
                    0.0
                } else if unique && k + 1 == columns {
                    rows
                } else if pairs == 0 {
                    1.0
                } else {
                    let share = changes[k] as f64 / pairs as f64;
                    (1.0 + share * (rows - 1.0)).min(rows)
                }
            })
            .collect();
        let mut keys: Vec<Vec<u8>> = sample.leaves.into_iter().flatten().collect();
        if keys.len() > SAMPLE_KEYS {
            let step = keys.len() as f64 / SAMPLE_KEYS as f64;
            keys = (0..SAMPLE_KEYS)
                .map(|i| std::mem::take(&mut keys[(i as f64 * step) as usize]))
                .collect();
        }
        keys.sort_unstable();
        indexes.push(IndexStats {
            n_diff,
            sample: keys,
        });
    }
    Ok(TableStats {
        rows,
        indexes,
        taken_at_change,
        exact,
    })
}

/// Whether statistics taken at `stats.taken_at_change` are still good at
/// `changes`.
pub fn fresh(stats: &TableStats, changes: u64) -> bool {
    let changed = changes.saturating_sub(stats.taken_at_change) as f64;
    changed <= 16.0 + stats.rows / 16.0
}

/// Shared, replaceable statistics of a table.
pub type SharedStats = floe_rt::sync::RwLock<Option<Arc<TableStats>>>;
