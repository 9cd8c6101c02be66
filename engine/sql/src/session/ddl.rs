//! DDL: CREATE TABLE, DROP DATABASE / TABLE, CREATE / DROP INDEX, ALTER
//! TABLE (ADD / DROP INDEX, ADD / DROP COLUMN), TRUNCATE, SHOW CREATE
//! TABLE, SHOW INDEX, column types.
//!
//! Index DDL is blocking, as MySQL's `ALGORITHM=COPY, LOCK=EXCLUSIVE`:
//! `Database::alter_table` takes the table's exclusive metadata lock (new
//! statements on the table wait, open transactions that hold it are waited
//! for up to `innodb_lock_wait_timeout`). CREATE INDEX then reads every
//! clustered record (all writers have ended, so the newest version is
//! committed), skips the delete-marked ones, and inserts one entry per row
//! into a new tree; only then is the dictionary record replaced. A crash
//! before that leaves the table as it was (the new tree's pages leak), so a
//! half-built index never survives as if complete.
//!
//! ADD / DROP COLUMN and TRUNCATE build new trees for the whole table
//! (ALGORITHM=COPY): rows are converted into a new clustered tree, each
//! index is rebuilt over it, and the swap is the same dictionary record
//! replacement, so a crash leaves the old table or the new one.
//!
//! Knowingly different from MySQL:
//! - A transaction whose read view is older than the DDL and reads the
//!   table afterwards sees the new index's entries / the copied rows as
//!   committed before it (copied rows carry no history); MySQL refuses
//!   such reads with ER_TABLE_DEF_CHANGED.
//! - Several ALTER operations in one statement run one after the other,
//!   each durable on its own: a failure in the second keeps the first.
//! - ADD COLUMN with PRIMARY KEY / UNIQUE / AUTO_INCREMENT, dropping a
//!   primary key column, index prefixes (`c(10)`) and functional key parts
//!   are refused as unsupported (1235); SHOW CREATE TABLE prints no
//!   column COMMENTs or per-column character sets (none are kept).
//! - An ALTER waits for the table while holding the DDL mutex, so other
//!   DDL waits behind it (up to innodb_lock_wait_timeout).

use super::*;

use floe_storage::dict::{IndexDef, TableDef};
use floe_storage::fsp;
use floe_storage::mtr::Mtr;
use floe_storage::row::{ClusteredRecord, SecEntry};
use floe_storage::srv::{Engine, SYSTEM_SPACE};
use std::ops::Bound;

use super::database::Altered;

fn storage_error(e: impl std::fmt::Display) -> StatementError {
    StatementError::Storage(e.to_string())
}

fn server_error(code: u16, sql_state: &[u8; 5], message: String) -> StatementError {
    StatementError::Server(floe_server::SqlError {
        code,
        sql_state: *sql_state,
        message,
    })
}

/// Column names of an index definition, as written.
pub(super) fn index_column_names(list: &[ast::IndexColumn]) -> Result<Vec<String>> {
    list.iter()
        .map(|c| match &c.column.expr {
            ast::Expr::Identifier(i) => Ok(i.value.clone()),
            ast::Expr::CompoundIdentifier(parts) => {
                Ok(parts.last().map(|i| i.value.clone()).unwrap_or_default())
            }
            other => Err(StatementError::Unsupported(format!(
                "index key part {other}"
            ))),
        })
        .collect()
}

/// An empty tree for a new index, with a fresh index id.
pub(super) fn create_tree(engine: &Engine) -> Result<Tree> {
    let mut mtr = Mtr::start(engine.pool(), engine.log());
    let index_id = fsp::allocate_index_id(&mut mtr, SYSTEM_SPACE).map_err(storage_error)?;
    let tree = Tree::create(&mut mtr, SYSTEM_SPACE, index_id).map_err(storage_error)?;
    mtr.commit().map_err(storage_error)?;
    Ok(tree)
}

/// The smallest byte string above every string that starts with `key`.
fn prefix_successor(key: &[u8]) -> Bound<Vec<u8>> {
    let mut out = key.to_vec();
    while let Some(last) = out.pop() {
        if last < 0xFF {
            out.push(last + 1);
            return Bound::Excluded(out);
        }
    }
    Bound::Unbounded
}

/// Fills `tree` with one entry per live row of `meta` for an index on
/// `columns`; a second row with a unique key that has no NULL is 1062.
/// The caller holds the table exclusively, so every clustered record's
/// newest version is committed.
#[allow(clippy::too_many_arguments)]
fn fill_secondary(
    engine: &Engine,
    table_name: &str,
    types: &[SqlType],
    clustered: Tree,
    tree: &Tree,
    index_name: &str,
    columns: &[usize],
    unique: bool,
) -> Result<u64> {
    let key_columns = columns
        .iter()
        .map(|&c| types.get(c).and_then(KeyColumn::for_type))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| StatementError::Unsupported(format!("an index on {index_name}")))?;
    let env = engine.env();
    let mut cursor = clustered.scan(env, Bound::Unbounded, Bound::Unbounded, Direction::Forward);
    let mut rows = 0u64;
    let mut seckey = Vec::new();
    while let Some((pk, payload)) = cursor.next().map_err(storage_error)? {
        let record = ClusteredRecord::parse(&payload, clustered.index_id).map_err(storage_error)?;
        if record.deleted {
            continue;
        }
        let values = row::decode(record.row, types).map_err(storage_error)?;
        let key_values: Vec<Value> = columns
            .iter()
            .map(|&c| values.get(c).cloned().unwrap_or(Value::Null))
            .collect();
        seckey.clear();
        encode_key(&key_values, &key_columns, &mut seckey)?;
        if unique && !key_values.iter().any(Value::is_null) {
            let mut probe = tree.scan(
                env,
                Bound::Included(seckey.clone()),
                prefix_successor(&seckey),
                Direction::Forward,
            );
            if probe.next().map_err(storage_error)?.is_some() {
                let entry = key_values
                    .iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join("-");
                return Err(StatementError::Duplicate {
                    entry,
                    key: format!("{table_name}.{index_name}"),
                });
            }
        }
        let mut entry_key = Vec::with_capacity(seckey.len() + pk.len());
        entry_key.extend_from_slice(&seckey);
        entry_key.extend_from_slice(&pk);
        let entry = SecEntry {
            deleted: false,
            trx_id: record.trx_id,
            pk: &pk,
        };
        tree.insert(env, &entry_key, &entry.encode())
            .map_err(storage_error)?;
        rows += 1;
    }
    Ok(rows)
}

/// A new secondary index on `meta`: its tree built from the table's rows
/// and the definition that names it.
pub(super) fn add_index(
    engine: &Engine,
    meta: &TableMeta,
    name: &str,
    kind: IndexKind,
    columns: &[u16],
) -> Result<Altered> {
    let tree = create_tree(engine)?;
    let positions: Vec<usize> = columns.iter().map(|&c| usize::from(c)).collect();
    if let Err(e) = fill_secondary(
        engine,
        &meta.name,
        &meta.types,
        meta.table.clustered,
        &tree,
        name,
        &positions,
        kind == IndexKind::Unique,
    ) {
        if let Err(free) = tree.free_pages(engine.env()) {
            log::warn!("freeing index {name} of a failed CREATE INDEX: {free}");
        }
        return Err(e);
    }
    let mut def: TableDef = meta.def.clone();
    def.indexes.push(IndexDef {
        name: name.to_string(),
        index_id: tree.index_id,
        root: tree.root.page,
        kind,
        columns: columns.to_vec(),
    });
    Ok(Altered {
        def,
        new_trees: vec![tree],
        old_trees: Vec::new(),
        reset_auto_increment: false,
    })
}

/// How a column of a rebuilt table gets its values.
pub(super) enum ColumnSource {
    /// The old table's column at this position.
    Old(usize),
    /// A new column: this value in every row.
    Fill(Value),
}

/// A copy of `meta` with other columns: every live row converted into a
/// new clustered tree, then each index rebuilt over it (ADD / DROP
/// COLUMN). `indexes` are (name, kind, positions in `columns`), the
/// clustered one first. Copied records carry no history (transaction id 0,
/// no undo): every read view sees them.
pub(super) fn rebuild_table(
    engine: &Engine,
    meta: &TableMeta,
    columns: &[ColumnMeta],
    sources: &[ColumnSource],
    indexes: &[(String, IndexKind, Vec<u16>)],
) -> Result<Altered> {
    let types: Vec<SqlType> = columns.iter().map(|c| c.sql_type).collect();
    let mut new_trees: Vec<Tree> = Vec::new();
    let outcome = (|| -> Result<TableDef> {
        let Some((_, _, primary_columns)) = indexes.first() else {
            return Err(storage_error("a table needs a clustered index"));
        };
        let primary_positions: Vec<usize> =
            primary_columns.iter().map(|&c| usize::from(c)).collect();
        let primary_keys = primary_positions
            .iter()
            .map(|&c| types.get(c).and_then(KeyColumn::for_type))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| StatementError::Unsupported("that primary key".into()))?;
        let clustered = create_tree(engine)?;
        new_trees.push(clustered);
        let env = engine.env();
        let old = meta.table.clustered;
        let mut cursor = old.scan(env, Bound::Unbounded, Bound::Unbounded, Direction::Forward);
        let mut bytes = Vec::new();
        let mut pk = Vec::new();
        let mut payload = Vec::new();
        let mut row_number = 0usize;
        while let Some((_, old_payload)) = cursor.next().map_err(storage_error)? {
            let record =
                ClusteredRecord::parse(&old_payload, old.index_id).map_err(storage_error)?;
            if record.deleted {
                continue;
            }
            row_number += 1;
            let old_values = row::decode(record.row, &meta.types).map_err(storage_error)?;
            let mut values = Vec::with_capacity(columns.len());
            for (column, source) in columns.iter().zip(sources) {
                let value = match source {
                    ColumnSource::Old(i) => old_values.get(*i).cloned().unwrap_or(Value::Null),
                    ColumnSource::Fill(v) => v.clone(),
                };
                if value.is_null() && !column.nullable {
                    return Err(StatementError::NullInNotNull(column.name.clone()));
                }
                values.push(value);
            }
            bytes.clear();
            row::encode(&values, &types, &mut bytes).map_err(storage_error)?;
            let key_values: Vec<Value> = primary_positions
                .iter()
                .map(|&c| values.get(c).cloned().unwrap_or(Value::Null))
                .collect();
            pk.clear();
            encode_key(&key_values, &primary_keys, &mut pk)?;
            payload.clear();
            ClusteredRecord {
                deleted: false,
                trx_id: floe_storage::row::TrxId(0),
                roll_ptr: floe_storage::row::RollPtr(0),
                row: &bytes,
            }
            .encode(&mut payload);
            match clustered.insert(env, &pk, &payload) {
                Ok(_) => {}
                Err(floe_storage::btr::tree::TreeError::Duplicate { .. }) => {
                    return Err(StatementError::Duplicate {
                        entry: key_values
                            .iter()
                            .map(Value::to_string)
                            .collect::<Vec<_>>()
                            .join("-"),
                        key: format!("{}.PRIMARY", meta.name),
                    })
                }
                Err(e) => return Err(storage_error(e)),
            }
        }
        log::debug!("{}.{}: {row_number} rows copied", meta.schema, meta.name);
        let mut def = meta.def.clone();
        def.columns = columns.iter().map(ColumnMeta::to_def).collect();
        def.indexes = vec![IndexDef {
            name: indexes[0].0.clone(),
            index_id: clustered.index_id,
            root: clustered.root.page,
            kind: indexes[0].1,
            columns: indexes[0].2.clone(),
        }];
        for (name, kind, positions) in indexes.iter().skip(1) {
            let tree = create_tree(engine)?;
            new_trees.push(tree);
            let columns: Vec<usize> = positions.iter().map(|&c| usize::from(c)).collect();
            fill_secondary(
                engine,
                &meta.name,
                &types,
                clustered,
                &tree,
                name,
                &columns,
                *kind == IndexKind::Unique,
            )?;
            def.indexes.push(IndexDef {
                name: name.clone(),
                index_id: tree.index_id,
                root: tree.root.page,
                kind: *kind,
                columns: positions.clone(),
            });
        }
        Ok(def)
    })();
    match outcome {
        Ok(def) => Ok(Altered {
            def,
            new_trees,
            old_trees: meta.def.indexes.iter().map(IndexDef::tree).collect(),
            reset_auto_increment: false,
        }),
        Err(e) => {
            for tree in &new_trees {
                if let Err(free) = tree.free_pages(engine.env()) {
                    log::warn!("freeing a tree of a failed table rebuild: {free}");
                }
            }
            Err(e)
        }
    }
}

impl SqlSession {
    /// Checks a new index of `meta` named `name` on `names`; returns its
    /// column positions. MySQL's errors: 1061 duplicate name, 1072 no such
    /// column.
    pub(super) fn new_index_columns(
        meta: &TableMeta,
        name: &str,
        names: &[String],
    ) -> Result<Vec<u16>> {
        if meta
            .indexes
            .iter()
            .any(|i| i.name.eq_ignore_ascii_case(name))
        {
            return Err(server_error(
                1061,
                b"42000",
                format!("Duplicate key name '{name}'"),
            ));
        }
        let mut positions = Vec::with_capacity(names.len());
        for column in names {
            let position = meta
                .column_index(column)
                .ok_or_else(|| StatementError::KeyColumn(column.clone()))?;
            let sql_type = &meta.columns[position].sql_type;
            if KeyColumn::for_type(sql_type).is_none() {
                return Err(StatementError::Unsupported(format!("an index on {column}")));
            }
            positions.push(u16::try_from(position).map_err(storage_error)?);
        }
        if positions.is_empty() {
            return Err(parse_error("an index needs a column"));
        }
        Ok(positions)
    }

    /// CREATE [UNIQUE] INDEX name ON table (columns).
    pub(super) fn create_index(&mut self, create: &ast::CreateIndex) -> Result<Done> {
        let (schema, table) = self.schema_and_table(&create.table_name)?;
        let names = index_column_names(&create.columns)?;
        let index_name = match &create.name {
            Some(n) => ident_name(n)?.last().cloned().unwrap_or_default(),
            None => return Err(parse_error("CREATE INDEX needs a name")),
        };
        if create.predicate.is_some() || !create.include.is_empty() {
            return Err(StatementError::Unsupported(
                "partial or covering index".into(),
            ));
        }
        let kind = if create.unique {
            IndexKind::Unique
        } else {
            IndexKind::NonUnique
        };
        let if_not_exists = create.if_not_exists;
        let mut exists = false;
        let outcome =
            self.db
                .alter_table(&schema, &table, self.lock_wait_timeout, |engine, meta| {
                    if if_not_exists
                        && meta
                            .indexes
                            .iter()
                            .any(|i| i.name.eq_ignore_ascii_case(&index_name))
                    {
                        exists = true;
                        // Nothing changes: the same definition, no trees.
                        return Ok(Altered::unchanged(meta));
                    }
                    let columns = Self::new_index_columns(meta, &index_name, &names)?;
                    add_index(engine, meta, &index_name, kind, &columns)
                });
        outcome?;
        if exists {
            self.warnings
                .push(1061, format!("Duplicate key name '{index_name}'"));
        }
        Ok(Done::default())
    }

    /// A name for an unnamed index: its first column, then `_2`, `_3`, ...
    /// as MySQL does.
    fn default_index_name(meta: &TableMeta, taken: &[String], first_column: &str) -> String {
        let mut name = first_column.to_string();
        let mut n = 2;
        while meta
            .indexes
            .iter()
            .any(|i| i.name.eq_ignore_ascii_case(&name))
            || taken.iter().any(|t| t.eq_ignore_ascii_case(&name))
        {
            name = format!("{first_column}_{n}");
            n += 1;
        }
        name
    }

    /// TRUNCATE TABLE: the table's trees replaced by empty ones (a DDL, as
    /// in MySQL: it commits, waits for the table, resets AUTO_INCREMENT).
    pub(super) fn truncate(&mut self, truncate: &ast::Truncate) -> Result<Done> {
        for target in &truncate.table_names {
            let (schema, table) = self.schema_and_table(&target.name)?;
            self.db
                .alter_table(&schema, &table, self.lock_wait_timeout, |engine, meta| {
                    let mut def = meta.def.clone();
                    let mut new_trees = Vec::with_capacity(def.indexes.len());
                    for index in &mut def.indexes {
                        let tree = match create_tree(engine) {
                            Ok(tree) => tree,
                            Err(e) => {
                                for built in &new_trees {
                                    let built: &Tree = built;
                                    let _ = built.free_pages(engine.env());
                                }
                                return Err(e);
                            }
                        };
                        index.index_id = tree.index_id;
                        index.root = tree.root.page;
                        new_trees.push(tree);
                    }
                    Ok(Altered {
                        def,
                        new_trees,
                        old_trees: meta.def.indexes.iter().map(IndexDef::tree).collect(),
                        reset_auto_increment: true,
                    })
                })?;
        }
        Ok(Done::default())
    }

    /// ALTER TABLE ... ADD [UNIQUE] INDEX / KEY, DROP INDEX / KEY, each a
    /// blocking rebuild of the index it names (several operations run one
    /// after the other, each durable on its own: not atomic as a whole).
    pub(super) fn alter(&mut self, alter: &ast::AlterTable) -> Result<Done> {
        let (schema, table) = self.schema_and_table(&alter.name)?;
        for operation in &alter.operations {
            match operation {
                ast::AlterTableOperation::AddConstraint { constraint, .. } => {
                    let (name, kind, columns) = match constraint {
                        ast::TableConstraint::Index(i) => (
                            i.name.as_ref().map(|n| n.value.clone()),
                            IndexKind::NonUnique,
                            &i.columns,
                        ),
                        ast::TableConstraint::Unique(u) => (
                            u.index_name
                                .as_ref()
                                .or(u.name.as_ref())
                                .map(|n| n.value.clone()),
                            IndexKind::Unique,
                            &u.columns,
                        ),
                        other => {
                            return Err(StatementError::Unsupported(format!(
                                "ALTER TABLE ADD {other}"
                            )))
                        }
                    };
                    let names = index_column_names(columns)?;
                    self.db.alter_table(
                        &schema,
                        &table,
                        self.lock_wait_timeout,
                        |engine, meta| {
                            let index_name = name.clone().unwrap_or_else(|| {
                                Self::default_index_name(
                                    meta,
                                    &[],
                                    names.first().map_or("", String::as_str),
                                )
                            });
                            let columns = Self::new_index_columns(meta, &index_name, &names)?;
                            add_index(engine, meta, &index_name, kind, &columns)
                        },
                    )?;
                }
                ast::AlterTableOperation::DropIndex { name } => {
                    self.db
                        .alter_table(&schema, &table, self.lock_wait_timeout, |_, meta| {
                            Self::without_index(meta, &name.value)
                        })?;
                }
                ast::AlterTableOperation::AddColumn {
                    if_not_exists,
                    column_def,
                    column_position,
                    ..
                } => {
                    let mut context = self.eval_context();
                    let (column, primary, unique) = self.column_meta(column_def, &mut context)?;
                    if primary || unique || column.auto_increment {
                        return Err(StatementError::Unsupported(
                            "ADD COLUMN with a key or AUTO_INCREMENT".into(),
                        ));
                    }
                    let fill = match &column.default {
                        ColumnDefault::Value(v) => v.clone(),
                        ColumnDefault::Null => Value::Null,
                        ColumnDefault::None if column.nullable => Value::Null,
                        // MySQL fills a NOT NULL column without DEFAULT
                        // with its type's implicit default.
                        ColumnDefault::None => implicit_default(&column)?,
                    };
                    let mut exists = false;
                    self.db.alter_table(
                        &schema,
                        &table,
                        self.lock_wait_timeout,
                        |engine, meta| {
                            if meta.column_index(&column.name).is_some() {
                                if *if_not_exists {
                                    exists = true;
                                    return Ok(Altered::unchanged(meta));
                                }
                                return Err(StatementError::DuplicateColumn(column.name.clone()));
                            }
                            let at = match column_position {
                                None => meta.columns.len(),
                                Some(ast::MySQLColumnPosition::First) => {
                                    usize::from(meta.hidden_row_id)
                                }
                                Some(ast::MySQLColumnPosition::After(after)) => {
                                    meta.column_index(&after.value).ok_or_else(|| {
                                        StatementError::UnknownColumn {
                                            column: after.value.clone(),
                                            context: meta.name.clone(),
                                        }
                                    })? + 1
                                }
                            };
                            let mut columns = meta.columns.clone();
                            columns.insert(at, column.clone());
                            let mut sources: Vec<ColumnSource> =
                                (0..meta.columns.len()).map(ColumnSource::Old).collect();
                            sources.insert(at, ColumnSource::Fill(fill.clone()));
                            let shift = |c: usize| -> u16 {
                                u16::try_from(if c >= at { c + 1 } else { c }).unwrap_or(u16::MAX)
                            };
                            let indexes: Vec<(String, IndexKind, Vec<u16>)> = meta
                                .indexes
                                .iter()
                                .map(|i| {
                                    (
                                        i.name.clone(),
                                        i.kind,
                                        i.columns.iter().map(|&c| shift(c)).collect(),
                                    )
                                })
                                .collect();
                            rebuild_table(engine, meta, &columns, &sources, &indexes)
                        },
                    )?;
                    if exists {
                        self.warnings
                            .push(1060, format!("Duplicate column name '{}'", column.name));
                    }
                }
                ast::AlterTableOperation::DropColumn {
                    column_names,
                    if_exists,
                    ..
                } => {
                    for name in column_names {
                        self.drop_column(&schema, &table, &name.value, *if_exists)?;
                    }
                }
                other => return Err(StatementError::Unsupported(format!("ALTER TABLE {other}"))),
            }
        }
        Ok(Done::default())
    }

    /// ALTER TABLE ... DROP COLUMN: the table rebuilt without it; the
    /// column leaves the indexes that have it, and an index left without
    /// columns goes (MySQL's rules). The last column, or a primary key
    /// column, is refused.
    fn drop_column(
        &mut self,
        schema: &str,
        table: &str,
        name: &str,
        if_exists: bool,
    ) -> Result<()> {
        let mut missing = false;
        self.db
            .alter_table(schema, table, self.lock_wait_timeout, |engine, meta| {
                let Some(drop_at) = meta.column_index(name) else {
                    if if_exists {
                        missing = true;
                        return Ok(Altered::unchanged(meta));
                    }
                    return Err(server_error(
                        1091,
                        b"42000",
                        format!("Can't DROP '{name}'; check that column/key exists"),
                    ));
                };
                if meta.columns.iter().filter(|c| !c.hidden).count() == 1 {
                    return Err(server_error(
                        1090,
                        b"42000",
                        "You can't delete all columns with ALTER TABLE; use DROP TABLE instead"
                            .into(),
                    ));
                }
                if meta
                    .indexes
                    .first()
                    .is_some_and(|p| p.columns.contains(&drop_at))
                    && !meta.hidden_row_id
                {
                    return Err(StatementError::Unsupported(
                        "dropping a primary key column".into(),
                    ));
                }
                let mut columns = meta.columns.clone();
                columns.remove(drop_at);
                let sources: Vec<ColumnSource> = (0..meta.columns.len())
                    .filter(|&c| c != drop_at)
                    .map(ColumnSource::Old)
                    .collect();
                let shift = |c: usize| -> u16 {
                    u16::try_from(if c > drop_at { c - 1 } else { c }).unwrap_or(u16::MAX)
                };
                let indexes: Vec<(String, IndexKind, Vec<u16>)> = meta
                    .indexes
                    .iter()
                    .map(|i| {
                        (
                            i.name.clone(),
                            i.kind,
                            i.columns
                                .iter()
                                .filter(|&&c| c != drop_at)
                                .map(|&c| shift(c))
                                .collect::<Vec<u16>>(),
                        )
                    })
                    .filter(|(_, _, cols)| !cols.is_empty())
                    .collect();
                rebuild_table(engine, meta, &columns, &sources, &indexes)
            })?;
        if missing {
            self.warnings.push(
                1091,
                format!("Can't DROP '{name}'; check that column/key exists"),
            );
        }
        Ok(())
    }

    /// SHOW INDEX / INDEXES / KEYS FROM table [FROM db]: one row per key
    /// column, in MySQL 8's fifteen columns. Cardinality is the estimate
    /// of distinct values of the key's columns up to this one (see
    /// `crate::stats`); every index is a B-tree.
    pub(super) fn show_index(
        &mut self,
        words: &[ast::Ident],
        sink: &mut dyn ResultSink,
    ) -> Result<()> {
        let is_from = |w: &ast::Ident| {
            w.value.eq_ignore_ascii_case("from") || w.value.eq_ignore_ascii_case("in")
        };
        let (table, schema) = match words {
            [_, from, table] if is_from(from) => (table.value.clone(), None),
            [_, from, table, from_db, db] if is_from(from) && is_from(from_db) => {
                (table.value.clone(), Some(db.value.clone()))
            }
            _ => return Err(parse_error("SHOW INDEX FROM table [FROM database]")),
        };
        let schema = match schema {
            Some(s) => normalize_name(&s),
            None => self
                .database
                .clone()
                .ok_or(StatementError::NoDatabaseSelected)?,
        };
        let meta = self.lookup_in(schema, normalize_name(&table))?;
        let columns: Vec<Column> = INDEX_TITLES.iter().map(|t| text_column(t)).collect();
        send_columns(sink, &columns)?;
        use floe_server::protocol::Value as W;
        for (position, index) in meta.indexes.iter().enumerate() {
            if position == 0 && meta.hidden_row_id {
                continue;
            }
            let non_unique = if index.kind == IndexKind::NonUnique {
                "1"
            } else {
                "0"
            };
            for (seq, &c) in index.columns.iter().enumerate() {
                let Some(column) = meta.columns.get(c) else {
                    continue;
                };
                let cardinality = meta.cardinality(position, seq + 1).map(|c| c.to_string());
                let seq = (seq + 1).to_string();
                let null = if column.nullable { "YES" } else { "" };
                let row = [
                    W::Bytes(meta.name.as_bytes()),
                    W::Bytes(non_unique.as_bytes()),
                    W::Bytes(index.name.as_bytes()),
                    W::Bytes(seq.as_bytes()),
                    W::Bytes(column.name.as_bytes()),
                    W::Bytes(b"A"),
                    cardinality
                        .as_deref()
                        .map_or(W::Null, |c| W::Bytes(c.as_bytes())),
                    W::Null,
                    W::Null,
                    W::Bytes(null.as_bytes()),
                    W::Bytes(b"BTREE"),
                    W::Bytes(b""),
                    W::Bytes(b""),
                    W::Bytes(b"YES"),
                    W::Null,
                ];
                sink.row(&row)?;
            }
        }
        sink.done(&Summary {
            status: self.status_flags(),
            ..Summary::default()
        })?;
        Ok(())
    }

    /// SHOW CREATE TABLE: a CREATE TABLE that makes the same table (columns,
    /// defaults, keys, AUTO_INCREMENT) when run again.
    pub(super) fn show_create_table(
        &mut self,
        name: &ast::ObjectName,
        sink: &mut dyn ResultSink,
    ) -> Result<()> {
        let meta = self.lookup(name)?;
        let text = create_table_text(&meta);
        self.text_rows(
            sink,
            CREATE_TABLE_TITLES,
            vec![vec![meta.name.clone(), text]],
        )
    }

    /// The definition of `meta` without its secondary index `name`.
    pub(super) fn without_index(meta: &TableMeta, name: &str) -> Result<Altered> {
        let position = meta
            .def
            .indexes
            .iter()
            .position(|i| i.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                server_error(
                    1091,
                    b"42000",
                    format!("Can't DROP '{name}'; check that column/key exists"),
                )
            })?;
        if position == 0 {
            return Err(StatementError::Unsupported(
                "dropping the primary key".into(),
            ));
        }
        let mut def = meta.def.clone();
        let removed = def.indexes.remove(position);
        // The AUTO_INCREMENT column must still lead an index (1075).
        if let Some(auto) = meta.auto_increment_column {
            let led = def
                .indexes
                .iter()
                .any(|i| i.columns.first().map(|&c| usize::from(c)) == Some(auto));
            if !led {
                return Err(StatementError::AutoIncrementKey);
            }
        }
        Ok(Altered {
            def,
            new_trees: Vec::new(),
            old_trees: vec![removed.tree()],
            reset_auto_increment: false,
        })
    }

    /// DROP INDEX name ON table.
    pub(super) fn drop_index(
        &mut self,
        names: &[ast::ObjectName],
        table: Option<&ast::ObjectName>,
    ) -> Result<Done> {
        let table = table.ok_or_else(|| parse_error("DROP INDEX needs ON table"))?;
        let (schema, table) = self.schema_and_table(table)?;
        let [name] = names else {
            return Err(parse_error("DROP INDEX takes one index"));
        };
        let index_name = ident_name(name)?.last().cloned().unwrap_or_default();
        self.db
            .alter_table(&schema, &table, self.lock_wait_timeout, |_, meta| {
                Self::without_index(meta, &index_name)
            })?;
        Ok(Done::default())
    }
}

impl SqlSession {
    // ---- DDL -----------------------------------------------------------

    /// A column definition's metadata, and whether it declares PRIMARY KEY
    /// or UNIQUE.
    pub(super) fn column_meta(
        &self,
        column: &ast::ColumnDef,
        context: &mut EvalContext,
    ) -> Result<(ColumnMeta, bool, bool)> {
        let mut primary = false;
        let mut unique = false;
        let sql_type = sql_type_of(&column.data_type)?;
        let mut meta = ColumnMeta {
            name: column.name.value.clone(),
            sql_type,
            nullable: true,
            auto_increment: false,
            hidden: false,
            default: ColumnDefault::None,
        };
        let mut default_given = None;
        for option in &column.options {
            match &option.option {
                ast::ColumnOption::NotNull => meta.nullable = false,
                ast::ColumnOption::Null => meta.nullable = true,
                ast::ColumnOption::Default(expr) => default_given = Some(expr.clone()),
                ast::ColumnOption::PrimaryKey(_) => {
                    primary = true;
                }
                ast::ColumnOption::Unique(_) => unique = true,
                ast::ColumnOption::DialectSpecific(tokens)
                    if tokens
                        .iter()
                        .any(|t| t.to_string().eq_ignore_ascii_case("AUTO_INCREMENT")) =>
                {
                    meta.auto_increment = true
                }
                ast::ColumnOption::Comment(_)
                | ast::ColumnOption::CharacterSet(_)
                | ast::ColumnOption::Collation(_) => {}
                other => {
                    return Err(StatementError::Unsupported(format!(
                        "column option {other}"
                    )))
                }
            }
        }
        if let Some(expr) = default_given {
            let value = self
                .binder(None, "", "default")
                .bind(&expr)?
                .eval_output(&[], context)?;
            if value.is_null() {
                if !meta.nullable {
                    return Err(StatementError::InvalidDefault(meta.name.clone()));
                }
                meta.default = ColumnDefault::Null;
            } else {
                let value = row::convert_for_column(value, &meta.sql_type)
                    .map_err(|_| StatementError::InvalidDefault(meta.name.clone()))?;
                meta.default = ColumnDefault::Value(value);
            }
        } else if meta.nullable {
            meta.default = ColumnDefault::Null;
        }
        Ok((meta, primary, unique))
    }

    pub(super) fn create_table(&mut self, create: &ast::CreateTable) -> Result<Done> {
        let (schema, name) = self.schema_and_table(&create.name)?;
        if !self.db.schema_exists(&schema)? {
            return Err(StatementError::NoSuchDatabase(schema));
        }
        if self.db.table(&schema, &name).is_some() {
            if create.if_not_exists {
                self.warnings
                    .push(1050, format!("Table '{name}' already exists"));
                return Ok(Done::default());
            }
            return Err(StatementError::TableExists(name));
        }
        if create.query.is_some() || create.like.is_some() || create.temporary {
            return Err(StatementError::Unsupported(
                "CREATE TABLE ... SELECT / LIKE / TEMPORARY".into(),
            ));
        }
        let mut columns: Vec<ColumnMeta> = Vec::new();
        let mut primary: Option<Vec<String>> = None;
        let mut secondaries: Vec<(Option<String>, IndexKind, Vec<String>)> = Vec::new();
        let mut context = self.eval_context();
        for column in &create.columns {
            if columns
                .iter()
                .any(|c| c.name.eq_ignore_ascii_case(&column.name.value))
            {
                return Err(StatementError::DuplicateColumn(column.name.value.clone()));
            }
            let (meta, column_primary, column_unique) = self.column_meta(column, &mut context)?;
            if column_primary {
                if primary.is_some() {
                    return Err(StatementError::MultiplePrimaryKeys);
                }
                primary = Some(vec![meta.name.clone()]);
            }
            if column_unique {
                secondaries.push((None, IndexKind::Unique, vec![meta.name.clone()]));
            }
            columns.push(meta);
        }
        let index_columns = |list: &[ast::IndexColumn]| -> Vec<String> {
            list.iter()
                .map(|c| c.column.expr.to_string().trim_matches('`').to_string())
                .collect()
        };
        for constraint in &create.constraints {
            match constraint {
                ast::TableConstraint::PrimaryKey(pk) => {
                    if primary.is_some() {
                        return Err(StatementError::MultiplePrimaryKeys);
                    }
                    primary = Some(index_columns(&pk.columns));
                }
                ast::TableConstraint::Unique(u) => secondaries.push((
                    u.index_name
                        .as_ref()
                        .or(u.name.as_ref())
                        .map(|i| i.value.clone()),
                    IndexKind::Unique,
                    index_columns(&u.columns),
                )),
                ast::TableConstraint::Index(i) => secondaries.push((
                    i.name.as_ref().map(|n| n.value.clone()),
                    IndexKind::NonUnique,
                    index_columns(&i.columns),
                )),
                other => return Err(StatementError::Unsupported(format!("constraint {other}"))),
            }
        }
        let hidden = primary.is_none();
        if hidden {
            columns.insert(
                0,
                ColumnMeta {
                    name: HIDDEN_ROW_ID.into(),
                    sql_type: SqlType::BIGINT_UNSIGNED,
                    nullable: false,
                    auto_increment: false,
                    hidden: true,
                    default: ColumnDefault::None,
                },
            );
        }
        let position = |name: &str| -> Result<u16> {
            columns
                .iter()
                .position(|c| !c.hidden && c.name.eq_ignore_ascii_case(name))
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| StatementError::KeyColumn(name.to_string()))
        };
        let mut indexes: Vec<(String, IndexKind, Vec<u16>)> = Vec::new();
        match &primary {
            Some(names) => {
                let positions = names
                    .iter()
                    .map(|n| position(n))
                    .collect::<Result<Vec<_>>>()?;
                indexes.push(("PRIMARY".into(), IndexKind::Primary, positions));
            }
            None => indexes.push((HIDDEN_PRIMARY.into(), IndexKind::Primary, vec![0])),
        }
        for (index_name, kind, names) in secondaries {
            let positions = names
                .iter()
                .map(|n| position(n))
                .collect::<Result<Vec<_>>>()?;
            let base = index_name.unwrap_or_else(|| names.first().cloned().unwrap_or_default());
            let mut unique_name = base.clone();
            let mut n = 2;
            while indexes
                .iter()
                .any(|(x, _, _)| x.eq_ignore_ascii_case(&unique_name))
            {
                unique_name = format!("{base}_{n}");
                n += 1;
            }
            indexes.push((unique_name, kind, positions));
        }
        // Primary key columns are NOT NULL.
        if let Some((_, _, positions)) = indexes.first() {
            for &p in positions {
                if let Some(c) = columns.get_mut(usize::from(p)) {
                    c.nullable = false;
                    if matches!(c.default, ColumnDefault::Null) {
                        c.default = ColumnDefault::None;
                    }
                }
            }
        }
        let auto: Vec<usize> = (0..columns.len())
            .filter(|&i| columns[i].auto_increment)
            .collect();
        if auto.len() > 1
            || auto.first().is_some_and(|&a| {
                !indexes
                    .iter()
                    .any(|(_, _, cols)| cols.first().map(|&c| usize::from(c)) == Some(a))
            })
        {
            return Err(StatementError::AutoIncrementKey);
        }
        for (_, _, positions) in &indexes {
            for &p in positions {
                let Some(c) = columns.get(usize::from(p)) else {
                    continue;
                };
                if KeyColumn::for_type(&c.sql_type).is_none() {
                    return Err(StatementError::Unsupported(format!(
                        "an index on {}",
                        c.name
                    )));
                }
            }
        }
        // AUTO_INCREMENT = n (what SHOW CREATE TABLE writes) sets the start.
        let mut auto_increment_start = 1u64;
        if let ast::CreateTableOptions::Plain(options) = &create.table_options {
            for option in options {
                if let ast::SqlOption::KeyValue { key, value } = option {
                    if key.to_string().eq_ignore_ascii_case("auto_increment") {
                        auto_increment_start = value
                            .to_string()
                            .parse::<u64>()
                            .map_err(|_| parse_error(format!("AUTO_INCREMENT = {value}")))?
                            .max(1);
                    }
                }
            }
        }
        let new = NewTable {
            schema,
            name,
            columns: columns.iter().map(ColumnMeta::to_def).collect(),
            indexes,
            options: encode_options(auto_increment_start),
        };
        self.db.create_table(new)?;
        Ok(Done::default())
    }

    pub(super) fn drop(
        &mut self,
        object_type: &ast::ObjectType,
        if_exists: bool,
        names: &[ast::ObjectName],
        table: Option<&ast::ObjectName>,
    ) -> Result<Done> {
        match object_type {
            ast::ObjectType::Table => {
                let mut missing = Vec::new();
                for name in names {
                    let (schema, table) = self.schema_and_table(name)?;
                    match self.db.drop_table(&schema, &table, self.lock_wait_timeout) {
                        Ok(()) => {}
                        Err(StatementError::UnknownTable { .. }) => {
                            missing.push(format!("{schema}.{table}"))
                        }
                        Err(e) => return Err(e),
                    }
                }
                if !missing.is_empty() {
                    if !if_exists {
                        let first = missing.join(",");
                        let (schema, table) = first
                            .split_once('.')
                            .map_or((String::new(), first.clone()), |(s, t)| {
                                (s.to_string(), t.to_string())
                            });
                        return Err(StatementError::UnknownTable { schema, table });
                    }
                    for m in missing {
                        self.warnings.push(1051, format!("Unknown table '{m}'"));
                    }
                }
                Ok(Done::default())
            }
            ast::ObjectType::View => {
                // Views: a small section of their own (see catalog.rs).
                for name in names {
                    let (schema, view) = self.schema_and_table(name)?;
                    match self.db.drop_view(&schema, &view) {
                        Ok(()) => {}
                        Err(StatementError::UnknownTable { schema, table }) if if_exists => {
                            self.warnings
                                .push(1051, format!("Unknown table '{schema}.{table}'"));
                        }
                        Err(e) => return Err(e),
                    }
                }
                Ok(Done::default())
            }
            ast::ObjectType::Database | ast::ObjectType::Schema => {
                let name = names
                    .first()
                    .map(ident_name)
                    .transpose()?
                    .map(|p| p.join("."))
                    .unwrap_or_default();
                let name = normalize_name(&name);
                match self.db.drop_schema(&name, self.lock_wait_timeout) {
                    Ok(tables) => {
                        if self.database.as_deref() == Some(name.as_str()) {
                            self.database = None;
                        }
                        Ok(Done {
                            affected_rows: tables,
                            ..Done::default()
                        })
                    }
                    Err(StatementError::DropMissingDatabase(_)) if if_exists => {
                        self.warnings.push(
                            1008,
                            format!("Can't drop database '{name}'; database doesn't exist"),
                        );
                        Ok(Done::default())
                    }
                    Err(e) => Err(e),
                }
            }
            ast::ObjectType::Index => self.drop_index(names, table),
            other => Err(StatementError::Unsupported(format!("DROP {other}"))),
        }
    }
}

/// The value MySQL gives a NOT NULL column without DEFAULT in rows that
/// existed before ADD COLUMN: zero or the empty string.
fn implicit_default(column: &ColumnMeta) -> Result<Value> {
    let value = match column.sql_type {
        SqlType::Int { .. } | SqlType::Decimal { .. } | SqlType::Float | SqlType::Double => {
            Value::Int(0)
        }
        SqlType::Char { .. }
        | SqlType::VarChar { .. }
        | SqlType::Text { .. }
        | SqlType::Binary { .. }
        | SqlType::VarBinary { .. }
        | SqlType::Blob => Value::Bytes(Vec::new(), Collation::Utf8mb4_0900AiCi),
        _ => {
            return Err(StatementError::Unsupported(format!(
                "ADD COLUMN {} NOT NULL without DEFAULT",
                column.sql_type.sql_name()
            )))
        }
    };
    row::convert_for_column(value, &column.sql_type)
        .map_err(|_| StatementError::InvalidDefault(column.name.clone()))
}

/// MySQL's quoting of a name: backquotes, a backquote doubled.
fn quote_name(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// MySQL's quoting of a string literal.
pub(super) fn quote_text(text: &str) -> String {
    let mut out = String::from("'");
    for ch in text.chars() {
        match ch {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            other => out.push(other),
        }
    }
    out.push('\'');
    out
}

/// The CREATE TABLE statement of `meta` in MySQL 8's SHOW CREATE TABLE form.
pub(super) fn create_table_text(meta: &TableMeta) -> String {
    let mut lines = Vec::new();
    for column in meta.columns.iter().filter(|c| !c.hidden) {
        let mut line = format!(
            "  {} {}",
            quote_name(&column.name),
            column.sql_type.sql_name()
        );
        if !column.nullable {
            line.push_str(" NOT NULL");
        }
        match &column.default {
            ColumnDefault::Value(v) => {
                let text = v
                    .to_text()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                line.push_str(&format!(" DEFAULT {}", quote_text(&text)));
            }
            ColumnDefault::Null
                if column.nullable
                    && !matches!(column.sql_type, SqlType::Text { .. } | SqlType::Blob) =>
            {
                line.push_str(" DEFAULT NULL")
            }
            _ => {}
        }
        if column.auto_increment {
            line.push_str(" AUTO_INCREMENT");
        }
        lines.push(line);
    }
    let columns_of = |index: &crate::catalog::IndexMeta| {
        index
            .columns
            .iter()
            .filter_map(|&c| meta.columns.get(c))
            .map(|c| quote_name(&c.name))
            .collect::<Vec<_>>()
            .join(",")
    };
    for (position, index) in meta.indexes.iter().enumerate() {
        match index.kind {
            IndexKind::Primary if position == 0 && meta.hidden_row_id => {}
            IndexKind::Primary => lines.push(format!("  PRIMARY KEY ({})", columns_of(index))),
            IndexKind::Unique => lines.push(format!(
                "  UNIQUE KEY {} ({})",
                quote_name(&index.name),
                columns_of(index)
            )),
            IndexKind::NonUnique => lines.push(format!(
                "  KEY {} ({})",
                quote_name(&index.name),
                columns_of(index)
            )),
        }
    }
    let mut text = format!(
        "CREATE TABLE {} (\n{}\n) ENGINE=InnoDB",
        quote_name(&meta.name),
        lines.join(",\n")
    );
    if meta.auto_increment_column.is_some() {
        let next = meta
            .next_auto_increment
            .load(std::sync::atomic::Ordering::SeqCst);
        if next > 1 {
            text.push_str(&format!(" AUTO_INCREMENT={next}"));
        }
    }
    text.push_str(" DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci");
    text
}

/// The SQL type of a column declared as `data_type`.
pub(super) fn sql_type_of(data_type: &ast::DataType) -> Result<SqlType> {
    use ast::DataType as D;
    let collation = Collation::Utf8mb4_0900AiCi;
    let int = |width, unsigned| SqlType::Int { width, unsigned };
    let length = |l: &Option<ast::CharacterLength>, default: u32| match l {
        Some(ast::CharacterLength::IntegerLength { length, .. }) => {
            u32::try_from(*length).unwrap_or(u32::MAX)
        }
        _ => default,
    };
    let fsp = |p: &Option<u64>| -> Result<u8> {
        let fsp = p.unwrap_or(0);
        u8::try_from(fsp).ok().filter(|f| *f <= 6).ok_or_else(|| {
            StatementError::Server(floe_server::SqlError {
                code: 1426,
                sql_state: *b"42000",
                message: format!("Too-big precision {fsp} specified. Maximum is 6."),
            })
        })
    };
    Ok(match data_type {
        D::TinyInt(_) | D::Bool | D::Boolean => int(IntWidth::Tiny, false),
        D::TinyIntUnsigned(_) => int(IntWidth::Tiny, true),
        D::SmallInt(_) => int(IntWidth::Small, false),
        D::SmallIntUnsigned(_) => int(IntWidth::Small, true),
        D::MediumInt(_) => int(IntWidth::Medium, false),
        D::MediumIntUnsigned(_) => int(IntWidth::Medium, true),
        D::Int(_) | D::Integer(_) => int(IntWidth::Int, false),
        D::IntUnsigned(_) | D::IntegerUnsigned(_) => int(IntWidth::Int, true),
        D::BigInt(_) => int(IntWidth::Big, false),
        D::BigIntUnsigned(_) => int(IntWidth::Big, true),
        D::Decimal(info) | D::Numeric(info) | D::Dec(info) => {
            let (p, s) = match info {
                ast::ExactNumberInfo::None => (10, 0),
                ast::ExactNumberInfo::Precision(p) => (*p, 0),
                ast::ExactNumberInfo::PrecisionAndScale(p, s) => {
                    (*p, u64::try_from(*s).unwrap_or(u64::MAX))
                }
            };
            SqlType::decimal(
                u32::try_from(p).unwrap_or(u32::MAX),
                u32::try_from(s).unwrap_or(u32::MAX),
            )?
        }
        D::Float(_) | D::Real => SqlType::Float,
        D::Double(_) | D::DoublePrecision => SqlType::Double,
        D::Char(l) | D::Character(l) => SqlType::Char {
            length_chars: length(l, 1),
            collation,
        },
        D::Varchar(l) | D::CharacterVarying(l) | D::CharVarying(l) | D::Nvarchar(l) => {
            if l.is_none() {
                return Err(parse_error("VARCHAR needs a length"));
            }
            SqlType::VarChar {
                length_chars: length(l, 0),
                collation,
            }
        }
        D::Text | D::TinyText | D::MediumText | D::LongText => SqlType::Text { collation },
        D::Binary(l) => SqlType::Binary {
            length_bytes: l.map_or(1, |l| u32::try_from(l).unwrap_or(u32::MAX)),
        },
        D::Varbinary(l) => SqlType::VarBinary {
            length_bytes: match l {
                Some(ast::BinaryLength::IntegerLength { length }) => {
                    u32::try_from(*length).unwrap_or(u32::MAX)
                }
                _ => return Err(parse_error("VARBINARY needs a length")),
            },
        },
        D::Blob(_) | D::TinyBlob | D::MediumBlob | D::LongBlob => SqlType::Blob,
        D::Date => SqlType::Date,
        D::Datetime(p) => SqlType::DateTime { fsp: fsp(p)? },
        D::Timestamp(p, _) => SqlType::Timestamp { fsp: fsp(p)? },
        D::Time(p, _) => SqlType::Time { fsp: fsp(p)? },
        other => return Err(StatementError::Unsupported(format!("column type {other}"))),
    })
}

/// SHOW INDEX's columns (MySQL 8's fifteen).
pub(super) const INDEX_TITLES: &[&str] = &[
    "Table",
    "Non_unique",
    "Key_name",
    "Seq_in_index",
    "Column_name",
    "Collation",
    "Cardinality",
    "Sub_part",
    "Packed",
    "Null",
    "Index_type",
    "Comment",
    "Index_comment",
    "Visible",
    "Expression",
];

/// SHOW CREATE TABLE's columns.
pub(super) const CREATE_TABLE_TITLES: &[&str] = &["Table", "Create Table"];
