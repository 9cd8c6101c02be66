//! Evaluates every expression of `data/mariadb_expressions.tsv` (MariaDB 10.11's
//! answers, generated once by `data/generate_mariadb_expressions.py`) and compares
//! the text result, or the error number, with MariaDB's. The expressions are
//! parsed with sqlparser and bound by the engine's binder (`floe_sql::bind`).

mod common;

use common::{bind, fixed_context};
use floe_sql::{Collation, Expr, Value};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

/// Expressions where MariaDB 10.11 and Floe (following MySQL 8) knowingly differ, with why.
/// An entry names the expression as written in the table.
const KNOWN_DIVERGENCES: &[(&str, &str)] = &[(
    "'é' = 'e'",
    "no accent folding yet: Floe's utf8mb4_0900_ai_ci folds case only (MySQL 8 and MariaDB say 1)",
)];

fn evaluate(sql: &str) -> Result<(String, u64), String> {
    let parsed = Parser::new(&MySqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut parser| parser.parse_expr())
        .map_err(|e| format!("parse: {e}"))?;
    let expr = match bind(&parsed) {
        Ok(expr) => expr,
        // A bind-time error (argument count, unknown function) is MySQL's error.
        Err(error) => return Ok((format!("ERROR {}", error.code()), 0)),
    };
    let mut context = fixed_context();
    // The result type must be computable for every expression before evaluation.
    let _ = expr.result_type();
    let text = match expr.eval_output(&[], &mut context) {
        Ok(value) => match value.to_text() {
            None => "NULL".to_string(),
            Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        },
        Err(error) => format!("ERROR {}", error.code()),
    };
    Ok((text, context.warnings.total_count()))
}

// Every MariaDB-answered expression gives MariaDB's text or error code and raises a
// warning exactly when MariaDB does, except the listed known divergences, which
// must still differ (so the list stays true).
#[test]
fn expressions_match_mariadb() {
    let table = include_str!("data/mariadb_expressions.tsv");
    let mut failures = Vec::new();
    let mut passed = 0usize;
    let mut total = 0usize;
    for line in table.lines().filter(|l| !l.is_empty()) {
        let mut fields = line.split('\t');
        let (Some(sql), Some(expected), Some(expected_warnings)) =
            (fields.next(), fields.next(), fields.next())
        else {
            panic!("malformed table line: {line:?}");
        };
        total += 1;
        let (got, warnings) = evaluate(sql).unwrap_or_else(|e| (format!("BIND FAILED: {e}"), 0));
        // Compare whether warnings were raised, not how many: MariaDB sometimes warns twice.
        let warned = if warnings > 0 {
            "warning"
        } else {
            "no warning"
        };
        let expected_warned = if expected_warnings == "0" {
            "no warning"
        } else {
            "warning"
        };
        let (got, expected) = (
            format!("{got} ({warned})"),
            format!("{expected} ({expected_warned})"),
        );
        let known = KNOWN_DIVERGENCES.iter().find(|(e, _)| *e == sql);
        match (got == expected, known) {
            (true, None) => passed += 1,
            (false, Some(_)) => {}
            (true, Some(_)) => failures.push(format!(
                "{sql}: listed as divergent but now matches ({got})"
            )),
            (false, None) => failures.push(format!("{sql}: MariaDB {expected:?}, Floe {got:?}")),
        }
    }
    eprintln!(
        "{passed} of {total} expressions match MariaDB; {} known divergences",
        KNOWN_DIVERGENCES.len()
    );
    assert!(total >= 300, "table has only {total} expressions");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// Collation marker survives binding: literals are utf8mb4_0900_ai_ci strings.
#[test]
fn string_literals_carry_default_collation() {
    let parsed = Parser::new(&MySqlDialect {})
        .try_with_sql("'Ab'")
        .and_then(|mut p| p.parse_expr());
    let bound = parsed
        .map_err(|e| e.to_string())
        .and_then(|p| bind(&p).map_err(|e| e.to_string()));
    assert!(matches!(
        bound,
        Ok(Expr::Literal(Value::Bytes(_, Collation::Utf8mb4_0900AiCi)))
    ));
}
