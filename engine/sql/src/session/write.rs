//! INSERT (with IGNORE, REPLACE, ON DUPLICATE KEY UPDATE, and SET),
//! UPDATE and DELETE (with ORDER BY and LIMIT).
//!
//! Duplicate keys. Each row's insert runs under a savepoint. IGNORE turns
//! a duplicate into warning 1062 and skips the row; REPLACE deletes the
//! row that clashed (found through the index the storage engine named,
//! locked for writing) and tries again; ON DUPLICATE KEY UPDATE applies its
//! assignments to the row that clashed. Affected rows are MySQL's: 1 per
//! insert, REPLACE 1 + rows deleted, ODKU 2 for a changed row and 0 for an
//! unchanged one (as without CLIENT_FOUND_ROWS).
//!
//! Knowingly different from MySQL: IGNORE downgrades duplicate keys only,
//! not conversion or NOT NULL errors; REPLACE always deletes and inserts
//! (MySQL updates in place when the clash is on the primary key alone; the
//! counts are the same); ODKU's `VALUES(col)` and new-row alias are found in
//! arithmetic, comparisons, function arguments, CASE and IS [NOT] NULL, not
//! in other expression forms.

use super::*;

/// The line of the places that ODKU gives the inserted row's values
/// (no SQL text has that many lines).
const ODKU_PLACE_LINE: u64 = u64::MAX;

/// What an INSERT does with a row whose key exists.
enum OnDuplicate {
    Error,
    Ignore,
    Replace,
    /// (column, value expression with the new row's values as placeholders)
    Update(Vec<(usize, ast::Expr)>),
}

/// What became of one row of an INSERT.
enum RowOutcome {
    Inserted,
    Ignored,
    /// Inserted after deleting this many clashing rows.
    Replaced(u64),
    Updated,
    Unchanged,
}

/// A placeholder that names column `position` of the row being inserted.
fn new_row_placeholder(position: usize) -> ast::Expr {
    let place = sqlparser::tokenizer::Location {
        line: ODKU_PLACE_LINE,
        column: position as u64 + 1,
    };
    ast::Expr::Value(ast::ValueWithSpan {
        value: ast::Value::Placeholder("?".into()),
        span: sqlparser::tokenizer::Span::new(place, place),
    })
}

/// `expr` with every sub-expression that `new_value_of` recognises
/// replaced by a placeholder for that column of the inserted row.
fn rewrite_expr(expr: &ast::Expr, new_value_of: &dyn Fn(&ast::Expr) -> Option<usize>) -> ast::Expr {
    if let Some(position) = new_value_of(expr) {
        return new_row_placeholder(position);
    }
    let again = |e: &ast::Expr| Box::new(rewrite_expr(e, new_value_of));
    match expr {
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
        ast::Expr::Case {
            case_token,
            end_token,
            operand,
            conditions,
            else_result,
        } => ast::Expr::Case {
            case_token: case_token.clone(),
            end_token: end_token.clone(),
            operand: operand.as_deref().map(&again),
            conditions: conditions
                .iter()
                .map(|w| ast::CaseWhen {
                    condition: rewrite_expr(&w.condition, new_value_of),
                    result: rewrite_expr(&w.result, new_value_of),
                })
                .collect(),
            else_result: else_result.as_deref().map(&again),
        },
        ast::Expr::Function(f) => {
            let mut f = f.clone();
            if let ast::FunctionArguments::List(list) = &mut f.args {
                for arg in &mut list.args {
                    if let ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) = arg {
                        *e = rewrite_expr(e, new_value_of);
                    }
                }
            }
            ast::Expr::Function(f)
        }
        other => other.clone(),
    }
}

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
        let mut pending_auto = None;
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
                        // Taken once the row is otherwise complete, so a
                        // row refused for another column uses no value
                        // (MySQL generates it when the row is written).
                        pending_auto = Some(i);
                        values.push(Value::Null);
                        continue;
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
        if let Some(i) = pending_auto {
            let next = meta.take_auto_increment();
            generated.get_or_insert(next);
            let value = self.convert(Value::UInt(next), &meta.columns[i], row_number)?;
            if let Some(slot) = values.get_mut(i) {
                *slot = value;
            }
        }
        Ok(values)
    }

    pub(super) fn convert(
        &self,
        value: Value,
        column: &ColumnMeta,
        row_number: usize,
    ) -> Result<Value> {
        let value = row::convert_for_column(value, &column.sql_type).map_err(|e| {
            StatementError::Convert {
                code: e.code(),
                message: e.to_string(),
                column: column.name.clone(),
                row: row_number,
            }
        })?;
        // TIMESTAMP is given in the session time zone and stored in UTC.
        Ok(match (&column.sql_type, value) {
            (SqlType::Timestamp { .. }, Value::DateTime(local)) if self.time_zone_offset_s != 0 => {
                crate::temporal::shift_seconds(&local, -self.time_zone_offset_s)
                    .map_or(Value::Null, Value::DateTime)
            }
            (_, value) => value,
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
        meta.note_change();
        Ok(())
    }

    pub(super) fn insert(&mut self, trx: &mut Trx, insert: &ast::Insert) -> Result<Done> {
        let ast::TableObject::TableName(name) = &insert.table else {
            return Err(StatementError::Unsupported("INSERT INTO a function".into()));
        };
        let meta = self.lookup(name)?;
        self.hold(&meta)?;
        let column_position = |column_name: &str| {
            meta.column_index(column_name)
                .ok_or_else(|| StatementError::UnknownColumn {
                    column: column_name.to_string(),
                    context: "field list".into(),
                })
        };
        let mut targets: Vec<usize> = Vec::new();
        // The rows as expressions: VALUES lists, or one row of INSERT ... SET.
        let mut set_row = Vec::new();
        let rows: Vec<&[ast::Expr]> = if insert.source.is_none() && !insert.assignments.is_empty() {
            for assignment in &insert.assignments {
                let ast::AssignmentTarget::ColumnName(column) = &assignment.target else {
                    return Err(StatementError::Unsupported("tuple assignment".into()));
                };
                let parts = ident_name(column)?;
                targets.push(column_position(&parts.last().cloned().unwrap_or_default())?);
                set_row.push(assignment.value.clone());
            }
            vec![set_row.as_slice()]
        } else {
            targets = if insert.columns.is_empty() {
                (0..meta.columns.len())
                    .filter(|&i| !meta.columns[i].hidden)
                    .collect()
            } else {
                let mut targets = Vec::new();
                for column in &insert.columns {
                    let parts = ident_name(column)?;
                    targets.push(column_position(&parts.last().cloned().unwrap_or_default())?);
                }
                targets
            };
            let source = insert
                .source
                .as_ref()
                .ok_or_else(|| StatementError::Unsupported("INSERT without values".into()))?;
            let ast::SetExpr::Values(values) = source.body.as_ref() else {
                if insert.on.is_some() || insert.ignore || insert.replace_into {
                    return Err(StatementError::Unsupported(
                        "INSERT IGNORE / REPLACE / ON DUPLICATE KEY UPDATE ... SELECT".into(),
                    ));
                }
                return self.insert_select(trx, &meta, &targets, source);
            };
            values.rows.iter().map(|r| r.content.as_slice()).collect()
        };
        let on_duplicate = match (&insert.on, insert.replace_into, insert.ignore) {
            (Some(ast::OnInsert::DuplicateKeyUpdate(assignments)), _, _) => {
                OnDuplicate::Update(self.duplicate_assignments(
                    &meta,
                    assignments,
                    insert.insert_alias.as_ref(),
                    &targets,
                )?)
            }
            (Some(other), _, _) => {
                return Err(StatementError::Unsupported(format!("INSERT ... {other}")))
            }
            (None, true, _) => OnDuplicate::Replace,
            (None, false, true) => OnDuplicate::Ignore,
            (None, false, false) => OnDuplicate::Error,
        };
        let mut context = self.eval_context();
        let mut generated = None;
        let mut affected = 0u64;
        let mut duplicates = 0u64;
        for (row_index, row_exprs) in rows.iter().enumerate() {
            let row_number = row_index + 1;
            if row_exprs.len() != targets.len() {
                return Err(StatementError::ColumnCount(row_number));
            }
            let mut given: Vec<Option<Value>> = vec![None; meta.columns.len()];
            for (expr, &target) in row_exprs.iter().zip(&targets) {
                if let ast::Expr::Identifier(i) = expr {
                    if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default") {
                        continue;
                    }
                }
                let bound = self.binder(None, "", "field list").bind(expr)?;
                given[target] = Some(bound.eval_output(&[], &mut context)?);
            }
            let row = self.complete_row(&meta, given, row_number, &mut generated)?;
            let outcome = match &on_duplicate {
                OnDuplicate::Error => {
                    self.write_row(trx, &meta, &row, None)?;
                    RowOutcome::Inserted
                }
                other => self.insert_or_resolve(trx, &meta, &row, other, row_number)?,
            };
            match outcome {
                RowOutcome::Inserted => affected += 1,
                RowOutcome::Ignored => duplicates += 1,
                RowOutcome::Replaced(deleted) => {
                    affected += 1 + deleted;
                    duplicates += u64::from(deleted > 0);
                }
                RowOutcome::Updated => {
                    affected += 2;
                    duplicates += 1;
                }
                RowOutcome::Unchanged => duplicates += 1,
            }
            if (row_index + 1).is_multiple_of(INTERRUPT_CHECK_ROWS) {
                self.interrupt.check()?;
            }
        }
        self.absorb(&context.warnings);
        if let Some(id) = generated {
            self.last_insert_id = id;
        }
        let count = rows.len();
        Ok(Done {
            affected_rows: affected,
            last_insert_id: generated.unwrap_or(0),
            info: if count > 1 {
                format!(
                    "Records: {count}  Duplicates: {duplicates}  Warnings: {}",
                    self.warnings.total_count()
                )
            } else {
                String::new()
            },
        })
    }

    /// Binds nothing yet: checks ODKU's targets and rewrites `VALUES(col)`
    /// and the new-row alias (`new.col`, or a column alias) into
    /// placeholders that name the would-be-inserted value of that column
    /// (`ODKU_PLACE_LINE`, column position + 1).
    fn duplicate_assignments(
        &self,
        meta: &TableMeta,
        assignments: &[ast::Assignment],
        alias: Option<&ast::InsertAliases>,
        targets: &[usize],
    ) -> Result<Vec<(usize, ast::Expr)>> {
        let row_alias = alias
            .map(|a| ident_name(&a.row_alias))
            .transpose()?
            .and_then(|parts| parts.last().cloned());
        let column_aliases: Vec<(String, usize)> = alias
            .and_then(|a| a.col_aliases.as_ref())
            .map(|names| {
                names
                    .iter()
                    .zip(targets)
                    .map(|(n, &t)| (n.value.clone(), t))
                    .collect()
            })
            .unwrap_or_default();
        let new_value_of = |expr: &ast::Expr| -> Option<usize> {
            match expr {
                ast::Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("values") => {
                    let ast::FunctionArguments::List(list) = &f.args else {
                        return None;
                    };
                    let [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(arg))] =
                        list.args.as_slice()
                    else {
                        return None;
                    };
                    let name = match arg {
                        ast::Expr::Identifier(i) => &i.value,
                        ast::Expr::CompoundIdentifier(parts) => &parts.last()?.value,
                        _ => return None,
                    };
                    meta.column_index(name)
                }
                ast::Expr::CompoundIdentifier(parts) => match (parts.as_slice(), &row_alias) {
                    ([table, column], Some(alias)) if table.value.eq_ignore_ascii_case(alias) => {
                        if column_aliases.is_empty() {
                            meta.column_index(&column.value)
                        } else {
                            column_aliases
                                .iter()
                                .find(|(n, _)| n.eq_ignore_ascii_case(&column.value))
                                .map(|(_, t)| *t)
                        }
                    }
                    _ => None,
                },
                ast::Expr::Identifier(i)
                    if i.quote_style.is_none() || i.quote_style == Some('`') =>
                {
                    column_aliases
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(&i.value))
                        .map(|(_, t)| *t)
                }
                _ => None,
            }
        };
        let mut out = Vec::with_capacity(assignments.len());
        for assignment in assignments {
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
            out.push((index, rewrite_expr(&assignment.value, &new_value_of)));
        }
        Ok(out)
    }

    /// Inserts `row`, resolving a duplicate key as IGNORE, REPLACE or ON
    /// DUPLICATE KEY UPDATE do. Each attempt runs under a savepoint, so a
    /// half-written row (clustered record in, unique entry refused) is
    /// undone before the clash is resolved.
    fn insert_or_resolve(
        &mut self,
        trx: &mut Trx,
        meta: &TableMeta,
        row: &[Value],
        on_duplicate: &OnDuplicate,
        row_number: usize,
    ) -> Result<RowOutcome> {
        let mut deleted = 0u64;
        // Each REPLACE round removes one clashing row; a table has at most
        // one clash per unique index, so more rounds than indexes (plus
        // races with other writers) means something is wrong.
        for _ in 0..(meta.indexes.len() * 4 + 4) {
            let savepoint = trx.savepoint();
            let (entry, key) = match self.write_row(trx, meta, row, None) {
                Ok(()) => {
                    return Ok(if deleted > 0 {
                        RowOutcome::Replaced(deleted)
                    } else {
                        RowOutcome::Inserted
                    })
                }
                Err(StatementError::Duplicate { entry, key }) => (entry, key),
                Err(e) => return Err(e),
            };
            trx.rollback_to(savepoint).map_err(error::trx_error)?;
            let index_name = key
                .strip_prefix(&format!("{}.", meta.name))
                .unwrap_or(&key)
                .to_string();
            if matches!(on_duplicate, OnDuplicate::Ignore) {
                self.warnings
                    .push(1062, format!("Duplicate entry '{entry}' for key '{key}'"));
                return Ok(RowOutcome::Ignored);
            }
            let Some((pk, old)) = self.clashing_row(trx, meta, row, &index_name)? else {
                // Its writer rolled back meanwhile: try the insert again.
                continue;
            };
            match on_duplicate {
                OnDuplicate::Replace => {
                    if meta.table.delete(trx, &pk).map_err(error::trx_error)? {
                        meta.note_change();
                        deleted += 1;
                    }
                }
                OnDuplicate::Update(assignments) => {
                    let new =
                        self.apply_duplicate_update(meta, &old, row, assignments, row_number)?;
                    if old.iter().zip(&new).all(|(a, b)| same_value(a, b)) {
                        return Ok(RowOutcome::Unchanged);
                    }
                    self.write_row(trx, meta, &new, Some(&pk))?;
                    return Ok(RowOutcome::Updated);
                }
                OnDuplicate::Error | OnDuplicate::Ignore => unreachable!("handled above"),
            }
        }
        Err(StatementError::Storage(format!(
            "{}.{}: the duplicate key of row {row_number} could not be resolved",
            meta.schema, meta.name
        )))
    }

    /// The live row whose key in index `index_name` equals `row`'s, locked
    /// for writing, with its primary key; None when there is none (any more).
    fn clashing_row(
        &self,
        trx: &mut Trx,
        meta: &TableMeta,
        row: &[Value],
        index_name: &str,
    ) -> Result<Option<(Vec<u8>, Vec<Value>)>> {
        let position = meta
            .indexes
            .iter()
            .position(|i| i.name == index_name)
            .unwrap_or(0);
        let bytes = if position == 0 {
            let pk = meta.primary_key(row)?;
            meta.table
                .get(trx, &pk, LockRead::Exclusive)
                .map_err(error::trx_error)?
        } else {
            let index = &meta.indexes[position];
            let values: Vec<Value> = index
                .columns
                .iter()
                .map(|&c| row.get(c).cloned().unwrap_or(Value::Null))
                .collect();
            let mut key = Vec::new();
            encode_key(&values, &index.key_columns, &mut key)?;
            let mut scan = meta.table.scan_index(
                position - 1,
                std::ops::Bound::Included(key.clone()),
                std::ops::Bound::Included(key),
                Direction::Forward,
                LockRead::Exclusive,
            );
            scan.next(trx)
                .map_err(error::trx_error)?
                .map(|(_, bytes)| bytes)
        };
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        let values =
            row::decode(&bytes, &meta.types).map_err(|e| StatementError::Storage(e.to_string()))?;
        let pk = meta.primary_key(&values)?;
        Ok(Some((pk, values)))
    }

    /// ON DUPLICATE KEY UPDATE: the assignments applied left to right to the
    /// existing row `old`, `VALUES(col)` reading the row that clashed.
    fn apply_duplicate_update(
        &mut self,
        meta: &TableMeta,
        old: &[Value],
        inserted: &[Value],
        assignments: &[(usize, ast::Expr)],
        row_number: usize,
    ) -> Result<Vec<Value>> {
        // The inserted row's values are parameters at places no SQL text
        // has (line ODKU_PLACE_LINE), after the statement's own.
        let saved_values = self.parameters.clone();
        let saved_places = Arc::clone(&self.parameter_places);
        let mut places = (*saved_places).clone();
        for (i, value) in inserted.iter().enumerate() {
            places.push((ODKU_PLACE_LINE, i as u64 + 1));
            self.parameters.push(value.clone());
        }
        self.parameter_places = Arc::new(places);
        let outcome = (|| {
            let mut context = self.eval_context();
            let mut new = old.to_vec();
            for (index, expr) in assignments {
                let bound = self
                    .binder(Some(meta), &meta.name, "field list")
                    .bind(expr)?;
                let value = bound.eval_output(&new, &mut context)?;
                let column = &meta.columns[*index];
                let value = self.convert(value, column, row_number)?;
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
            self.absorb(&context.warnings);
            Ok(new)
        })();
        self.parameters = saved_values;
        self.parameter_places = saved_places;
        outcome
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
        self.rows_through(trx, meta, &access, where_clause, limit, context)
    }

    /// The rows `access` reads that match `where_clause` (locked), until
    /// `limit` of them.
    fn rows_through(
        &self,
        trx: &mut Trx,
        meta: &TableMeta,
        access: &plan::Access,
        where_clause: Option<&Expr>,
        limit: Option<usize>,
        context: &mut EvalContext,
    ) -> Result<Vec<(Vec<u8>, Vec<Value>)>> {
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
            access,
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

    /// The rows UPDATE/DELETE change: all matching rows (locked), sorted
    /// by ORDER BY when given, then cut to LIMIT. Without ORDER BY the scan
    /// stops at LIMIT (primary key order, as InnoDB's); so does an ORDER BY
    /// an index serves in order (`plan::choose_ordered`), which then locks
    /// only the rows read up to LIMIT.
    #[allow(clippy::too_many_arguments)]
    fn ordered_matching_rows(
        &self,
        trx: &mut Trx,
        meta: &TableMeta,
        alias: &str,
        where_clause: Option<&Expr>,
        order_by: &[ast::OrderByExpr],
        limit: Option<usize>,
        context: &mut EvalContext,
    ) -> Result<Vec<(Vec<u8>, Vec<Value>)>> {
        if order_by.is_empty() {
            return self.matching_rows(trx, meta, where_clause, limit, context);
        }
        let mut keys = Vec::with_capacity(order_by.len());
        for item in order_by {
            let expr = self
                .binder(Some(meta), alias, "order clause")
                .bind(&item.expr)?;
            let descending = matches!(item.options.sort, Some(ast::OrderBySort::Desc));
            keys.push((expr, descending));
        }
        let descending = keys.first().is_some_and(|(_, d)| *d);
        let columns: Option<Vec<usize>> = keys
            .iter()
            .map(|(e, d)| match e {
                Expr::Column { index, .. } if *d == descending => Some(*index),
                _ => None,
            })
            .collect();
        if let Some(columns) = columns {
            let wanted = plan::OrderWanted {
                columns,
                descending,
                limit,
            };
            if let (access, true) = plan::choose_ordered(meta, where_clause, None, &wanted) {
                return self.rows_through(trx, meta, &access, where_clause, limit, context);
            }
        }
        let rows = self.matching_rows(trx, meta, where_clause, None, context)?;
        let mut keyed = Vec::with_capacity(rows.len());
        for (pk, values) in rows {
            let mut sort_key = Vec::with_capacity(keys.len());
            for (expr, _) in &keys {
                sort_key.push(expr.eval(&values, context)?);
            }
            keyed.push((sort_key, pk, values));
        }
        // Stable: equal keys keep primary key order.
        keyed.sort_by(|a, b| {
            for ((x, y), (_, descending)) in a.0.iter().zip(&b.0).zip(&keys) {
                let ordering = sort_compare(x, y);
                let ordering = if *descending {
                    ordering.reverse()
                } else {
                    ordering
                };
                if ordering != std::cmp::Ordering::Equal {
                    return ordering;
                }
            }
            std::cmp::Ordering::Equal
        });
        if let Some(limit) = limit {
            keyed.truncate(limit);
        }
        Ok(keyed
            .into_iter()
            .map(|(_, pk, values)| (pk, values))
            .collect())
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
            Some(e) => Some(self.limit_number(e)?),
            None => None,
        };
        let mut context = self.eval_context();
        let rows = self.ordered_matching_rows(
            trx,
            &meta,
            &alias,
            where_clause.as_ref(),
            &update.order_by,
            limit,
            &mut context,
        )?;
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
            Some(e) => Some(self.limit_number(e)?),
            None => None,
        };
        let mut context = self.eval_context();
        let rows = self.ordered_matching_rows(
            trx,
            &meta,
            &alias,
            where_clause.as_ref(),
            &delete.order_by,
            limit,
            &mut context,
        )?;
        let mut deleted = 0u64;
        for (pk, _) in rows {
            if meta.table.delete(trx, &pk).map_err(error::trx_error)? {
                meta.note_change();
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
