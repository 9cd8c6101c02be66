//! DDL: CREATE TABLE, DROP DATABASE / TABLE, column types.

use super::*;

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
