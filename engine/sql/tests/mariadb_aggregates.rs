//! Runs the aggregate calls of `data/mariadb_aggregates.tsv` (MariaDB 10.11's
//! answers over small one-column derived tables, generated once by
//! `data/generate_mariadb_expressions.py`) through the accumulators, and
//! compares the text result and whether a warning was raised.

mod common;

use common::{bind, fixed_context, AGGREGATE_ROWS, AGGREGATE_WARNINGS};
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
            bind(&parse(v)?)?
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
    AGGREGATE_ROWS.with(|cell| *cell.borrow_mut() = Some((rows, column_type)));
    AGGREGATE_WARNINGS.with(|count| *count.borrow_mut() = 0);
    let expr = bind(&parse(call)?)?;
    let text = match expr.eval_output(&[], &mut context) {
        Ok(value) => value
            .to_text()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or("NULL".into()),
        Err(error) => format!("ERROR {}", error.code()),
    };
    let warned =
        context.warnings.total_count() + AGGREGATE_WARNINGS.with(|count| *count.borrow()) > 0;
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
