//! Runs the constant SELECTs (no FROM, one column, no hash blocks) of sqllogictest
//! files through the test binder and the evaluator, and compares with the files'
//! MySQL 8 answers. A tool for finding semantic gaps, not a test:
//!   cargo run --release -p floe-sql --example slt_constant_selects -- FILE...
//! Prints each mismatch and a pass count per file.

#[path = "../tests/common/mod.rs"]
mod common;

use floe_sql::Value;
use sqlparser::ast::{SelectItem, SetExpr, Statement};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

/// The projected expressions of `SELECT [ALL|DISTINCT] expr [AS alias], ...` without FROM.
fn constant_select(sql: &str) -> Option<Vec<sqlparser::ast::Expr>> {
    let statements = Parser::new(&MySqlDialect {})
        .try_with_sql(sql)
        .ok()?
        .parse_statements()
        .ok()?;
    let [Statement::Query(query)] = statements.as_slice() else {
        return None;
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    if !select.from.is_empty() || select.selection.is_some() {
        return None;
    }
    select
        .projection
        .iter()
        .map(|item| match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                Some(e.clone())
            }
            _ => None,
        })
        .collect()
}

/// sqllogictest's text for a value under a type letter.
fn format(value: &Value, letter: char) -> String {
    let text = match value.to_text() {
        None => return "NULL".into(),
        Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
    };
    match letter {
        'R' => {
            let mut ignored = floe_sql::Warnings::default();
            format!("{:.3}", value.to_f64(&mut ignored).unwrap_or(0.0))
        }
        'I' => match value {
            Value::Double(_) | Value::Decimal(_) => {
                let mut ignored = floe_sql::Warnings::default();
                format!("{}", value.to_i128(&mut ignored).unwrap_or(0))
            }
            Value::Bytes(..) => {
                let mut ignored = floe_sql::Warnings::default();
                format!("{}", value.to_f64(&mut ignored).unwrap_or(0.0) as i64)
            }
            _ => text,
        },
        _ if text.is_empty() => "(empty)".into(),
        _ => text,
    }
}

fn main() {
    let (mut total, mut passed) = (0usize, 0usize);
    for path in std::env::args().skip(1) {
        let Ok(content) = std::fs::read_to_string(&path) else {
            eprintln!("cannot read {path}");
            continue;
        };
        let (mut file_total, mut file_passed) = (0usize, 0usize);
        for record in content.split("\n\n") {
            let lines: Vec<&str> = record.lines().filter(|l| !l.starts_with('#')).collect();
            if lines.iter().any(|l| l.starts_with("skipif mysql"))
                || lines
                    .iter()
                    .any(|l| l.starts_with("onlyif") && !l.starts_with("onlyif mysql"))
            {
                continue;
            }
            let Some(header_at) = lines.iter().position(|l| l.starts_with("query ")) else {
                continue;
            };
            let Some(separator_at) = lines.iter().position(|l| *l == "----") else {
                continue;
            };
            let letters: Vec<char> = lines[header_at]
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .chars()
                .collect();
            if separator_at + 1 + letters.len() != lines.len() {
                continue;
            }
            let sql = lines[header_at + 1..separator_at].join(" ");
            let expected = lines[separator_at + 1..].join("\n");
            if expected.contains("hashing to") {
                continue;
            }
            let Some(columns) = constant_select(&sql) else {
                continue;
            };
            if columns.len() != letters.len() {
                continue;
            }
            file_total += 1;
            let mut context = common::fixed_context();
            let mut got_columns = Vec::new();
            for (ast, letter) in columns.iter().zip(&letters) {
                got_columns.push(match common::bind(ast) {
                    Ok(expr) => match expr.eval_output(&[], &mut context) {
                        Ok(value) => format(&value, *letter),
                        Err(error) => format!("ERROR {}", error.code()),
                    },
                    Err(reason) => format!("BIND: {reason}"),
                });
            }
            let got = got_columns.join("\n");
            if got == expected {
                file_passed += 1;
            } else {
                println!("{path}: {sql}\n  MySQL {expected:?}  Floe {got:?}");
            }
        }
        println!("{path}: {file_passed} of {file_total} constant selects match");
        total += file_total;
        passed += file_passed;
    }
    println!("total: {passed} of {total}");
}
