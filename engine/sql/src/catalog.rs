//! The SQL view of the storage dictionary: column and index metadata with
//! SQL types, built from and written to `floe_storage::dict` definitions.
//!
//! Column definition in the dictionary (`ColumnDef`; the dictionary keeps
//! these bytes for us and never reads them):
//! - `type_code`: MySQL's protocol type code (`ColumnTypeCode`); BINARY,
//!   VARBINARY and BLOB share CHAR's, VARCHAR's and TEXT's codes and are told
//!   apart by `COLUMN_BINARY`.
//! - `flags` (ours, not the protocol's): `COLUMN_NOT_NULL`,
//!   `COLUMN_UNSIGNED`, `COLUMN_AUTO_INCREMENT`, `COLUMN_BINARY`,
//!   `COLUMN_HIDDEN` (the row id of a table without a primary key).
//! - `length`: characters for CHAR/VARCHAR, bytes for BINARY/VARBINARY,
//!   precision for DECIMAL; `scale`: DECIMAL scale or temporal fsp.
//! - `default`: `None` when the column has no DEFAULT; otherwise
//!   `DEFAULT_NULL` (one byte 0) or `DEFAULT_VALUE` (one byte 1) followed by
//!   the value's MySQL text, converted to the column's type when loaded.
//!
//! Table options (`TableDef::options`): `version u8 (1) | auto_increment_start u64 LE`.
//!
//! Names: schemas and tables are stored lower-cased (MySQL's
//! `lower_case_table_names=1`); columns and indexes as written, and matched
//! case-insensitively as MySQL does.
//!
//! AUTO_INCREMENT and hidden row ids are counters in memory, set when a
//! table is loaded to one above the largest committed value (a backward
//! scan of the index the column leads). Crash semantics are InnoDB 5.7's:
//! values handed to transactions that rolled back, or that never committed
//! before a crash, may be handed out again after a restart; committed values
//! never are.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use floe_rt::sync::{Condvar, Mutex};
use floe_storage::dict::{ColumnDef, IndexKind, TableDef};
use floe_storage::row::RowKeys;
use floe_storage::trx::Table;

use crate::collation::Collation;
use crate::key::{encode_key, KeyColumn};
use crate::row;
use crate::types::{ColumnTypeCode, IntWidth, SqlType};
use crate::value::Value;

pub const COLUMN_NOT_NULL: u16 = 1;
pub const COLUMN_UNSIGNED: u16 = 1 << 1;
pub const COLUMN_AUTO_INCREMENT: u16 = 1 << 2;
pub const COLUMN_BINARY: u16 = 1 << 3;
pub const COLUMN_HIDDEN: u16 = 1 << 4;

const DEFAULT_NULL: u8 = 0;
const DEFAULT_VALUE: u8 = 1;
const OPTIONS_VERSION: u8 = 1;

/// The name of the hidden clustered key column (InnoDB's `DB_ROW_ID`).
pub const HIDDEN_ROW_ID: &str = "DB_ROW_ID";
pub const HIDDEN_PRIMARY: &str = "GEN_CLUST_INDEX";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CatalogError {
    #[error("table {table}: column {column}: unknown type code {type_code} with flags {flags:#x}")]
    UnknownType {
        table: String,
        column: String,
        type_code: u8,
        flags: u16,
    },
    #[error("table {table}: column {column}: default {what}")]
    BadDefault {
        table: String,
        column: String,
        what: String,
    },
    #[error("table {table}: options {what}")]
    BadOptions { table: String, what: String },
    #[error("table {table}: index {index} on a column without a key encoding")]
    BadIndex { table: String, index: String },
}

/// A column's DEFAULT.
#[derive(Debug, Clone)]
pub enum ColumnDefault {
    /// No DEFAULT clause on a NOT NULL column: an INSERT must give a value
    /// (1364 in strict mode).
    None,
    Null,
    Value(Value),
}

#[derive(Debug, Clone)]
pub struct ColumnMeta {
    pub name: String,
    pub sql_type: SqlType,
    pub nullable: bool,
    pub auto_increment: bool,
    pub hidden: bool,
    pub default: ColumnDefault,
}

impl ColumnMeta {
    /// The dictionary form; `default_text` is the default as MySQL text.
    pub fn to_def(&self) -> ColumnDef {
        let (type_code, mut flags, length, scale) = type_to_def(&self.sql_type);
        if !self.nullable {
            flags |= COLUMN_NOT_NULL;
        }
        if self.auto_increment {
            flags |= COLUMN_AUTO_INCREMENT;
        }
        if self.hidden {
            flags |= COLUMN_HIDDEN;
        }
        let default = match &self.default {
            ColumnDefault::None => None,
            ColumnDefault::Null => Some(vec![DEFAULT_NULL]),
            ColumnDefault::Value(value) => {
                let mut bytes = vec![DEFAULT_VALUE];
                bytes.extend_from_slice(&value.to_text().unwrap_or_default());
                Some(bytes)
            }
        };
        ColumnDef {
            name: self.name.clone(),
            type_code,
            flags,
            length,
            scale,
            default,
        }
    }

    pub fn from_def(table: &str, def: &ColumnDef) -> Result<Self, CatalogError> {
        let sql_type = type_from_def(def).ok_or_else(|| CatalogError::UnknownType {
            table: table.to_string(),
            column: def.name.clone(),
            type_code: def.type_code,
            flags: def.flags,
        })?;
        let bad_default = |what: &str| CatalogError::BadDefault {
            table: table.to_string(),
            column: def.name.clone(),
            what: what.to_string(),
        };
        let default = match def.default.as_deref() {
            None => ColumnDefault::None,
            Some([DEFAULT_NULL]) => ColumnDefault::Null,
            Some([DEFAULT_VALUE, text @ ..]) => {
                let value = Value::Bytes(text.to_vec(), Collation::Utf8mb4_0900AiCi);
                match row::convert_for_column(value, &sql_type) {
                    Ok(value) => ColumnDefault::Value(value),
                    Err(_) => return Err(bad_default("does not convert to the column's type")),
                }
            }
            Some(_) => return Err(bad_default("has an unknown tag")),
        };
        Ok(Self {
            name: def.name.clone(),
            sql_type,
            nullable: def.flags & COLUMN_NOT_NULL == 0,
            auto_increment: def.flags & COLUMN_AUTO_INCREMENT != 0,
            hidden: def.flags & COLUMN_HIDDEN != 0,
            default,
        })
    }
}

/// (type_code, flags, length, scale) of a type in the dictionary.
pub fn type_to_def(sql_type: &SqlType) -> (u8, u16, u32, u8) {
    let code = sql_type.type_code() as u8;
    match sql_type {
        SqlType::Int { unsigned, .. } => (code, if *unsigned { COLUMN_UNSIGNED } else { 0 }, 0, 0),
        SqlType::Decimal { precision, scale } => (code, 0, u32::from(*precision), *scale),
        SqlType::Char { length_chars, .. } | SqlType::VarChar { length_chars, .. } => {
            (code, 0, *length_chars, 0)
        }
        SqlType::Binary { length_bytes } | SqlType::VarBinary { length_bytes } => {
            (code, COLUMN_BINARY, *length_bytes, 0)
        }
        SqlType::Blob => (code, COLUMN_BINARY, 0, 0),
        SqlType::DateTime { fsp } | SqlType::Timestamp { fsp } | SqlType::Time { fsp } => {
            (code, 0, 0, *fsp)
        }
        _ => (code, 0, 0, 0),
    }
}

fn type_from_def(def: &ColumnDef) -> Option<SqlType> {
    let binary = def.flags & COLUMN_BINARY != 0;
    let unsigned = def.flags & COLUMN_UNSIGNED != 0;
    let int = |width| Some(SqlType::Int { width, unsigned });
    let collation = Collation::Utf8mb4_0900AiCi;
    let fsp = (def.scale <= 6).then_some(def.scale);
    match def.type_code {
        c if c == ColumnTypeCode::Tiny as u8 => int(IntWidth::Tiny),
        c if c == ColumnTypeCode::Short as u8 => int(IntWidth::Small),
        c if c == ColumnTypeCode::Int24 as u8 => int(IntWidth::Medium),
        c if c == ColumnTypeCode::Long as u8 => int(IntWidth::Int),
        c if c == ColumnTypeCode::LongLong as u8 => int(IntWidth::Big),
        c if c == ColumnTypeCode::NewDecimal as u8 => {
            SqlType::decimal(def.length, u32::from(def.scale)).ok()
        }
        c if c == ColumnTypeCode::Float as u8 => Some(SqlType::Float),
        c if c == ColumnTypeCode::Double as u8 => Some(SqlType::Double),
        c if c == ColumnTypeCode::String as u8 => Some(if binary {
            SqlType::Binary {
                length_bytes: def.length,
            }
        } else {
            SqlType::Char {
                length_chars: def.length,
                collation,
            }
        }),
        c if c == ColumnTypeCode::VarString as u8 => Some(if binary {
            SqlType::VarBinary {
                length_bytes: def.length,
            }
        } else {
            SqlType::VarChar {
                length_chars: def.length,
                collation,
            }
        }),
        c if c == ColumnTypeCode::Blob as u8 => Some(if binary {
            SqlType::Blob
        } else {
            SqlType::Text { collation }
        }),
        c if c == ColumnTypeCode::Date as u8 => Some(SqlType::Date),
        c if c == ColumnTypeCode::DateTime as u8 => Some(SqlType::DateTime { fsp: fsp? }),
        c if c == ColumnTypeCode::Timestamp as u8 => Some(SqlType::Timestamp { fsp: fsp? }),
        c if c == ColumnTypeCode::Time as u8 => Some(SqlType::Time { fsp: fsp? }),
        _ => None,
    }
}

// ---- views ------------------------------------------------------------
//
// A view is a dictionary record with no columns and no indexes whose
// options are `b'V' | version u8 (1) | the view's SELECT as UTF-8`. Table
// options start with their own version byte (1), never `b'V'`. The SELECT
// is bound again at each use (MySQL stores it resolved; here a dropped
// table or column surfaces when the view is used).

const VIEW_OPTIONS_MAGIC: u8 = b'V';
const VIEW_OPTIONS_VERSION: u8 = 1;

/// A view: its name and its SELECT's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewMeta {
    pub schema: String,
    pub name: String,
    pub sql: String,
}

/// Options bytes of a view record.
pub fn encode_view_options(sql: &str) -> Vec<u8> {
    let mut out = vec![VIEW_OPTIONS_MAGIC, VIEW_OPTIONS_VERSION];
    out.extend_from_slice(sql.as_bytes());
    out
}

/// The view a dictionary record holds; None when it is a table.
pub fn decode_view(def: &TableDef) -> Option<Result<ViewMeta, CatalogError>> {
    let [VIEW_OPTIONS_MAGIC, version, sql @ ..] = def.options.as_slice() else {
        return None;
    };
    if !def.columns.is_empty() || !def.indexes.is_empty() {
        return None;
    }
    Some(if *version != VIEW_OPTIONS_VERSION {
        Err(CatalogError::BadOptions {
            table: def.name.clone(),
            what: format!("view version {version}; this build reads {VIEW_OPTIONS_VERSION}"),
        })
    } else {
        String::from_utf8(sql.to_vec())
            .map(|sql| ViewMeta {
                schema: def.schema.clone(),
                name: def.name.clone(),
                sql,
            })
            .map_err(|_| CatalogError::BadOptions {
                table: def.name.clone(),
                what: "view text is not UTF-8".into(),
            })
    })
}

/// Table options bytes for a new table.
pub fn encode_options(auto_increment_start: u64) -> Vec<u8> {
    let mut out = vec![OPTIONS_VERSION];
    out.extend_from_slice(&auto_increment_start.to_le_bytes());
    out
}

fn decode_options(table: &str, bytes: &[u8]) -> Result<u64, CatalogError> {
    match bytes {
        [] => Ok(1),
        [OPTIONS_VERSION, rest @ ..] => {
            let start: [u8; 8] = rest.try_into().map_err(|_| CatalogError::BadOptions {
                table: table.to_string(),
                what: format!("are {} bytes, expected 9", bytes.len()),
            })?;
            Ok(u64::from_le_bytes(start))
        }
        [version, ..] => Err(CatalogError::BadOptions {
            table: table.to_string(),
            what: format!("version {version}; this build reads {OPTIONS_VERSION}"),
        }),
    }
}

/// An index as the planner sees it.
#[derive(Debug, Clone)]
pub struct IndexMeta {
    pub name: String,
    pub kind: IndexKind,
    /// Positions of the key's columns in the row.
    pub columns: Vec<usize>,
    pub key_columns: Vec<KeyColumn>,
}

/// How secondary keys are cut from rows: the `RowKeys` of a table.
pub struct TableKeys {
    types: Vec<SqlType>,
    secondaries: Vec<IndexMeta>,
}

impl RowKeys for TableKeys {
    fn secondary_key(&self, index: usize, row_bytes: &[u8], out: &mut Vec<u8>) -> bool {
        // Rows reach here only after this layer encoded them: a row that does
        // not decode, or an index that does not exist, is a broken invariant.
        let index = self
            .secondaries
            .get(index)
            .unwrap_or_else(|| panic!("secondary index {index} of a table that has fewer"));
        let values = row::decode(row_bytes, &self.types)
            .unwrap_or_else(|e| panic!("row written by this layer does not decode: {e}"));
        let key_values: Vec<Value> = index
            .columns
            .iter()
            .map(|&c| values.get(c).cloned().unwrap_or(Value::Null))
            .collect();
        let has_null = key_values.iter().any(Value::is_null);
        encode_key(&key_values, &index.key_columns, out)
            .unwrap_or_else(|e| panic!("index {}: stored value has no key: {e}", index.name));
        has_null
    }
}

/// Metadata lock: statements of open transactions hold a table; DROP and
/// ALTER wait until none does (MySQL's MDL, reduced to shared/exclusive on
/// one table). A pending or granted exclusive request makes new shared
/// requests wait, as MySQL's MDL does, so a stream of short transactions
/// cannot starve DDL.
#[derive(Default)]
pub struct Mdl {
    state: Mutex<MdlState>,
    released: Condvar,
}

#[derive(Default)]
struct MdlState {
    holders: usize,
    /// An ALTER waits for or holds the table.
    exclusive: bool,
    dropped: bool,
    /// An ALTER replaced this definition: holders must look the table up again.
    replaced: bool,
}

/// What a shared request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MdlGrant {
    Granted,
    /// The table was dropped meanwhile.
    Dropped,
    /// An ALTER replaced the definition this request was made with.
    Replaced,
}

impl Mdl {
    /// Takes a shared hold, waiting while an ALTER holds the table.
    pub fn acquire(&self) -> MdlGrant {
        let mut state = self.state.lock();
        while state.exclusive && !state.dropped && !state.replaced {
            state = self.released.wait(state);
        }
        if state.dropped {
            return MdlGrant::Dropped;
        }
        if state.replaced {
            return MdlGrant::Replaced;
        }
        state.holders += 1;
        MdlGrant::Granted
    }

    pub fn release(&self) {
        let mut state = self.state.lock();
        assert!(state.holders > 0, "MDL released more often than acquired");
        state.holders -= 1;
        if state.holders == 0 {
            self.released.notify_all();
        }
    }

    /// Waits (up to `timeout`) until no statement holds the table; new
    /// shared requests wait meanwhile. False (and nothing held) on timeout.
    fn wait_exclusive(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock();
        if state.exclusive || state.dropped || state.replaced {
            // Another DDL has it (the caller holds the DDL mutex, so this
            // is a stale definition): nothing to wait for.
            return false;
        }
        state.exclusive = true;
        while state.holders > 0 {
            let now = Instant::now();
            if now >= deadline {
                state.exclusive = false;
                self.released.notify_all();
                return false;
            }
            state = self.released.wait_timeout(state, deadline - now).0;
        }
        true
    }

    /// Waits until no statement holds the table, then marks it dropped;
    /// false if `timeout` passed first.
    pub fn acquire_for_drop(&self, timeout: Duration) -> bool {
        if !self.wait_exclusive(timeout) {
            return false;
        }
        let mut state = self.state.lock();
        state.dropped = true;
        state.exclusive = false;
        self.released.notify_all();
        true
    }

    /// Undoes `acquire_for_drop` when the drop itself failed.
    pub fn undrop(&self) {
        self.state.lock().dropped = false;
    }

    /// Takes the table for an ALTER; false if `timeout` passed first.
    pub fn acquire_exclusive(&self, timeout: Duration) -> bool {
        self.wait_exclusive(timeout)
    }

    /// Ends an ALTER: `replaced` when a new definition took this one's
    /// place (waiters then look the table up again).
    pub fn release_exclusive(&self, replaced: bool) {
        let mut state = self.state.lock();
        state.exclusive = false;
        state.replaced = replaced;
        self.released.notify_all();
    }
}

/// A table: its definition, SQL metadata, open storage handle, counters.
pub struct TableMeta {
    pub schema: String,
    pub name: String,
    pub def: TableDef,
    pub columns: Vec<ColumnMeta>,
    pub types: Vec<SqlType>,
    /// The clustered index first, then the secondaries in storage order.
    pub indexes: Vec<IndexMeta>,
    pub table: Table,
    /// Next AUTO_INCREMENT value, or next hidden row id.
    pub next_auto_increment: AtomicU64,
    pub auto_increment_column: Option<usize>,
    pub hidden_row_id: bool,
    pub mdl: Mdl,
    /// Rows written or deleted since open (see `stats`).
    changes: AtomicU64,
    stats: crate::stats::SharedStats,
    /// A statement is taking stale statistics again.
    taking_stats: std::sync::atomic::AtomicBool,
    /// For taking statistics; weak, as the system must be the database's
    /// alone when it shuts down.
    sys: std::sync::Weak<floe_storage::trx::TrxSystem>,
}

impl TableMeta {
    /// Builds the SQL metadata of `def` and opens its storage handle.
    pub fn open(
        sys: &Arc<floe_storage::trx::TrxSystem>,
        def: TableDef,
    ) -> Result<Arc<TableMeta>, CatalogError> {
        let columns = def
            .columns
            .iter()
            .map(|c| ColumnMeta::from_def(&def.name, c))
            .collect::<Result<Vec<_>, _>>()?;
        let types: Vec<SqlType> = columns.iter().map(|c| c.sql_type).collect();
        let mut indexes = Vec::with_capacity(def.indexes.len());
        for index in &def.indexes {
            let positions: Vec<usize> = index.columns.iter().map(|&c| usize::from(c)).collect();
            let key_columns = positions
                .iter()
                .map(|&p| types.get(p).and_then(KeyColumn::for_type))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| CatalogError::BadIndex {
                    table: def.name.clone(),
                    index: index.name.clone(),
                })?;
            indexes.push(IndexMeta {
                name: index.name.clone(),
                kind: index.kind,
                columns: positions,
                key_columns,
            });
        }
        let start = decode_options(&def.name, &def.options)?;
        let keys = Arc::new(TableKeys {
            types: types.clone(),
            secondaries: indexes.iter().skip(1).cloned().collect(),
        });
        let table = Table::open(sys, &def, keys);
        let auto_increment_column = columns.iter().position(|c| c.auto_increment);
        let hidden_row_id = columns.first().is_some_and(|c| c.hidden);
        Ok(Arc::new(TableMeta {
            schema: def.schema.clone(),
            name: def.name.clone(),
            columns,
            types,
            indexes,
            table,
            next_auto_increment: AtomicU64::new(start.max(1)),
            auto_increment_column,
            hidden_row_id,
            mdl: Mdl::default(),
            def,
            changes: AtomicU64::new(0),
            stats: Default::default(),
            taking_stats: Default::default(),
            sys: Arc::downgrade(sys),
        }))
    }

    /// Counts one row written or deleted (statistics go stale by these).
    pub fn note_change(&self) {
        self.changes.fetch_add(1, Ordering::Relaxed);
    }

    /// The table's statistics, taken now if there are none yet or they
    /// went stale (see `stats`); None when the index pages cannot be read
    /// (logged; plans then do without).
    pub fn stats(&self) -> Option<Arc<crate::stats::TableStats>> {
        let changes = self.changes.load(Ordering::Relaxed);
        let old = self.stats.read().clone();
        if let Some(stats) = &old {
            if crate::stats::fresh(stats, changes) {
                return old;
            }
            // Stale: one statement takes them again; the others go on
            // with the old figures meanwhile.
            if self.taking_stats.swap(true, Ordering::Acquire) {
                return old;
            }
        }
        let taken = self.analyze();
        self.taking_stats.store(false, Ordering::Release);
        match taken {
            Ok(stats) => Some(stats),
            Err(e) => {
                log::warn!("statistics of {}.{}: {e}", self.schema, self.name);
                old
            }
        }
    }

    /// Estimated rows (information_schema.TABLES.TABLE_ROWS).
    pub fn estimated_rows(&self) -> Option<u64> {
        self.stats().map(|st| st.rows.round() as u64)
    }

    /// Estimated distinct values of the first `columns` columns of index
    /// `position` (SHOW INDEX's Cardinality).
    pub fn cardinality(&self, position: usize, columns: usize) -> Option<u64> {
        let stats = self.stats()?;
        let distinct = stats
            .indexes
            .get(position)?
            .n_diff
            .get(columns.checked_sub(1)?)?;
        Some(distinct.round() as u64)
    }

    /// Takes the statistics now (ANALYZE TABLE).
    pub fn analyze(&self) -> Result<Arc<crate::stats::TableStats>, floe_storage::trx::TrxError> {
        let changes = self.changes.load(Ordering::Relaxed);
        let seed = changes ^ self.def.indexes.first().map_or(0, |i| i.index_id);
        let sys = self
            .sys
            .upgrade()
            .ok_or(floe_storage::trx::TrxError::ShutDown)?;
        let stats = Arc::new(crate::stats::take(&sys, self, changes, seed)?);
        *self.stats.write() = Some(Arc::clone(&stats));
        Ok(stats)
    }

    /// Case-insensitive column lookup (hidden columns are not visible).
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| !c.hidden && c.name.eq_ignore_ascii_case(name))
    }

    /// The primary key of `row` (its clustered index key).
    pub fn primary_key(&self, row: &[Value]) -> crate::Result<Vec<u8>> {
        let primary = &self.indexes[0];
        let values: Vec<Value> = primary
            .columns
            .iter()
            .map(|&c| row.get(c).cloned().unwrap_or(Value::Null))
            .collect();
        let mut out = Vec::with_capacity(16);
        encode_key(&values, &primary.key_columns, &mut out)?;
        Ok(out)
    }

    /// Takes the next AUTO_INCREMENT / row id value.
    pub fn take_auto_increment(&self) -> u64 {
        self.next_auto_increment.fetch_add(1, Ordering::SeqCst)
    }

    /// Raises the counter past an explicitly inserted value (MySQL does).
    pub fn observe_auto_increment(&self, value: u64) {
        self.next_auto_increment
            .fetch_max(value.saturating_add(1), Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(sql_type: SqlType, nullable: bool, default: ColumnDefault) -> ColumnMeta {
        ColumnMeta {
            name: "c".into(),
            sql_type,
            nullable,
            auto_increment: false,
            hidden: false,
            default,
        }
    }

    // Every column type survives the trip through the dictionary's
    // ColumnDef, with nullability and defaults.
    #[test]
    fn column_definitions_round_trip() {
        let collation = Collation::Utf8mb4_0900AiCi;
        let types = [
            SqlType::Int {
                width: IntWidth::Tiny,
                unsigned: true,
            },
            SqlType::Int {
                width: IntWidth::Big,
                unsigned: false,
            },
            SqlType::Decimal {
                precision: 10,
                scale: 2,
            },
            SqlType::Float,
            SqlType::Double,
            SqlType::Char {
                length_chars: 3,
                collation,
            },
            SqlType::VarChar {
                length_chars: 30,
                collation,
            },
            SqlType::Text { collation },
            SqlType::Binary { length_bytes: 4 },
            SqlType::VarBinary { length_bytes: 40 },
            SqlType::Blob,
            SqlType::Date,
            SqlType::DateTime { fsp: 3 },
            SqlType::Timestamp { fsp: 0 },
            SqlType::Time { fsp: 6 },
        ];
        for sql_type in types {
            for nullable in [true, false] {
                let meta = column(sql_type, nullable, ColumnDefault::Null);
                let back = ColumnMeta::from_def("t", &meta.to_def()).expect("decodes");
                assert_eq!(back.sql_type, sql_type);
                assert_eq!(back.nullable, nullable);
                assert!(matches!(back.default, ColumnDefault::Null));
            }
        }
        let meta = column(
            SqlType::Decimal {
                precision: 6,
                scale: 2,
            },
            false,
            ColumnDefault::Value(Value::string("1.5")),
        );
        let back = ColumnMeta::from_def("t", &meta.to_def()).expect("decodes");
        match back.default {
            ColumnDefault::Value(value) => assert_eq!(value.to_string(), "1.50"),
            other => panic!("default lost: {other:?}"),
        }
        let none = column(SqlType::BIGINT, false, ColumnDefault::None);
        let back = ColumnMeta::from_def("t", &none.to_def()).expect("decodes");
        assert!(matches!(back.default, ColumnDefault::None));
    }

    // Options carry a version; unknown versions and lengths are refused.
    #[test]
    fn options_are_versioned() {
        assert_eq!(decode_options("t", &encode_options(42)), Ok(42));
        assert_eq!(decode_options("t", &[]), Ok(1));
        assert!(decode_options("t", &[2, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(decode_options("t", &[1, 0]).is_err());
    }

    /// Runs `take` (an exclusive request) on a thread; its answer comes
    /// through the receiver once it returns. The wait is generous: these
    /// tests show who waits for whom, they do not time anything.
    fn exclusive_on_thread(
        mdl: &Arc<Mdl>,
        take: fn(&Mdl, Duration) -> bool,
    ) -> std::sync::mpsc::Receiver<bool> {
        let (send, receive) = std::sync::mpsc::channel();
        let mdl = Arc::clone(mdl);
        std::thread::spawn(move || send.send(take(&mdl, Duration::from_secs(600))));
        receive
    }

    // A dropped table refuses new holders; DROP waits for holders to leave.
    #[test]
    fn mdl_drop_waits_for_holders() {
        let mdl = Arc::new(Mdl::default());
        assert_eq!(mdl.acquire(), MdlGrant::Granted);
        let dropped = exclusive_on_thread(&mdl, Mdl::acquire_for_drop);
        // While the holder stays, the drop has not returned.
        assert_eq!(
            dropped.try_recv(),
            Err(std::sync::mpsc::TryRecvError::Empty)
        );
        mdl.release();
        assert_eq!(dropped.recv(), Ok(true));
        assert_eq!(mdl.acquire(), MdlGrant::Dropped);
    }

    // An ALTER waits for holders; a shared request made while it holds the
    // table waits for it and then learns the definition was replaced.
    #[test]
    fn mdl_alter_blocks_new_holders_until_replaced() {
        let mdl = Arc::new(Mdl::default());
        assert_eq!(mdl.acquire(), MdlGrant::Granted);
        let altering = exclusive_on_thread(&mdl, Mdl::acquire_exclusive);
        assert_eq!(
            altering.try_recv(),
            Err(std::sync::mpsc::TryRecvError::Empty)
        );
        mdl.release();
        assert_eq!(altering.recv(), Ok(true));
        let waiter = {
            let mdl = Arc::clone(&mdl);
            std::thread::spawn(move || mdl.acquire())
        };
        mdl.release_exclusive(true);
        assert_eq!(waiter.join().expect("waiter"), MdlGrant::Replaced);
        // A failed ALTER leaves the table usable.
        let other = Arc::new(Mdl::default());
        assert_eq!(
            exclusive_on_thread(&other, Mdl::acquire_exclusive).recv(),
            Ok(true)
        );
        other.release_exclusive(false);
        assert_eq!(other.acquire(), MdlGrant::Granted);
    }
}
