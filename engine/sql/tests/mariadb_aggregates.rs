//! Runs the aggregate calls of `data/mariadb_aggregates.tsv` (MariaDB 10.11's
//! answers over small one-column derived tables, generated once by
//! `data/generate_mariadb_expressions.py`) through the engine's binder
//! (aggregate slots over a one-column table) and the accumulators, and
//! compares the text result and whether a warning was raised.

mod common;

use common::{bind, bind_aggregate, fixed_context};
use floe_sql::expr::{aggregate_types, coerce};
use floe_sql::Value;
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

fn parse(sql: &str) -> Result<sqlparser::ast::Expr, String> {
    Parser::new(&MySqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| format!("parse {sql}: {e}"))
}

/// Evaluates `call` over the column `x` holding `values`; text and whether it warned.
fn evaluate(call: &str, values: &str) -> Result<(String, bool), String> {
    let mut context = fixed_context();
    let literals = values
        .split(" | ")
        .map(|v| {
            bind(&parse(v)?)
                .map_err(|e| e.to_string())?
                .eval(&[], &mut context)
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<Value>, String>>()?;
    // The derived table's column has the UNION of the literals' types.
    let column_type =
        aggregate_types(&literals.iter().map(Value::literal_type).collect::<Vec<_>>());
    let rows: Vec<Value> = literals
        .into_iter()
        .map(|v| coerce(v, &column_type, &mut context.warnings))
        .collect();
    // One group: the executor's row is the group's first row, then the
    // aggregates' values.
    let (expr, slots) = bind_aggregate(&parse(call)?, column_type).map_err(|e| e.to_string())?;
    let mut accumulators: Vec<_> = slots.iter().map(|s| s.aggregate.accumulator()).collect();
    let mut failed = None;
    for row in &rows {
        for (slot, accumulator) in slots.iter().zip(accumulators.iter_mut()) {
            let value = match &slot.argument {
                Some(argument) => argument.eval_output(std::slice::from_ref(row), &mut context),
                None => Ok(Value::Null),
            };
            let updated = value.and_then(|v| accumulator.update(&v, &mut context.warnings));
            if let Err(e) = updated {
                failed.get_or_insert(e);
            }
        }
    }
    let mut group_row = vec![rows.first().cloned().unwrap_or(Value::Null)];
    for accumulator in &accumulators {
        match accumulator.finish(context.arith.div_precision_increment) {
            Ok(v) => group_row.push(v),
            Err(e) => {
                failed.get_or_insert(e);
            }
        }
    }
    let text = match failed {
        Some(error) => format!("ERROR {}", error.code()),
        None => match expr.eval_output(&group_row, &mut context) {
            Ok(value) => value
                .to_text()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or("NULL".into()),
            Err(error) => format!("ERROR {}", error.code()),
        },
    };
    let warned = context.warnings.total_count() > 0;
    Ok((text, warned))
}

// Every aggregate call gives MariaDB's text, and warns exactly when MariaDB does.
#[test]
fn aggregates_match_mariadb() {
    let table = include_str!("data/mariadb_aggregates.tsv");
    let mut failures = Vec::new();
    let mut total = 0usize;
    for line in table.lines().filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        let [call, values, expected, expected_warnings] = fields.as_slice() else {
            panic!("malformed table line: {line:?}");
        };
        total += 1;
        let expected_warned = *expected_warnings != "0";
        match evaluate(call, values) {
            Ok((text, warned)) if text == *expected && warned == expected_warned => {}
            Ok((text, warned)) => failures.push(format!(
                "{call} over {values}: MariaDB {expected:?} (warned: {expected_warned}), Floe {text:?} (warned: {warned})"
            )),
            Err(reason) => failures.push(format!("{call} over {values}: {reason}")),
        }
    }
    eprintln!(
        "{} of {total} aggregate calls match MariaDB",
        total - failures.len()
    );
    assert!(total >= 40, "table has only {total} rows");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
