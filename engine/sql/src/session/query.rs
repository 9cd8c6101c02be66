//! SELECT: one table, access path, filter, grouping, order, limit.

use super::*;

impl SqlSession {
    // ---- SELECT --------------------------------------------------------

    pub(super) fn select(&mut self, query: &ast::Query, sink: &mut dyn ResultSink) -> Result<()> {
        let ast::SetExpr::Select(select) = query.body.as_ref() else {
            return Err(StatementError::Unsupported(format!("query {}", query.body)));
        };
        if query.with.is_some() {
            return Err(StatementError::Unsupported("WITH".into()));
        }
        let lock = match query.locks.first().map(|l| &l.lock_type) {
            None => LockRead::None,
            Some(ast::LockType::Share) => LockRead::Shared,
            Some(ast::LockType::Update) => LockRead::Exclusive,
        };
        let (table, alias) = match select.from.as_slice() {
            [] => (None, String::new()),
            [from] => {
                if !from.joins.is_empty() {
                    return Err(StatementError::Unsupported("joins".into()));
                }
                let ast::TableFactor::Table { name, alias, .. } = &from.relation else {
                    return Err(StatementError::Unsupported(format!(
                        "FROM {}",
                        from.relation
                    )));
                };
                let meta = self.lookup(name)?;
                let alias = match alias {
                    Some(a) => a.name.value.clone(),
                    None => meta.name.clone(),
                };
                (Some(meta), alias)
            }
            _ => return Err(StatementError::Unsupported("joins".into())),
        };
        let group_by: Vec<&ast::Expr> = match &select.group_by {
            ast::GroupByExpr::Expressions(exprs, _) => exprs.iter().collect(),
            ast::GroupByExpr::All(_) => {
                return Err(StatementError::Unsupported("GROUP BY ALL".into()))
            }
        };
        let aggregate_mode = !group_by.is_empty()
            || select.having.is_some()
            || select.projection.iter().any(|item| match item {
                ast::SelectItem::UnnamedExpr(e)
                | ast::SelectItem::ExprWithAlias { expr: e, .. } => has_aggregate(e),
                _ => false,
            });
        let meta = table.as_deref();
        let mut binder = self.binder(meta, &alias, "field list");
        if aggregate_mode {
            binder.aggregates = Some(Vec::new());
        }
        // Projections.
        let mut projections = Vec::new();
        for item in &select.projection {
            match item {
                ast::SelectItem::Wildcard(_) | ast::SelectItem::QualifiedWildcard(..) => {
                    let Some(meta) = meta else {
                        return Err(parse_error("* without a table"));
                    };
                    for (i, c) in meta.columns.iter().enumerate().filter(|(_, c)| !c.hidden) {
                        projections.push(Projection {
                            column: self.table_column(meta, &alias, i),
                            expr: Expr::column(i, c.sql_type, c.nullable),
                            alias: None,
                        });
                    }
                }
                ast::SelectItem::UnnamedExpr(e)
                | ast::SelectItem::ExprWithAlias { expr: e, .. } => {
                    let expr = binder.bind(e)?;
                    let alias_name = match item {
                        ast::SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
                        _ => None,
                    };
                    let mut column = match (&expr, meta) {
                        (Expr::Column { index, .. }, Some(meta)) if *index < meta.columns.len() => {
                            let mut c = self.table_column(meta, &alias, *index);
                            if let ast::Expr::Identifier(i) = e {
                                c.name = i.value.clone();
                            }
                            c
                        }
                        _ => {
                            column_definition(&expr.result_type(), expr.nullable(), &e.to_string())
                        }
                    };
                    if let Some(a) = &alias_name {
                        column.name = a.clone();
                    }
                    projections.push(Projection {
                        column,
                        expr,
                        alias: alias_name,
                    });
                }
                other => return Err(StatementError::Unsupported(other.to_string())),
            }
        }
        // WHERE reads the table's row only.
        let where_clause = match &select.selection {
            Some(e) => Some(self.binder(meta, &alias, "where clause").bind(e)?),
            None => None,
        };
        let mut group_exprs = Vec::new();
        for e in &group_by {
            group_exprs.push(self.binder(meta, &alias, "group statement").bind(e)?);
        }
        binder.context = "having clause";
        let having = match &select.having {
            Some(e) => Some(binder.bind(e)?),
            None => None,
        };
        binder.context = "order clause";
        let mut order = Vec::new();
        if let Some(order_by) = &query.order_by {
            let ast::OrderByKind::Expressions(items) = &order_by.kind else {
                return Err(StatementError::Unsupported("ORDER BY ALL".into()));
            };
            for item in items {
                let descending = matches!(item.options.sort, Some(ast::OrderBySort::Desc));
                let expr = match &item.expr {
                    ast::Expr::Value(v) if matches!(v.value, ast::Value::Number(..)) => {
                        let position: usize = v.value.to_string().parse().unwrap_or(0);
                        projections
                            .get(position.wrapping_sub(1))
                            .map(|p| p.expr.clone())
                            .ok_or_else(|| StatementError::UnknownColumn {
                                column: v.value.to_string(),
                                context: "order clause".into(),
                            })?
                    }
                    ast::Expr::Identifier(i)
                        if projections.iter().any(|p| {
                            p.alias
                                .as_deref()
                                .is_some_and(|a| a.eq_ignore_ascii_case(&i.value))
                        }) =>
                    {
                        projections
                            .iter()
                            .find(|p| {
                                p.alias
                                    .as_deref()
                                    .is_some_and(|a| a.eq_ignore_ascii_case(&i.value))
                            })
                            .map(|p| p.expr.clone())
                            .unwrap_or_else(|| unreachable!())
                    }
                    other => binder.bind(other)?,
                };
                order.push((expr, descending));
            }
        }
        let slots = binder.aggregates.take().unwrap_or_default();
        drop(binder);
        let (limit, offset) = limit_offset(query)?;

        let columns: Vec<Column> = projections.iter().map(|p| p.column.clone()).collect();
        let output_types: Vec<SqlType> = projections.iter().map(|p| p.expr.result_type()).collect();
        let mut context = self.eval_context();

        // Source rows (the table's, or one empty row without FROM).
        let mut source: Vec<Vec<Value>> = Vec::new();
        match &table {
            None => source.push(Vec::new()),
            Some(meta) => {
                let access = plan::choose(meta, where_clause.as_ref());
                log::debug!(
                    "select on {}.{}: {}",
                    meta.schema,
                    meta.name,
                    access.describe(meta)
                );
                let read_only = lock == LockRead::None;
                let meta = Arc::clone(meta);
                let interrupt = self.interrupt.clone();
                let where_ref = where_clause.as_ref();
                // Without ORDER BY or aggregates, LIMIT stops the scan early.
                let stop_after = if order.is_empty() && !aggregate_mode {
                    limit.map(|l| l.saturating_add(offset))
                } else {
                    None
                };
                let rows = self.data_statement(read_only, |session, trx| {
                    session.hold(&meta)?;
                    let mut rows = Vec::new();
                    let mut ctx = session.eval_context();
                    scan(trx, &meta, &access, lock, &interrupt, &mut |_, values| {
                        if let Some(w) = where_ref {
                            if w.eval(&values, &mut ctx)?.truth(&mut ctx.warnings) != Some(true) {
                                return Ok(true);
                            }
                        }
                        rows.push(values);
                        Ok(stop_after.is_none_or(|n| rows.len() < n))
                    })?;
                    session.absorb(&ctx.warnings);
                    Ok(rows)
                })?;
                source = rows;
            }
        }
        if table.is_none() {
            if let Some(w) = &where_clause {
                if w.eval(&[], &mut context)?.truth(&mut context.warnings) != Some(true) {
                    source.clear();
                }
            }
        }
        // Aggregation: one row per group, the group's first row followed by
        // its aggregate values.
        let rows: Vec<Vec<Value>> = if aggregate_mode {
            let width = meta.map_or(0, |m| m.columns.len());
            aggregate_rows(source, &group_exprs, &slots, width, &mut context)?
        } else {
            source
        };
        let mut out: Vec<(Vec<Value>, Vec<Value>)> = Vec::new();
        for row in rows {
            if let Some(h) = &having {
                if h.eval(&row, &mut context)?.truth(&mut context.warnings) != Some(true) {
                    continue;
                }
            }
            let keys = order
                .iter()
                .map(|(e, _)| e.eval_output(&row, &mut context))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let values = projections
                .iter()
                .map(|p| p.expr.eval(&row, &mut context))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            out.push((keys, values));
        }
        if !order.is_empty() {
            out.sort_by(|(a, _), (b, _)| {
                for ((x, y), (_, descending)) in a.iter().zip(b).zip(&order) {
                    let ordering = sort_compare(x, y);
                    if ordering != std::cmp::Ordering::Equal {
                        return if *descending {
                            ordering.reverse()
                        } else {
                            ordering
                        };
                    }
                }
                std::cmp::Ordering::Equal
            });
        }
        self.absorb(&context.warnings);
        send_columns(sink, &columns)?;
        for (i, (_, values)) in out.into_iter().enumerate() {
            if i < offset {
                continue;
            }
            if limit.is_some_and(|l| i >= offset.saturating_add(l)) {
                break;
            }
            emit_row(sink, values, &output_types)?;
        }
        sink.done(&Summary {
            status: self.status_flags(),
            warning_count: u16::try_from(self.warnings.total_count()).unwrap_or(u16::MAX),
            ..Summary::default()
        })?;
        Ok(())
    }
}

pub(super) fn limit_number(expr: &ast::Expr) -> Result<usize> {
    match expr {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::Number(n, _) => {
                n.parse().map_err(|_| parse_error(format!("bad LIMIT {n}")))
            }
            other => Err(parse_error(format!("bad LIMIT {other}"))),
        },
        other => Err(parse_error(format!("bad LIMIT {other}"))),
    }
}

pub(super) fn limit_offset(query: &ast::Query) -> Result<(Option<usize>, usize)> {
    match &query.limit_clause {
        None => Ok((None, 0)),
        Some(ast::LimitClause::LimitOffset { limit, offset, .. }) => Ok((
            limit.as_ref().map(limit_number).transpose()?,
            offset
                .as_ref()
                .map(|o| limit_number(&o.value))
                .transpose()?
                .unwrap_or(0),
        )),
        Some(ast::LimitClause::OffsetCommaLimit { offset, limit }) => {
            Ok((Some(limit_number(limit)?), limit_number(offset)?))
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
    let decode = |bytes: &[u8]| {
        row::decode(bytes, &meta.types).map_err(|e| {
            StatementError::Storage(format!("table {}.{}: {e}", meta.schema, meta.name))
        })
    };
    let mut count = 0usize;
    for (lower, upper) in &access.ranges {
        if access.point {
            let std::ops::Bound::Included(key) = lower else {
                continue;
            };
            if let Some(bytes) = meta.table.get(trx, key, lock).map_err(error::trx_error)? {
                if !visit(key.clone(), decode(&bytes)?)? {
                    return Ok(());
                }
            }
            continue;
        }
        let mut cursor = if access.index == 0 {
            meta.table
                .scan(lower.clone(), upper.clone(), Direction::Forward, lock)
        } else {
            meta.table.scan_index(
                access.index - 1,
                lower.clone(),
                upper.clone(),
                Direction::Forward,
                lock,
            )
        };
        while let Some((pk, bytes)) = cursor.next(trx).map_err(error::trx_error)? {
            count += 1;
            if count.is_multiple_of(INTERRUPT_CHECK_ROWS) {
                interrupt.check()?;
            }
            if !visit(pk, decode(&bytes)?)? {
                return Ok(());
            }
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
