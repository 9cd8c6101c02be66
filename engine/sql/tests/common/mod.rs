//! Test-only binder from sqlparser's AST to `floe_sql::Expr`, for constant
//! expressions (no columns). It shows the tree can be built from sqlparser's
//! AST; it is not the engine's binder (names, columns and subqueries are not here).
#![allow(dead_code)] // each test target uses a different part

use floe_sql::temporal::{parse_datetime, parse_time, Date};
use floe_sql::{
    Aggregate, AggregateFunction, ArithOp, CastTarget, CompareOp, EvalContext, Expr, Function,
    IntervalUnit, LogicOp, TrimSide, Value,
};
use sqlparser::ast::{self, BinaryOperator, DataType, DateTimeField, UnaryOperator};

fn unsupported(what: impl std::fmt::Debug) -> String {
    format!("test binder does not handle {what:?}")
}

fn bind_value(value: &ast::Value) -> Result<Value, String> {
    Ok(match value {
        ast::Value::Number(text, _) => {
            Value::parse_number_literal(text).ok_or_else(|| unsupported(text))?
        }
        ast::Value::SingleQuotedString(text) | ast::Value::DoubleQuotedString(text) => {
            Value::string(text)
        }
        ast::Value::Null => Value::Null,
        ast::Value::Boolean(truth) => Value::Int(i64::from(*truth)),
        other => return Err(unsupported(other)),
    })
}

fn literal_text(expr: &ast::Expr) -> Result<String, String> {
    match expr {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(text) => Ok(text.clone()),
            other => Err(unsupported(other)),
        },
        other => Err(unsupported(other)),
    }
}

fn unit_of(field: &DateTimeField) -> Result<IntervalUnit, String> {
    Ok(match field {
        DateTimeField::Microsecond | DateTimeField::Microseconds => IntervalUnit::Microsecond,
        DateTimeField::Second | DateTimeField::Seconds => IntervalUnit::Second,
        DateTimeField::Minute | DateTimeField::Minutes => IntervalUnit::Minute,
        DateTimeField::Hour | DateTimeField::Hours => IntervalUnit::Hour,
        DateTimeField::Day | DateTimeField::Days => IntervalUnit::Day,
        DateTimeField::Week(_) | DateTimeField::Weeks => IntervalUnit::Week,
        DateTimeField::Month | DateTimeField::Months => IntervalUnit::Month,
        DateTimeField::Quarter => IntervalUnit::Quarter,
        DateTimeField::Year | DateTimeField::Years => IntervalUnit::Year,
        other => return Err(unsupported(other)),
    })
}

fn bind_interval(expr: &ast::Expr) -> Result<(Expr, IntervalUnit), String> {
    match expr {
        ast::Expr::Interval(interval) => {
            let field = interval
                .leading_field
                .as_ref()
                .ok_or_else(|| unsupported("interval without unit"))?;
            Ok((bind(&interval.value)?, unit_of(field)?))
        }
        other => Err(unsupported(other)),
    }
}

fn fsp_of(precision: &Option<u64>) -> u8 {
    precision.and_then(|p| u8::try_from(p).ok()).unwrap_or(0)
}

fn cast_target(data_type: &DataType) -> Result<CastTarget, String> {
    Ok(match data_type {
        DataType::Signed | DataType::SignedInteger => CastTarget::Signed,
        DataType::Unsigned | DataType::UnsignedInteger => CastTarget::Unsigned,
        DataType::Decimal(info) | DataType::Numeric(info) => {
            let (precision, scale) = match info {
                ast::ExactNumberInfo::None => (10, 0),
                ast::ExactNumberInfo::Precision(p) => (*p, 0),
                ast::ExactNumberInfo::PrecisionAndScale(p, s) => {
                    (*p, u64::try_from(*s).map_err(|_| unsupported(s))?)
                }
            };
            CastTarget::Decimal {
                precision: u8::try_from(precision).map_err(|_| unsupported(precision))?,
                scale: u8::try_from(scale).map_err(|_| unsupported(scale))?,
            }
        }
        DataType::Double(_) | DataType::DoublePrecision | DataType::Real => CastTarget::Double,
        DataType::Char(length) | DataType::Character(length) => CastTarget::Char {
            length_chars: match length {
                Some(ast::CharacterLength::IntegerLength { length, .. }) => {
                    u32::try_from(*length).ok()
                }
                _ => None,
            },
        },
        DataType::Binary(length) => CastTarget::Binary {
            length_bytes: length.and_then(|l| u32::try_from(l).ok()),
        },
        DataType::Date => CastTarget::Date,
        DataType::Datetime(precision) | DataType::Timestamp(precision, _) => CastTarget::DateTime {
            fsp: fsp_of(precision),
        },
        DataType::Time(precision, _) => CastTarget::Time {
            fsp: fsp_of(precision),
        },
        other => return Err(unsupported(other)),
    })
}

fn function_of(name: &str) -> Option<Function> {
    Some(match name {
        "abs" => Function::Abs,
        "round" => Function::Round,
        "truncate" => Function::Truncate,
        "mod" => Function::Mod,
        "length" => Function::Length,
        "char_length" | "character_length" => Function::CharLength,
        "concat" => Function::Concat,
        "concat_ws" => Function::ConcatWs,
        "upper" | "ucase" => Function::Upper,
        "lower" | "lcase" => Function::Lower,
        "ltrim" => Function::LTrim,
        "rtrim" => Function::RTrim,
        "replace" => Function::Replace,
        "left" => Function::Left,
        "right" => Function::Right,
        "locate" => Function::Locate,
        "instr" => Function::Instr,
        "now" | "current_timestamp" => Function::Now,
        "curdate" | "current_date" => Function::CurDate,
        "datediff" => Function::DateDiff,
        "year" => Function::Year,
        "month" => Function::Month,
        "day" | "dayofmonth" => Function::Day,
        "coalesce" => Function::Coalesce,
        "ifnull" => Function::IfNull,
        "nullif" => Function::NullIf,
        "if" => Function::If,
        "substring" | "substr" => Function::Substring,
        "ceil" | "ceiling" => Function::Ceil,
        "floor" => Function::Floor,
        _ => return None,
    })
}

fn bind_function(function: &ast::Function) -> Result<Expr, String> {
    let name = function.name.to_string().to_ascii_lowercase();
    let args: Vec<&ast::Expr> = match &function.args {
        ast::FunctionArguments::None => Vec::new(),
        ast::FunctionArguments::List(list) => list
            .args
            .iter()
            .map(|arg| match arg {
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => Ok(Some(e)),
                // COUNT(*): the aggregate binder looks at the call itself.
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Wildcard) => Ok(None),
                other => Err(unsupported(other)),
            })
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect(),
        other => return Err(unsupported(other)),
    };
    if name == "date_add" || name == "date_sub" || name == "adddate" || name == "subdate" {
        let [date, interval] = args.as_slice() else {
            return Err(unsupported(&name));
        };
        let (interval, unit) = bind_interval(interval)?;
        return Ok(Expr::DateArith {
            date: Box::new(bind(date)?),
            interval: Box::new(interval),
            unit,
            subtract: name.ends_with("sub"),
        });
    }
    if let Some(aggregate) = aggregate_of(&name) {
        return bind_constant_aggregate(aggregate, function, &args);
    }
    let function = function_of(&name).ok_or_else(|| unsupported(&name))?;
    let args = args.into_iter().map(bind).collect::<Result<Vec<_>, _>>()?;
    Expr::function(function, args).map_err(|e| e.to_string())
}

fn boxed(expr: &ast::Expr) -> Result<Box<Expr>, String> {
    bind(expr).map(Box::new)
}

/// Test-only binder from sqlparser's AST to `Expr`, for constant expressions.
pub fn bind(expr: &ast::Expr) -> Result<Expr, String> {
    Ok(match expr {
        ast::Expr::Value(v) => Expr::Literal(bind_value(&v.value)?),
        ast::Expr::Identifier(ident) if ident.value.eq_ignore_ascii_case("x") => {
            let column_type = AGGREGATE_ROWS.with(|rows| rows.borrow().as_ref().map(|(_, t)| *t));
            let sql_type =
                column_type.ok_or_else(|| unsupported("column x outside an aggregate table"))?;
            Expr::column(0, sql_type, true)
        }
        ast::Expr::Nested(inner) => bind(inner)?,
        ast::Expr::UnaryOp { op, expr } => match op {
            UnaryOperator::Minus => match bind(expr)? {
                // A negative numeric literal is one literal, as in MySQL's parser.
                Expr::Literal(Value::Int(v)) => Expr::Literal(Value::Int(-v)),
                Expr::Literal(Value::UInt(v)) if v == 1u64 << 63 => {
                    Expr::Literal(Value::Int(i64::MIN))
                }
                other => Expr::Negate(Box::new(other)),
            },
            UnaryOperator::Plus => bind(expr)?,
            UnaryOperator::Not => Expr::Not(boxed(expr)?),
            other => return Err(unsupported(other)),
        },
        ast::Expr::BinaryOp { left, op, right } => {
            if let ast::Expr::Interval(_) = right.as_ref() {
                let (interval, unit) = bind_interval(right)?;
                let subtract = match op {
                    BinaryOperator::Plus => false,
                    BinaryOperator::Minus => true,
                    other => return Err(unsupported(other)),
                };
                return Ok(Expr::DateArith {
                    date: boxed(left)?,
                    interval: Box::new(interval),
                    unit,
                    subtract,
                });
            }
            let (l, r) = (bind(left)?, bind(right)?);
            let arith = |op| Expr::arith(op, l.clone(), r.clone());
            let compare = |op| Expr::compare(op, l.clone(), r.clone());
            let logic = |op| Expr::logic(op, l.clone(), r.clone());
            match op {
                BinaryOperator::Plus => arith(ArithOp::Add),
                BinaryOperator::Minus => arith(ArithOp::Sub),
                BinaryOperator::Multiply => arith(ArithOp::Mul),
                BinaryOperator::Divide => arith(ArithOp::Div),
                BinaryOperator::MyIntegerDivide => arith(ArithOp::IntDiv),
                BinaryOperator::Modulo => arith(ArithOp::Mod),
                BinaryOperator::Eq => compare(CompareOp::Eq),
                BinaryOperator::Spaceship => compare(CompareOp::NullSafeEq),
                BinaryOperator::NotEq => compare(CompareOp::Ne),
                BinaryOperator::Lt => compare(CompareOp::Lt),
                BinaryOperator::LtEq => compare(CompareOp::Le),
                BinaryOperator::Gt => compare(CompareOp::Gt),
                BinaryOperator::GtEq => compare(CompareOp::Ge),
                BinaryOperator::And => logic(LogicOp::And),
                BinaryOperator::Or => logic(LogicOp::Or),
                BinaryOperator::Xor => logic(LogicOp::Xor),
                other => return Err(unsupported(other)),
            }
        }
        ast::Expr::IsNull(e) => Expr::IsNull {
            operand: boxed(e)?,
            negated: false,
        },
        ast::Expr::IsNotNull(e) => Expr::IsNull {
            operand: boxed(e)?,
            negated: true,
        },
        ast::Expr::IsTrue(e) => Expr::IsTruth {
            operand: boxed(e)?,
            truth: true,
            negated: false,
        },
        ast::Expr::IsNotTrue(e) => Expr::IsTruth {
            operand: boxed(e)?,
            truth: true,
            negated: true,
        },
        ast::Expr::IsFalse(e) => Expr::IsTruth {
            operand: boxed(e)?,
            truth: false,
            negated: false,
        },
        ast::Expr::IsNotFalse(e) => Expr::IsTruth {
            operand: boxed(e)?,
            truth: false,
            negated: true,
        },
        ast::Expr::Between {
            expr,
            negated,
            low,
            high,
        } => Expr::Between {
            operand: boxed(expr)?,
            low: boxed(low)?,
            high: boxed(high)?,
            negated: *negated,
        },
        ast::Expr::In {
            expr,
            target: ast::InTarget::List(list),
            negated,
            ..
        } => Expr::InList {
            operand: boxed(expr)?,
            list: list.iter().map(bind).collect::<Result<_, _>>()?,
            negated: *negated,
        },
        ast::Expr::Like {
            negated,
            any: false,
            expr,
            pattern,
            escape_char,
        } => {
            let escape = match escape_char {
                Some(e) => literal_text(e)?.chars().next(),
                None => None,
            };
            Expr::Like {
                operand: boxed(expr)?,
                pattern: boxed(pattern)?,
                escape,
                negated: *negated,
            }
        }
        ast::Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => Expr::Case {
            operand: operand.as_deref().map(boxed).transpose()?,
            branches: conditions
                .iter()
                .map(|w| Ok((bind(&w.condition)?, bind(&w.result)?)))
                .collect::<Result<_, String>>()?,
            otherwise: else_result.as_deref().map(boxed).transpose()?,
        },
        ast::Expr::Cast {
            expr, data_type, ..
        } => Expr::Cast {
            operand: boxed(expr)?,
            target: cast_target(data_type)?,
        },
        ast::Expr::Ceil { expr, .. } => {
            Expr::function(Function::Ceil, vec![bind(expr)?]).map_err(|e| e.to_string())?
        }
        ast::Expr::Floor { expr, .. } => {
            Expr::function(Function::Floor, vec![bind(expr)?]).map_err(|e| e.to_string())?
        }
        ast::Expr::Substring {
            expr,
            substring_from,
            substring_for,
            ..
        } => {
            let mut args = vec![bind(expr)?];
            if let Some(from) = substring_from {
                args.push(bind(from)?);
            }
            if let Some(length) = substring_for {
                args.push(bind(length)?);
            }
            Expr::function(Function::Substring, args).map_err(|e| e.to_string())?
        }
        ast::Expr::Trim {
            expr,
            trim_where,
            trim_what,
            ..
        } => {
            let side = match trim_where {
                Some(ast::TrimWhereField::Leading) => TrimSide::Leading,
                Some(ast::TrimWhereField::Trailing) => TrimSide::Trailing,
                _ => TrimSide::Both,
            };
            let mut args = vec![bind(expr)?];
            if let Some(what) = trim_what {
                args.push(bind(what)?);
            }
            Expr::function(Function::Trim(side), args).map_err(|e| e.to_string())?
        }
        ast::Expr::TypedString(typed) => {
            let text = match &typed.value.value {
                ast::Value::SingleQuotedString(text) => text.clone(),
                other => return Err(unsupported(other)),
            };
            let bad = || unsupported(&text);
            Expr::Literal(match typed.data_type {
                DataType::Date => {
                    let (datetime, _) = parse_datetime(&text).ok_or_else(bad)?;
                    Value::Date(datetime.date())
                }
                DataType::Timestamp(..) | DataType::Datetime(_) => {
                    Value::DateTime(parse_datetime(&text).ok_or_else(bad)?.0)
                }
                DataType::Time(..) => Value::Time(parse_time(&text).ok_or_else(bad)?),
                ref other => return Err(unsupported(other)),
            })
        }
        ast::Expr::Function(function) => bind_function(function)?,
        other => return Err(unsupported(other)),
    })
}

/// The text result (or "ERROR n") and the number of warnings raised.
fn aggregate_of(name: &str) -> Option<AggregateFunction> {
    Some(match name {
        "count" => AggregateFunction::Count,
        "sum" => AggregateFunction::Sum,
        "avg" => AggregateFunction::Avg,
        "min" => AggregateFunction::Min,
        "max" => AggregateFunction::Max,
        _ => return None,
    })
}

/// An aggregate in a SELECT without FROM runs over one row: bind it by running
/// the accumulator over the constant argument now.
fn bind_constant_aggregate(
    function: AggregateFunction,
    call: &ast::Function,
    args: &[&ast::Expr],
) -> Result<Expr, String> {
    let distinct = matches!(
        &call.args,
        ast::FunctionArguments::List(list) if list.duplicate_treatment == Some(ast::DuplicateTreatment::Distinct)
    );
    let star = matches!(
        &call.args,
        ast::FunctionArguments::List(list)
            if matches!(list.args.as_slice(), [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Wildcard)])
    );
    let mut context = fixed_context();
    let rows = AGGREGATE_ROWS.with(|rows| rows.borrow().clone());
    // Without a table, the aggregate runs over one empty row.
    let (rows, _) = rows.unwrap_or((vec![Value::Null], floe_sql::SqlType::Null));
    let (function, argument) = if star {
        (AggregateFunction::CountStar, None)
    } else {
        let [arg] = args else {
            return Err(unsupported(call));
        };
        (function, Some(bind(arg)?))
    };
    let argument_type = argument
        .as_ref()
        .map(Expr::result_type)
        .unwrap_or(floe_sql::SqlType::BIGINT);
    let aggregate = Aggregate::new(function, distinct, argument_type);
    let mut accumulator = aggregate.accumulator();
    for row in &rows {
        let value = match &argument {
            Some(expr) => expr
                .eval_output(std::slice::from_ref(row), &mut context)
                .map_err(|e| format!("ERROR {}", e.code()))?,
            None => Value::Null,
        };
        accumulator
            .update(&value, &mut context.warnings)
            .map_err(|e| format!("ERROR {}", e.code()))?;
    }
    let value = accumulator
        .finish(4)
        .map_err(|e| format!("ERROR {}", e.code()))?;
    // Warnings raised while aggregating are reported through a counter the caller reads.
    AGGREGATE_WARNINGS.with(|count| *count.borrow_mut() += context.warnings.total_count());
    Ok(Expr::Literal(value))
}

thread_local! {
    /// Rows of a one-column table `x` that aggregates run over, with the column's type
    /// (test-only plumbing; None means a SELECT without FROM).
    pub static AGGREGATE_ROWS: std::cell::RefCell<Option<(Vec<Value>, floe_sql::SqlType)>> =
        const { std::cell::RefCell::new(None) };
    /// Warnings raised inside aggregates since the last reset.
    pub static AGGREGATE_WARNINGS: std::cell::RefCell<u64> = const { std::cell::RefCell::new(0) };
}

/// The context every test evaluation uses: a fixed clock, default settings.
pub fn fixed_context() -> EvalContext {
    let now = Date::new(2024, 6, 1).map(floe_sql::temporal::DateTime::from_date);
    EvalContext::new(now.unwrap_or_else(|| panic!("2024-06-01 is a date")))
}
