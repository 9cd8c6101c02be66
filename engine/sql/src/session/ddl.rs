//! DDL: CREATE TABLE, DROP DATABASE / TABLE, CREATE / DROP INDEX, column
//! types.
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
//! Knowingly different from MySQL: a transaction whose read view is older
//! than the index and reads through it misses row versions the index never
//! had (MySQL refuses such reads with ER_TABLE_DEF_CHANGED).

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
fn fill_secondary(
    engine: &Engine,
    meta: &TableMeta,
    tree: &Tree,
    index_name: &str,
    columns: &[usize],
    unique: bool,
) -> Result<u64> {
    let key_columns = columns
        .iter()
        .map(|&c| meta.types.get(c).and_then(KeyColumn::for_type))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| StatementError::Unsupported(format!("an index on {index_name}")))?;
    let env = engine.env();
    let clustered = meta.table.clustered;
    let mut cursor = clustered.scan(env, Bound::Unbounded, Bound::Unbounded, Direction::Forward);
    let mut rows = 0u64;
    let mut seckey = Vec::new();
    while let Some((pk, payload)) = cursor.next().map_err(storage_error)? {
        let record = ClusteredRecord::parse(&payload, clustered.index_id).map_err(storage_error)?;
        if record.deleted {
            continue;
        }
        let values = row::decode(record.row, &meta.types).map_err(storage_error)?;
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
                    key: format!("{}.{index_name}", meta.name),
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
        meta,
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
                        return Ok(Altered {
                            def: meta.def.clone(),
                            new_trees: Vec::new(),
                            old_trees: Vec::new(),
                            reset_auto_increment: false,
                        });
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
                        if primary.is_some() {
                            return Err(StatementError::MultiplePrimaryKeys);
                        }
                        primary = Some(vec![meta.name.clone()]);
                    }
                    ast::ColumnOption::Unique(_) => {
                        secondaries.push((None, IndexKind::Unique, vec![meta.name.clone()]))
                    }
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
                    .eval_output(&[], &mut context)?;
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
        let new = NewTable {
            schema,
            name,
            columns: columns.iter().map(ColumnMeta::to_def).collect(),
            indexes,
            options: encode_options(1),
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
