//! INSERT, UPDATE and DELETE.

use super::*;

impl SqlSession {
    // ---- INSERT / UPDATE / DELETE -------------------------------------

    /// Fills, converts and checks one row for `meta`; `given` holds the
    /// client's values by column position (None: not given or DEFAULT).
    pub(super) fn complete_row(
        &self,
        meta: &TableMeta,
        mut given: Vec<Option<Value>>,
        row_number: usize,
        generated: &mut Option<u64>,
    ) -> Result<Vec<Value>> {
        let mut values = Vec::with_capacity(meta.columns.len());
        for (i, column) in meta.columns.iter().enumerate() {
            let value = given.get_mut(i).and_then(Option::take);
            let value = if column.hidden {
                Value::UInt(meta.take_auto_increment())
            } else if column.auto_increment {
                match value {
                    Some(v) if !v.is_null() && !matches!(v, Value::Int(0) | Value::UInt(0)) => {
                        let v = self.convert(v, column, row_number)?;
                        if let Some(n) = v.to_i128(&mut Warnings::default()) {
                            meta.observe_auto_increment(u64::try_from(n).unwrap_or(0));
                        }
                        v
                    }
                    _ => {
                        let next = meta.take_auto_increment();
                        generated.get_or_insert(next);
                        self.convert(Value::UInt(next), column, row_number)?
                    }
                }
            } else {
                match value {
                    Some(v) => self.convert(v, column, row_number)?,
                    None => match &column.default {
                        ColumnDefault::Value(v) => v.clone(),
                        ColumnDefault::Null => Value::Null,
                        ColumnDefault::None if column.nullable => Value::Null,
                        ColumnDefault::None => {
                            return Err(StatementError::NoDefault(column.name.clone()))
                        }
                    },
                }
            };
            if value.is_null() && !column.nullable {
                return Err(StatementError::NullInNotNull(column.name.clone()));
            }
            values.push(value);
        }
        Ok(values)
    }

    pub(super) fn convert(
        &self,
        value: Value,
        column: &ColumnMeta,
        row_number: usize,
    ) -> Result<Value> {
        row::convert_for_column(value, &column.sql_type).map_err(|e| StatementError::Convert {
            code: e.code(),
            message: e.to_string(),
            column: column.name.clone(),
            row: row_number,
        })
    }

    pub(super) fn write_row(
        &self,
        trx: &mut Trx,
        meta: &TableMeta,
        values: &[Value],
        update_pk: Option<&[u8]>,
    ) -> Result<()> {
        let mut bytes = Vec::with_capacity(64);
        row::encode(values, &meta.types, &mut bytes)
            .map_err(|e| StatementError::Storage(e.to_string()))?;
        let pk = meta.primary_key(values)?;
        let duplicate = |index: &str| duplicate_entry(meta, values, index);
        match update_pk {
            Some(old) if old == pk.as_slice() => {
                meta.table
                    .update(trx, &pk, &bytes)
                    .map_err(|e| error::from_trx(e, duplicate))?;
            }
            Some(old) => {
                meta.table.delete(trx, old).map_err(error::trx_error)?;
                meta.table
                    .insert(trx, &pk, &bytes)
                    .map_err(|e| error::from_trx(e, duplicate))?;
            }
            None => meta
                .table
                .insert(trx, &pk, &bytes)
                .map_err(|e| error::from_trx(e, duplicate))?,
        }
        Ok(())
    }

    pub(super) fn insert(&mut self, trx: &mut Trx, insert: &ast::Insert) -> Result<Done> {
        let ast::TableObject::TableName(name) = &insert.table else {
            return Err(StatementError::Unsupported("INSERT INTO a function".into()));
        };
        if insert.on.is_some() || insert.ignore || insert.replace_into {
            return Err(StatementError::Unsupported(
                "INSERT IGNORE / ON DUPLICATE KEY UPDATE / REPLACE".into(),
            ));
        }
        let meta = self.lookup(name)?;
        self.hold(&meta)?;
        let targets: Vec<usize> = if insert.columns.is_empty() {
            (0..meta.columns.len())
                .filter(|&i| !meta.columns[i].hidden)
                .collect()
        } else {
            let mut targets = Vec::new();
            for column in &insert.columns {
                let parts = ident_name(column)?;
                let column_name = parts.last().cloned().unwrap_or_default();
                let index = meta.column_index(&column_name).ok_or_else(|| {
                    StatementError::UnknownColumn {
                        column: column_name.clone(),
                        context: "field list".into(),
                    }
                })?;
                targets.push(index);
            }
            targets
        };
        let source = insert
            .source
            .as_ref()
            .ok_or_else(|| StatementError::Unsupported("INSERT ... SET".into()))?;
        let ast::SetExpr::Values(values) = source.body.as_ref() else {
            return self.insert_select(trx, &meta, &targets, source);
        };
        let mut context = self.eval_context();
        let mut generated = None;
        let mut count = 0u64;
        for (row_index, row_exprs) in values.rows.iter().enumerate() {
            let row_number = row_index + 1;
            if row_exprs.content.len() != targets.len() {
                return Err(StatementError::ColumnCount(row_number));
            }
            let mut given: Vec<Option<Value>> = vec![None; meta.columns.len()];
            for (expr, &target) in row_exprs.content.iter().zip(&targets) {
                if let ast::Expr::Identifier(i) = expr {
                    if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default") {
                        continue;
                    }
                }
                let bound = self.binder(None, "", "field list").bind(expr)?;
                given[target] = Some(bound.eval_output(&[], &mut context)?);
            }
            let row = self.complete_row(&meta, given, row_number, &mut generated)?;
            self.write_row(trx, &meta, &row, None)?;
            count += 1;
            if count.is_multiple_of(INTERRUPT_CHECK_ROWS as u64) {
                self.interrupt.check()?;
            }
        }
        self.absorb(&context.warnings);
        if let Some(id) = generated {
            self.last_insert_id = id;
        }
        Ok(Done {
            affected_rows: count,
            last_insert_id: generated.unwrap_or(0),
            info: if count > 1 {
                format!(
                    "Records: {count}  Duplicates: 0  Warnings: {}",
                    self.warnings.total_count()
                )
            } else {
                String::new()
            },
        })
    }

    pub(super) fn single_table(
        &self,
        from: &ast::TableWithJoins,
    ) -> Result<(Arc<TableMeta>, String)> {
        if !from.joins.is_empty() {
            return Err(StatementError::Unsupported(
                "multi-table UPDATE/DELETE".into(),
            ));
        }
        let ast::TableFactor::Table { name, alias, .. } = &from.relation else {
            return Err(StatementError::Unsupported(from.relation.to_string()));
        };
        let meta = self.lookup(name)?;
        let alias = alias
            .as_ref()
            .map_or_else(|| meta.name.clone(), |a| a.name.value.clone());
        Ok((meta, alias))
    }

    /// Rows of `meta` matching `where_clause`, locked for writing.
    pub(super) fn matching_rows(
        &self,
        trx: &mut Trx,
        meta: &TableMeta,
        where_clause: Option<&Expr>,
        limit: Option<usize>,
        context: &mut EvalContext,
    ) -> Result<Vec<(Vec<u8>, Vec<Value>)>> {
        let access = plan::choose(meta, where_clause);
        log::debug!(
            "write on {}.{}: {}",
            meta.schema,
            meta.name,
            access.describe(meta)
        );
        let mut rows = Vec::new();
        scan(
            trx,
            meta,
            &access,
            LockRead::Exclusive,
            &self.interrupt,
            &mut |pk, values| {
                if let Some(w) = where_clause {
                    if w.eval(&values, context)?.truth(&mut context.warnings) != Some(true) {
                        return Ok(true);
                    }
                }
                rows.push((pk, values));
                Ok(limit.is_none_or(|l| rows.len() < l))
            },
        )?;
        Ok(rows)
    }

    pub(super) fn update(&mut self, trx: &mut Trx, update: &ast::Update) -> Result<Done> {
        let (meta, alias) = self.single_table(&update.table)?;
        self.hold(&meta)?;
        let mut assignments = Vec::new();
        for assignment in &update.assignments {
            let ast::AssignmentTarget::ColumnName(name) = &assignment.target else {
                return Err(StatementError::Unsupported("tuple assignment".into()));
            };
            let parts = ident_name(name)?;
            let column_name = parts.last().cloned().unwrap_or_default();
            let index =
                meta.column_index(&column_name)
                    .ok_or_else(|| StatementError::UnknownColumn {
                        column: column_name.clone(),
                        context: "field list".into(),
                    })?;
            let expr = self
                .binder(Some(&meta), &alias, "field list")
                .bind(&assignment.value)?;
            let expr = self.statement_subqueries(trx, &meta, expr)?;
            assignments.push((index, expr));
        }
        let where_clause = match &update.selection {
            Some(e) => {
                let bound = self.binder(Some(&meta), &alias, "where clause").bind(e)?;
                Some(self.statement_subqueries(trx, &meta, bound)?)
            }
            None => None,
        };
        let limit = match &update.limit {
            Some(e) => Some(limit_number(e)?),
            None => None,
        };
        let mut context = self.eval_context();
        let rows = self.matching_rows(trx, &meta, where_clause.as_ref(), limit, &mut context)?;
        let matched = rows.len() as u64;
        let mut changed = 0u64;
        for (row_index, (pk, old)) in rows.into_iter().enumerate() {
            let mut new = old.clone();
            // MySQL applies single-table assignments left to right, each
            // seeing the ones before it.
            for (index, expr) in &assignments {
                let value = expr.eval_output(&new, &mut context)?;
                let column = &meta.columns[*index];
                let value = self.convert(value, column, row_index + 1)?;
                if value.is_null() && !column.nullable {
                    return Err(StatementError::NullInNotNull(column.name.clone()));
                }
                if column.auto_increment {
                    if let Some(n) = value.to_i128(&mut Warnings::default()) {
                        meta.observe_auto_increment(u64::try_from(n).unwrap_or(0));
                    }
                }
                new[*index] = value;
            }
            let same = old.iter().zip(&new).all(|(a, b)| same_value(a, b));
            if same {
                continue;
            }
            self.write_row(trx, &meta, &new, Some(&pk))?;
            changed += 1;
        }
        self.absorb(&context.warnings);
        Ok(Done {
            affected_rows: changed,
            last_insert_id: 0,
            info: format!(
                "Rows matched: {matched}  Changed: {changed}  Warnings: {}",
                self.warnings.total_count()
            ),
        })
    }

    pub(super) fn delete(&mut self, trx: &mut Trx, delete: &ast::Delete) -> Result<Done> {
        let tables = match &delete.from {
            ast::FromTable::WithFromKeyword(t) | ast::FromTable::WithoutKeyword(t) => t,
        };
        let [from] = tables.as_slice() else {
            return Err(StatementError::Unsupported("multi-table DELETE".into()));
        };
        if !delete.tables.is_empty() || delete.using.is_some() {
            return Err(StatementError::Unsupported("multi-table DELETE".into()));
        }
        let (meta, alias) = self.single_table(from)?;
        self.hold(&meta)?;
        let where_clause = match &delete.selection {
            Some(e) => {
                let bound = self.binder(Some(&meta), &alias, "where clause").bind(e)?;
                Some(self.statement_subqueries(trx, &meta, bound)?)
            }
            None => None,
        };
        let limit = match &delete.limit {
            Some(e) => Some(limit_number(e)?),
            None => None,
        };
        let mut context = self.eval_context();
        let rows = self.matching_rows(trx, &meta, where_clause.as_ref(), limit, &mut context)?;
        let mut deleted = 0u64;
        for (pk, _) in rows {
            if meta.table.delete(trx, &pk).map_err(error::trx_error)? {
                deleted += 1;
            }
        }
        self.absorb(&context.warnings);
        Ok(Done {
            affected_rows: deleted,
            ..Done::default()
        })
    }
}

/// Whether two stored values are the same (an UPDATE that changes nothing
/// does not count the row as changed).
pub(super) fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bytes(x, _), Value::Bytes(y, _)) => x == y,
        (Value::Null, _) | (_, Value::Null) => false,
        _ => sort_compare(a, b) == std::cmp::Ordering::Equal && a.to_string() == b.to_string(),
    }
}

/// The "Duplicate entry" text: the values of the index that clashed.
pub(super) fn duplicate_entry(
    meta: &TableMeta,
    values: &[Value],
    index_name: &str,
) -> (String, String) {
    let index = meta
        .indexes
        .iter()
        .find(|i| i.name == index_name)
        .or_else(|| meta.indexes.first());
    let entry = index.map_or_else(String::new, |i| {
        i.columns
            .iter()
            .map(|&c| values.get(c).map_or_else(String::new, Value::to_string))
            .collect::<Vec<_>>()
            .join("-")
    });
    let key = format!(
        "{}.{}",
        meta.name,
        index.map_or(index_name, |i| i.name.as_str())
    );
    (entry, key)
}
