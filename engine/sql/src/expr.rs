//! Expression trees and their evaluation against a row. A binder builds an
//! `Expr` from sqlparser's AST (columns already resolved to row indexes,
//! literals already typed with `Value::parse_number_literal`); `result_type`
//! gives each expression's SQL type before any row is read, so the server can
//! send column definitions first; `eval` computes one value per row.
//! Evaluation allocates for strings and recomputes operand types where it
//! needs them (CASE, IF and COALESCE coerce to their result type per row); a
//! later pass may cache those per node. Comparisons choose their rule from the
//! runtime values, whose classes match their static types.

use std::cmp::Ordering;
use std::fmt;

use crate::arith::{self, ArithOp, ArithSettings};
use crate::collation::Collation;
use crate::error::{Error, Result, Warnings};
use crate::func;
use crate::temporal::DateTime;
use crate::types::{IntWidth, SqlType, TypeClass};
use crate::value::{compare_as_values, compare_values, CompareAs, Value};

/// What evaluation needs from the session: time, settings, a place for warnings.
/// The clock is read once per statement by the caller; nothing here reads it.
#[derive(Debug, Clone)]
pub struct EvalContext {
    /// The statement's start time in the session time zone (NOW(), CURDATE()).
    pub now: DateTime,
    /// The session time zone's offset from UTC, in seconds (UNIX_TIMESTAMP,
    /// FROM_UNIXTIME, CONVERT_TZ with 'SYSTEM' is not it: SYSTEM is UTC).
    pub time_zone_offset_s: i64,
    pub arith: ArithSettings,
    pub warnings: Warnings,
}

impl EvalContext {
    pub fn new(now: DateTime) -> EvalContext {
        EvalContext {
            now,
            time_zone_offset_s: 0,
            arith: ArithSettings {
                div_precision_increment: 4,
                division_by_zero_is_error: false,
            },
            warnings: Warnings::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    /// `<=>`: NULL-safe equality, never NULL.
    NullSafeEq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CompareOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::NullSafeEq => "<=>",
            CompareOp::Ne => "<>",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }

    fn holds(self, ordering: Ordering) -> bool {
        match self {
            CompareOp::Eq | CompareOp::NullSafeEq => ordering == Ordering::Equal,
            CompareOp::Ne => ordering != Ordering::Equal,
            CompareOp::Lt => ordering == Ordering::Less,
            CompareOp::Le => ordering != Ordering::Greater,
            CompareOp::Gt => ordering == Ordering::Greater,
            CompareOp::Ge => ordering != Ordering::Less,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogicOp {
    And,
    Or,
    Xor,
}

/// Target of CAST(... AS ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CastTarget {
    Signed,
    Unsigned,
    /// DECIMAL(p,s); MySQL's default is DECIMAL(10,0).
    Decimal {
        precision: u8,
        scale: u8,
    },
    Double,
    /// CHAR or CHAR(n): a string in the default collation, cut to n characters.
    Char {
        length_chars: Option<u32>,
    },
    /// BINARY or BINARY(n): bytes.
    Binary {
        length_bytes: Option<u32>,
    },
    Date,
    DateTime {
        fsp: u8,
    },
    Time {
        fsp: u8,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntervalUnit {
    Microsecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl IntervalUnit {
    /// Units of a day or more keep a DATE a DATE.
    pub fn is_date_part(self) -> bool {
        matches!(
            self,
            IntervalUnit::Day
                | IntervalUnit::Week
                | IntervalUnit::Month
                | IntervalUnit::Quarter
                | IntervalUnit::Year
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrimSide {
    Both,
    Leading,
    Trailing,
}

/// Scalar functions. Arity is checked by `Expr::function` and again at evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Abs,
    Ceil,
    Floor,
    /// ROUND(x) or ROUND(x, d)
    Round,
    /// TRUNCATE(x, d)
    Truncate,
    /// MOD(a, b)
    Mod,
    Length,
    CharLength,
    Concat,
    /// CONCAT_WS(separator, ...)
    ConcatWs,
    Upper,
    Lower,
    /// SUBSTRING(s, pos) / SUBSTRING(s, pos, len)
    Substring,
    /// TRIM([side] [remove FROM] s): args are (s) or (s, remove).
    Trim(TrimSide),
    LTrim,
    RTrim,
    Replace,
    Left,
    Right,
    /// LOCATE(substr, str[, pos])
    Locate,
    /// INSTR(str, substr)
    Instr,
    /// NOW([fsp]), CURRENT_TIMESTAMP
    Now,
    /// CURDATE(), CURRENT_DATE
    CurDate,
    /// CURTIME([fsp]), CURRENT_TIME
    CurTime,
    /// SYSDATE([fsp]): the statement's start, as NOW (MySQL reads the clock
    /// at each call).
    SysDate,
    /// UNIX_TIMESTAMP([datetime]): seconds since the epoch; a datetime is
    /// read in the session time zone.
    UnixTimestamp,
    /// FROM_UNIXTIME(seconds): a DATETIME in the session time zone.
    FromUnixtime,
    /// CONVERT_TZ(datetime, from_zone, to_zone), zones as `time_zone`.
    ConvertTz,
    DateDiff,
    Year,
    Month,
    Day,
    Coalesce,
    IfNull,
    NullIf,
    If,
    /// The functions of `crate::builtins`.
    Builtin(crate::builtins::Builtin),
}

impl Function {
    pub fn name(self) -> &'static str {
        match self {
            Function::Abs => "abs",
            Function::Ceil => "ceiling",
            Function::Floor => "floor",
            Function::Round => "round",
            Function::Truncate => "truncate",
            Function::Mod => "mod",
            Function::Length => "length",
            Function::CharLength => "char_length",
            Function::Concat => "concat",
            Function::ConcatWs => "concat_ws",
            Function::Upper => "upper",
            Function::Lower => "lower",
            Function::Substring => "substring",
            Function::Trim(_) => "trim",
            Function::LTrim => "ltrim",
            Function::RTrim => "rtrim",
            Function::Replace => "replace",
            Function::Left => "left",
            Function::Right => "right",
            Function::Locate => "locate",
            Function::Instr => "instr",
            Function::Now => "now",
            Function::CurDate => "curdate",
            Function::CurTime => "curtime",
            Function::SysDate => "sysdate",
            Function::UnixTimestamp => "unix_timestamp",
            Function::FromUnixtime => "from_unixtime",
            Function::ConvertTz => "convert_tz",
            Function::DateDiff => "datediff",
            Function::Year => "year",
            Function::Month => "month",
            Function::Day => "dayofmonth",
            Function::Coalesce => "coalesce",
            Function::IfNull => "ifnull",
            Function::NullIf => "nullif",
            Function::If => "if",
            Function::Builtin(b) => b.name(),
        }
    }

    /// Allowed argument counts (inclusive); `usize::MAX` means unbounded.
    pub fn arity(self) -> (usize, usize) {
        match self {
            Function::Abs | Function::Ceil | Function::Floor => (1, 1),
            Function::Round => (1, 2),
            Function::Truncate | Function::Mod => (2, 2),
            Function::Length | Function::CharLength | Function::Upper | Function::Lower => (1, 1),
            Function::Concat => (1, usize::MAX),
            Function::ConcatWs => (2, usize::MAX),
            Function::Substring => (2, 3),
            Function::Trim(_) => (1, 2),
            Function::LTrim | Function::RTrim => (1, 1),
            Function::Replace => (3, 3),
            Function::Left | Function::Right | Function::Instr => (2, 2),
            Function::Locate => (2, 3),
            Function::Now => (0, 1),
            Function::CurDate => (0, 0),
            Function::CurTime | Function::SysDate | Function::UnixTimestamp => (0, 1),
            Function::FromUnixtime => (1, 1),
            Function::ConvertTz => (3, 3),
            Function::DateDiff => (2, 2),
            Function::Year | Function::Month | Function::Day => (1, 1),
            Function::Coalesce => (1, usize::MAX),
            Function::IfNull | Function::NullIf => (2, 2),
            Function::If => (3, 3),
            Function::Builtin(b) => b.arity(),
        }
    }
}

/// What a subquery in an expression is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubqueryKind {
    /// `(SELECT ...)`: its one value, NULL without rows.
    Scalar,
    /// `EXISTS (SELECT ...)`
    Exists,
    /// `operand [NOT] IN (SELECT ...)`
    In { negated: bool },
}

/// A bound subquery, planned by the session's executor; expression
/// evaluation never runs it: the executor replaces `Expr::Subquery` by
/// its result (once when uncorrelated, per outer row when correlated)
/// with `Expr::resolve_subqueries` before evaluating.
pub trait SubqueryPlan: fmt::Debug + Send + Sync {
    /// The type of the first (for a scalar subquery, only) column.
    fn result_type(&self) -> SqlType;
    /// The indexes of the outer queries' columns it reads (outer columns
    /// come first in its rows), sorted.
    fn outer_references(&self) -> &[usize];
    /// Whether it reads columns of the queries it is nested in.
    fn correlated(&self) -> bool {
        !self.outer_references().is_empty()
    }
    fn as_any(&self) -> &dyn std::any::Any;
}

/// What `Expr::resolve_subqueries` calls to run one subquery.
pub type SubqueryRunner<'a, E> = dyn FnMut(
        &std::sync::Arc<dyn SubqueryPlan>,
        SubqueryKind,
        Option<Expr>,
    ) -> std::result::Result<Expr, E>
    + 'a;

/// An expression over one row.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A subquery; see `SubqueryPlan`. Evaluating it unresolved is an
    /// internal error.
    Subquery {
        plan: std::sync::Arc<dyn SubqueryPlan>,
        kind: SubqueryKind,
        operand: Option<Box<Expr>>,
    },
    /// The row's value at `index`, of a column with this type.
    Column {
        index: usize,
        sql_type: SqlType,
        nullable: bool,
    },
    Literal(Value),
    /// Unary minus.
    Negate(Box<Expr>),
    Not(Box<Expr>),
    Arith {
        op: ArithOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    Compare {
        op: CompareOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    Logic {
        op: LogicOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    IsNull {
        operand: Box<Expr>,
        negated: bool,
    },
    /// IS [NOT] TRUE / IS [NOT] FALSE
    IsTruth {
        operand: Box<Expr>,
        truth: bool,
        negated: bool,
    },
    Between {
        operand: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    InList {
        operand: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    /// `escape` is one character; None means the default backslash.
    Like {
        operand: Box<Expr>,
        pattern: Box<Expr>,
        escape: Option<char>,
        negated: bool,
    },
    /// CASE [operand] WHEN .. THEN .. [ELSE ..] END
    Case {
        operand: Option<Box<Expr>>,
        branches: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
    },
    Cast {
        operand: Box<Expr>,
        target: CastTarget,
    },
    /// DATE_ADD / DATE_SUB (and `date + INTERVAL n unit`).
    DateArith {
        date: Box<Expr>,
        interval: Box<Expr>,
        unit: IntervalUnit,
        subtract: bool,
    },
    Function {
        function: Function,
        args: Vec<Expr>,
    },
}

fn int_type(unsigned: bool) -> SqlType {
    SqlType::Int {
        width: IntWidth::Big,
        unsigned,
    }
}

/// Precision and scale an operand brings to exact arithmetic.
fn exact_shape(sql_type: &SqlType) -> (u32, u32) {
    match sql_type {
        SqlType::Decimal { precision, scale } => (u32::from(*precision), u32::from(*scale)),
        // Digits of the type's range (INT: 10, BIGINT: 19, BIGINT UNSIGNED: 20).
        SqlType::Int { unsigned, .. } => {
            let length = sql_type.display_length();
            (if *unsigned { length } else { length - 1 }, 0)
        }
        SqlType::DateTime { fsp } | SqlType::Timestamp { fsp } => {
            (14 + u32::from(*fsp), u32::from(*fsp))
        }
        SqlType::Time { fsp } => (7 + u32::from(*fsp), u32::from(*fsp)),
        SqlType::Date => (8, 0),
        _ => (20, 0),
    }
}

/// The class arithmetic runs in for an operand type (temporals as numbers).
fn arith_class(sql_type: &SqlType) -> TypeClass {
    match sql_type {
        SqlType::Date => TypeClass::Int,
        SqlType::DateTime { fsp: 0 } | SqlType::Timestamp { fsp: 0 } | SqlType::Time { fsp: 0 } => {
            TypeClass::Int
        }
        SqlType::DateTime { .. } | SqlType::Timestamp { .. } | SqlType::Time { .. } => {
            TypeClass::Decimal
        }
        other => other.class(),
    }
}

fn arith_type(op: ArithOp, left: &SqlType, right: &SqlType, div_increment: u32) -> SqlType {
    let (lc, rc) = (arith_class(left), arith_class(right));
    let any = |class: TypeClass| lc == class || rc == class;
    if any(TypeClass::Double)
        || any(TypeClass::String)
        || (lc == TypeClass::Null && rc == TypeClass::Null)
    {
        return if op == ArithOp::IntDiv {
            SqlType::BIGINT
        } else {
            SqlType::Double
        };
    }
    let unsigned = left.is_unsigned() || right.is_unsigned();
    if op == ArithOp::IntDiv {
        return int_type(unsigned);
    }
    let (p1, s1) = exact_shape(left);
    let (p2, s2) = exact_shape(right);
    if op == ArithOp::Div {
        return SqlType::decimal_clamped(p1 + s2 + div_increment, s1 + div_increment);
    }
    if !any(TypeClass::Decimal) {
        return int_type(if op == ArithOp::Mod {
            left.is_unsigned()
        } else {
            unsigned
        });
    }
    match op {
        ArithOp::Mul => SqlType::decimal_clamped(p1 + p2, s1 + s2),
        _ => {
            let scale = s1.max(s2);
            SqlType::decimal_clamped((p1 - s1.min(p1)).max(p2 - s2.min(p2)) + scale + 1, scale)
        }
    }
}

/// MySQL's type for a set of result branches (CASE, IF, COALESCE, IFNULL).
pub fn aggregate_types(types: &[SqlType]) -> SqlType {
    let present: Vec<&SqlType> = types
        .iter()
        .filter(|t| t.class() != TypeClass::Null)
        .collect();
    let Some(first) = present.first() else {
        return SqlType::Null;
    };
    let all = |class: TypeClass| present.iter().all(|t| t.class() == class);
    let any = |class: TypeClass| present.iter().any(|t| t.class() == class);
    if all(TypeClass::Int) {
        let unsigned = present.iter().all(|t| t.is_unsigned());
        let signed = present.iter().all(|t| !t.is_unsigned());
        return if unsigned || signed {
            int_type(unsigned)
        } else {
            SqlType::decimal_clamped(20, 0)
        };
    }
    if all(TypeClass::Temporal) {
        return if present.iter().all(|t| *t == *first) {
            **first
        } else {
            let fsp = present.iter().map(|t| t.scale()).max().unwrap_or(0);
            SqlType::DateTime {
                fsp: u8::try_from(fsp).unwrap_or(6),
            }
        };
    }
    if any(TypeClass::String) || any(TypeClass::Temporal) {
        let binary = present
            .iter()
            .any(|t| t.collation() == Some(Collation::Binary));
        let length = present
            .iter()
            .map(|t| text_length_chars(t))
            .max()
            .unwrap_or(0);
        return if binary {
            SqlType::VarBinary {
                length_bytes: length,
            }
        } else {
            SqlType::varchar(length)
        };
    }
    if any(TypeClass::Double) {
        return SqlType::Double;
    }
    // Ints and decimals: enough integer digits for all, the largest scale.
    let scale = present.iter().map(|t| exact_shape(t).1).max().unwrap_or(0);
    let integer_digits = present.iter().map(|t| {
        let (p, s) = exact_shape(t);
        p.saturating_sub(s)
    });
    SqlType::decimal_clamped(integer_digits.max().unwrap_or(1) + scale, scale)
}

/// Characters needed to print a value of this type.
pub(crate) fn text_length_chars(sql_type: &SqlType) -> u32 {
    match sql_type {
        SqlType::Char { length_chars, .. } | SqlType::VarChar { length_chars, .. } => *length_chars,
        SqlType::Binary { length_bytes } | SqlType::VarBinary { length_bytes } => *length_bytes,
        SqlType::Text { .. } | SqlType::Blob => 65_535,
        other => other.display_length(),
    }
}

/// Converts a branch result to the aggregated type of its expression.
pub fn coerce(value: Value, target: &SqlType, warnings: &mut Warnings) -> Value {
    if value.is_null() {
        return value;
    }
    match target {
        SqlType::Int { unsigned, .. } => match value {
            Value::Int(_) | Value::UInt(_) => value,
            other => match other.to_i128(warnings) {
                Some(v) if *unsigned => u64::try_from(v).map(Value::UInt).unwrap_or(other),
                Some(v) => i64::try_from(v).map(Value::Int).unwrap_or(other),
                None => Value::Null,
            },
        },
        SqlType::Decimal { scale, .. } => match value
            .to_decimal(warnings)
            .and_then(|d| d.rescale(u32::from(*scale)))
        {
            Some(d) => Value::Decimal(d),
            None => value,
        },
        SqlType::Double | SqlType::Float => value
            .to_f64(warnings)
            .map(Value::Double)
            .unwrap_or(Value::Null),
        SqlType::VarChar { collation, .. } => match value {
            Value::Bytes(bytes, _) => Value::Bytes(bytes, *collation),
            other => Value::Bytes(other.to_text().unwrap_or_default(), *collation),
        },
        SqlType::VarBinary { .. } => {
            Value::Bytes(value.to_text().unwrap_or_default(), Collation::Binary)
        }
        SqlType::DateTime { fsp } => match value {
            Value::Date(d) => Value::DateTime(DateTime::from_date(d).with_fsp(*fsp)),
            Value::DateTime(d) => Value::DateTime(d.with_fsp(*fsp)),
            other => other,
        },
        _ => value,
    }
}

/// Brings an evaluated value to its expression's result type for output: DECIMAL
/// values computed with extra digits (quotients) are rounded to the type's scale.
/// Call once per output value with the type from `result_type`.
pub fn finalize(value: Value, result_type: &SqlType) -> Value {
    match (value, result_type) {
        (Value::Decimal(d), SqlType::Decimal { scale, .. }) if d.scale() != u32::from(*scale) => {
            match d.rescale(u32::from(*scale)) {
                Some(rounded) => Value::Decimal(rounded),
                None => Value::Decimal(d),
            }
        }
        (value, _) => value,
    }
}

/// Evaluates `expr` where MySQL reads a value at its type's scale (comparisons and
/// string contexts): a DECIMAL computed with extra digits is rounded first, so
/// 1/3 = 0.3333 holds while (1/3)*1.000 keeps the digits (checked against MariaDB).
pub(crate) fn eval_at_type_scale(
    expr: &Expr,
    row: &[Value],
    context: &mut EvalContext,
) -> Result<Value> {
    let value = expr.eval(row, context)?;
    if let Value::Decimal(_) = value {
        Ok(finalize(
            value,
            &expr.result_type_with(context.arith.div_precision_increment),
        ))
    } else {
        Ok(value)
    }
}

impl Expr {
    /// `eval` then `finalize`: the value as the client sees it. Computes the result
    /// type each call; executors should call `result_type` once and `finalize` per row.
    pub fn eval_output(&self, row: &[Value], context: &mut EvalContext) -> Result<Value> {
        let value = self.eval(row, context)?;
        Ok(finalize(
            value,
            &self.result_type_with(context.arith.div_precision_increment),
        ))
    }

    pub fn literal(value: Value) -> Expr {
        Expr::Literal(value)
    }

    pub fn column(index: usize, sql_type: SqlType, nullable: bool) -> Expr {
        Expr::Column {
            index,
            sql_type,
            nullable,
        }
    }

    pub fn arith(op: ArithOp, left: Expr, right: Expr) -> Expr {
        Expr::Arith {
            op,
            left: Box::new(left),
            right: Box::new(right),
        }
    }

    pub fn compare(op: CompareOp, left: Expr, right: Expr) -> Expr {
        Expr::Compare {
            op,
            left: Box::new(left),
            right: Box::new(right),
        }
    }

    pub fn logic(op: LogicOp, left: Expr, right: Expr) -> Expr {
        Expr::Logic {
            op,
            left: Box::new(left),
            right: Box::new(right),
        }
    }

    /// A function call, refusing a wrong argument count as MySQL does (1582).
    pub fn function(function: Function, args: Vec<Expr>) -> Result<Expr> {
        let (min, max) = function.arity();
        if args.len() < min || args.len() > max {
            return Err(Error::ArgumentCount {
                function: function.name(),
            });
        }
        Ok(Expr::Function { function, args })
    }

    /// The SQL type of this expression's results, known before any row.
    pub fn result_type(&self) -> SqlType {
        self.result_type_with(4)
    }

    /// `result_type` under a session's div_precision_increment.
    pub fn result_type_with(&self, div_increment: u32) -> SqlType {
        let ty = |e: &Expr| e.result_type_with(div_increment);
        match self {
            Expr::Column { sql_type, .. } => *sql_type,
            Expr::Subquery {
                kind: SubqueryKind::Scalar,
                plan,
                ..
            } => plan.result_type(),
            Expr::Subquery { .. } => SqlType::BIGINT,
            Expr::Literal(value) => value.literal_type(),
            Expr::Negate(operand) => match ty(operand) {
                SqlType::Int { .. } => SqlType::BIGINT,
                SqlType::Date | SqlType::DateTime { fsp: 0 } | SqlType::Time { fsp: 0 } => {
                    SqlType::BIGINT
                }
                t @ SqlType::Decimal { .. } => t,
                t if t.class() == TypeClass::Temporal => {
                    let (p, s) = exact_shape(&t);
                    SqlType::decimal_clamped(p, s)
                }
                _ => SqlType::Double,
            },
            Expr::Arith { op, left, right } => {
                arith_type(*op, &ty(left), &ty(right), div_increment)
            }
            Expr::Not(_)
            | Expr::Compare { .. }
            | Expr::Logic { .. }
            | Expr::IsNull { .. }
            | Expr::IsTruth { .. }
            | Expr::Between { .. }
            | Expr::InList { .. }
            | Expr::Like { .. } => SqlType::BIGINT,
            Expr::Case {
                branches,
                otherwise,
                ..
            } => {
                let mut types: Vec<SqlType> = branches.iter().map(|(_, then)| ty(then)).collect();
                if let Some(otherwise) = otherwise {
                    types.push(ty(otherwise));
                }
                aggregate_types(&types)
            }
            Expr::Cast { operand, target } => func::cast_type(target, &ty(operand)),
            Expr::DateArith { date, unit, .. } => match ty(date) {
                SqlType::Date if unit.is_date_part() => SqlType::Date,
                SqlType::Date => SqlType::DateTime {
                    fsp: u8::from(*unit == IntervalUnit::Microsecond) * 6,
                },
                SqlType::DateTime { fsp } | SqlType::Timestamp { fsp } => SqlType::DateTime {
                    fsp: if *unit == IntervalUnit::Microsecond {
                        6
                    } else {
                        fsp
                    },
                },
                _ => SqlType::varchar(29),
            },
            Expr::Function { function, args } => {
                let types: Vec<SqlType> = args.iter().map(ty).collect();
                func::function_type(*function, &types, args)
            }
        }
    }

    /// Whether the expression can be NULL (conservative: true when unsure).
    pub fn nullable(&self) -> bool {
        match self {
            Expr::Column { nullable, .. } => *nullable,
            Expr::Literal(value) => value.is_null(),
            Expr::IsNull { .. } | Expr::IsTruth { .. } => false,
            Expr::Compare {
                op: CompareOp::NullSafeEq,
                ..
            } => false,
            Expr::Negate(e) | Expr::Not(e) => e.nullable(),
            Expr::Compare { left, right, .. } => left.nullable() || right.nullable(),
            Expr::Arith {
                op: ArithOp::Add | ArithOp::Sub | ArithOp::Mul,
                left,
                right,
            } => left.nullable() || right.nullable(),
            Expr::Function {
                function: Function::Now | Function::CurDate | Function::CurTime | Function::SysDate,
                ..
            } => false,
            _ => true,
        }
    }

    /// Evaluates against `row`. Errors are MySQL's statement errors (overflow,
    /// strict division by zero); conversions that MySQL only warns about go to
    /// `context.warnings`.
    pub fn eval(&self, row: &[Value], context: &mut EvalContext) -> Result<Value> {
        match self {
            Expr::Subquery { .. } => Err(Error::UnresolvedSubquery),
            Expr::Column { index, .. } => row.get(*index).cloned().ok_or(Error::ColumnIndex {
                index: *index,
                row_columns: row.len(),
            }),
            Expr::Literal(value) => Ok(value.clone()),
            Expr::Negate(operand) => {
                let value = operand.eval(row, context)?;
                arith::negate(&value, &mut context.warnings)
            }
            Expr::Not(operand) => {
                let truth = operand.eval(row, context)?.truth(&mut context.warnings);
                Ok(Value::bool(truth.map(|t| !t)))
            }
            Expr::Arith { op, left, right } => {
                let left = left.eval(row, context)?;
                let right = right.eval(row, context)?;
                arith::arithmetic(*op, &left, &right, &context.arith, &mut context.warnings)
            }
            Expr::Compare { op, left, right } => {
                let left = eval_at_type_scale(left, row, context)?;
                let right = eval_at_type_scale(right, row, context)?;
                let how = compare_as_values(&left, &right);
                if *op == CompareOp::NullSafeEq {
                    return Ok(Value::bool(Some(match (left.is_null(), right.is_null()) {
                        (true, true) => true,
                        (true, false) | (false, true) => false,
                        _ => {
                            compare_values(&left, &right, how, &mut context.warnings)
                                == Some(Ordering::Equal)
                        }
                    })));
                }
                let ordering = compare_values(&left, &right, how, &mut context.warnings);
                Ok(Value::bool(ordering.map(|o| op.holds(o))))
            }
            Expr::Logic { op, left, right } => {
                let left = left.eval(row, context)?.truth(&mut context.warnings);
                // AND/OR stop early when the left side decides; MySQL does the same.
                match (op, left) {
                    (LogicOp::And, Some(false)) => return Ok(Value::Int(0)),
                    (LogicOp::Or, Some(true)) => return Ok(Value::Int(1)),
                    _ => {}
                }
                let right = right.eval(row, context)?.truth(&mut context.warnings);
                Ok(Value::bool(match op {
                    LogicOp::And => match (left, right) {
                        (_, Some(false)) => Some(false),
                        (Some(true), Some(true)) => Some(true),
                        _ => None,
                    },
                    LogicOp::Or => match (left, right) {
                        (_, Some(true)) => Some(true),
                        (Some(false), Some(false)) => Some(false),
                        _ => None,
                    },
                    LogicOp::Xor => match (left, right) {
                        (Some(a), Some(b)) => Some(a != b),
                        _ => None,
                    },
                }))
            }
            Expr::IsNull { operand, negated } => {
                let is_null = operand.eval(row, context)?.is_null();
                Ok(Value::bool(Some(is_null != *negated)))
            }
            Expr::IsTruth {
                operand,
                truth,
                negated,
            } => {
                let value = operand.eval(row, context)?.truth(&mut context.warnings);
                Ok(Value::bool(Some((value == Some(*truth)) != *negated)))
            }
            Expr::Between {
                operand,
                low,
                high,
                negated,
            } => {
                // BETWEEN and CASE read every digit of a quotient (MariaDB: 1/3 BETWEEN
                // 0.3333 AND 0.3333 is 0), while = and IN read it at its type's scale.
                let value = operand.eval(row, context)?;
                let low = low.eval(row, context)?;
                let high = high.eval(row, context)?;
                let how_low = compare_as_values(&value, &low);
                let how_high = compare_as_values(&value, &high);
                let above_low = compare_values(&value, &low, how_low, &mut context.warnings)
                    .map(|o| o != Ordering::Less);
                let below_high = compare_values(&value, &high, how_high, &mut context.warnings)
                    .map(|o| o != Ordering::Greater);
                let inside = match (above_low, below_high) {
                    (Some(false), _) | (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                };
                Ok(Value::bool(inside.map(|i| i != *negated)))
            }
            Expr::InList {
                operand,
                list,
                negated,
            } => {
                let value = eval_at_type_scale(operand, row, context)?;
                if value.is_null() {
                    return Ok(Value::Null);
                }
                let mut saw_null = false;
                for item in list {
                    let candidate = eval_at_type_scale(item, row, context)?;
                    let how = compare_as_values(&value, &candidate);
                    match compare_values(&value, &candidate, how, &mut context.warnings) {
                        Some(Ordering::Equal) => return Ok(Value::bool(Some(!*negated))),
                        Some(_) => {}
                        None => saw_null = true,
                    }
                }
                Ok(if saw_null {
                    Value::Null
                } else {
                    Value::bool(Some(*negated))
                })
            }
            Expr::Like {
                operand,
                pattern,
                escape,
                negated,
            } => {
                let value = eval_at_type_scale(operand, row, context)?;
                let pattern = eval_at_type_scale(pattern, row, context)?;
                let matched = func::like(&value, &pattern, escape.unwrap_or('\\'));
                Ok(Value::bool(matched.map(|m| m != *negated)))
            }
            Expr::Case {
                operand,
                branches,
                otherwise,
            } => {
                let subject = match operand {
                    Some(operand) => Some(operand.eval(row, context)?),
                    None => None,
                };
                for (when, then) in branches {
                    let hit = match &subject {
                        Some(value) => {
                            let candidate = when.eval(row, context)?;
                            let how = compare_as_values(value, &candidate);
                            compare_values(value, &candidate, how, &mut context.warnings)
                                == Some(Ordering::Equal)
                        }
                        None => when.eval(row, context)?.truth(&mut context.warnings) == Some(true),
                    };
                    if hit {
                        let value = then.eval(row, context)?;
                        return Ok(coerce(value, &self.result_type(), &mut context.warnings));
                    }
                }
                match otherwise {
                    Some(otherwise) => {
                        let value = otherwise.eval(row, context)?;
                        Ok(coerce(value, &self.result_type(), &mut context.warnings))
                    }
                    None => Ok(Value::Null),
                }
            }
            Expr::Cast { operand, target } => {
                let value = match target {
                    // A string form is read at the type's scale: CAST(1/3 AS CHAR) is 0.3333.
                    CastTarget::Char { .. } | CastTarget::Binary { .. } => {
                        eval_at_type_scale(operand, row, context)?
                    }
                    _ => operand.eval(row, context)?,
                };
                func::cast(&value, target, &mut context.warnings)
            }
            Expr::DateArith {
                date,
                interval,
                unit,
                subtract,
            } => {
                let date = date.eval(row, context)?;
                let interval = interval.eval(row, context)?;
                Ok(func::date_arith(
                    &date,
                    &interval,
                    *unit,
                    *subtract,
                    &mut context.warnings,
                ))
            }
            Expr::Function { function, args } => func::call(*function, args, self, row, context),
        }
    }
}

impl Expr {
    /// Calls `visit` on each direct operand, without allocating (executors
    /// walk trees per row).
    pub fn for_each_child<'a>(&'a self, visit: &mut dyn FnMut(&'a Expr)) {
        match self {
            Expr::Column { .. } | Expr::Literal(_) => {}
            Expr::Subquery { operand, .. } => {
                if let Some(o) = operand {
                    visit(o);
                }
            }
            Expr::Negate(e) | Expr::Not(e) => visit(e),
            Expr::Arith { left, right, .. }
            | Expr::Compare { left, right, .. }
            | Expr::Logic { left, right, .. } => {
                visit(left);
                visit(right);
            }
            Expr::IsNull { operand, .. } | Expr::IsTruth { operand, .. } => visit(operand),
            Expr::Between {
                operand, low, high, ..
            } => {
                visit(operand);
                visit(low);
                visit(high);
            }
            Expr::InList { operand, list, .. } => {
                visit(operand);
                list.iter().for_each(visit);
            }
            Expr::Like {
                operand, pattern, ..
            } => {
                visit(operand);
                visit(pattern);
            }
            Expr::Case {
                operand,
                branches,
                otherwise,
            } => {
                if let Some(o) = operand {
                    visit(o);
                }
                for (when, then) in branches {
                    visit(when);
                    visit(then);
                }
                if let Some(o) = otherwise {
                    visit(o);
                }
            }
            Expr::Cast { operand, .. } => visit(operand),
            Expr::DateArith { date, interval, .. } => {
                visit(date);
                visit(interval);
            }
            Expr::Function { args, .. } => args.iter().for_each(visit),
        }
    }

    /// Whether `pred` holds for this node or any below it.
    pub fn any_node(&self, pred: &dyn Fn(&Expr) -> bool) -> bool {
        if pred(self) {
            return true;
        }
        let mut found = false;
        self.for_each_child(&mut |child| {
            if !found && child.any_node(pred) {
                found = true;
            }
        });
        found
    }

    /// The direct operands of this node.
    pub fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Column { .. } | Expr::Literal(_) => Vec::new(),
            Expr::Subquery { operand, .. } => operand.iter().map(|b| b.as_ref()).collect(),
            Expr::Negate(e) | Expr::Not(e) => vec![e],
            Expr::Arith { left, right, .. }
            | Expr::Compare { left, right, .. }
            | Expr::Logic { left, right, .. } => vec![left, right],
            Expr::IsNull { operand, .. } | Expr::IsTruth { operand, .. } => vec![operand],
            Expr::Between {
                operand, low, high, ..
            } => vec![operand, low, high],
            Expr::InList { operand, list, .. } => {
                let mut out: Vec<&Expr> = vec![operand];
                out.extend(list.iter());
                out
            }
            Expr::Like {
                operand, pattern, ..
            } => vec![operand, pattern],
            Expr::Case {
                operand,
                branches,
                otherwise,
            } => {
                let mut out: Vec<&Expr> = operand.iter().map(|b| b.as_ref()).collect();
                for (when, then) in branches {
                    out.push(when);
                    out.push(then);
                }
                out.extend(otherwise.iter().map(|b| b.as_ref()));
                out
            }
            Expr::Cast { operand, .. } => vec![operand],
            Expr::DateArith { date, interval, .. } => vec![date, interval],
            Expr::Function { args, .. } => args.iter().collect(),
        }
    }

    /// Mutable access to the direct operands of this node.
    pub fn children_mut(&mut self) -> Vec<&mut Expr> {
        match self {
            Expr::Column { .. } | Expr::Literal(_) => Vec::new(),
            Expr::Subquery { operand, .. } => operand.iter_mut().map(|b| b.as_mut()).collect(),
            Expr::Negate(e) | Expr::Not(e) => vec![e],
            Expr::Arith { left, right, .. }
            | Expr::Compare { left, right, .. }
            | Expr::Logic { left, right, .. } => vec![left, right],
            Expr::IsNull { operand, .. } | Expr::IsTruth { operand, .. } => vec![operand],
            Expr::Between {
                operand, low, high, ..
            } => vec![operand, low, high],
            Expr::InList { operand, list, .. } => {
                let mut out: Vec<&mut Expr> = vec![operand];
                out.extend(list.iter_mut());
                out
            }
            Expr::Like {
                operand, pattern, ..
            } => vec![operand, pattern],
            Expr::Case {
                operand,
                branches,
                otherwise,
            } => {
                let mut out: Vec<&mut Expr> = operand.iter_mut().map(|b| b.as_mut()).collect();
                for (when, then) in branches {
                    out.push(when);
                    out.push(then);
                }
                out.extend(otherwise.iter_mut().map(|b| b.as_mut()));
                out
            }
            Expr::Cast { operand, .. } => vec![operand],
            Expr::DateArith { date, interval, .. } => vec![date, interval],
            Expr::Function { args, .. } => args.iter_mut().collect(),
        }
    }

    /// Calls `visit` with the index of every column this expression reads
    /// (subqueries' operands included; their outer references are the
    /// plan's business, see `SubqueryPlan::correlated`).
    pub fn for_each_column(&self, visit: &mut dyn FnMut(usize)) {
        if let Expr::Column { index, .. } = self {
            visit(*index);
        }
        self.for_each_child(&mut |child| child.for_each_column(visit));
    }

    /// Whether a subquery appears anywhere in the tree.
    pub fn has_subquery(&self) -> bool {
        self.any_node(&|e| matches!(e, Expr::Subquery { .. }))
    }

    /// Whether a correlated subquery appears anywhere in the tree.
    pub fn has_correlated_subquery(&self) -> bool {
        self.any_node(&|e| matches!(e, Expr::Subquery { plan, .. } if plan.correlated()))
    }

    /// Rewrites every column index with `map` (None: leave it).
    pub fn map_columns(&mut self, map: &mut dyn FnMut(usize) -> Option<Expr>) {
        if let Expr::Column { index, .. } = self {
            if let Some(replacement) = map(*index) {
                *self = replacement;
            }
            return;
        }
        for child in self.children_mut() {
            child.map_columns(map);
        }
    }

    /// Replaces each subquery that `which` selects (innermost operands
    /// first) by what `run(plan, kind, operand)` makes of it.
    pub fn resolve_subqueries<E>(
        &mut self,
        which: &dyn Fn(&std::sync::Arc<dyn SubqueryPlan>) -> bool,
        run: &mut SubqueryRunner<'_, E>,
    ) -> std::result::Result<(), E> {
        for child in self.children_mut() {
            child.resolve_subqueries(which, run)?;
        }
        if let Expr::Subquery {
            plan,
            kind,
            operand,
        } = self
        {
            if !which(plan) {
                return Ok(());
            }
            let replacement = run(plan, *kind, operand.as_deref().cloned())?;
            *self = replacement;
        }
        Ok(())
    }
}

/// `how` two values compare as; exposed for executors that compare outside expressions.
pub fn comparison_of(left: &Value, right: &Value) -> CompareAs {
    compare_as_values(left, right)
}

impl fmt::Display for Expr {
    /// A readable rendering in MySQL's style, used in error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Column { index, .. } => write!(f, "`#{index}`"),
            Expr::Literal(Value::Bytes(bytes, _)) => {
                write!(f, "'{}'", String::from_utf8_lossy(bytes))
            }
            Expr::Literal(value) => write!(f, "{value}"),
            Expr::Negate(e) => write!(f, "-({e})"),
            Expr::Not(e) => write!(f, "(not({e}))"),
            Expr::Arith { op, left, right } => write!(f, "({left} {} {right})", op.symbol()),
            Expr::Compare { op, left, right } => write!(f, "({left} {} {right})", op.symbol()),
            Expr::Logic { op, left, right } => write!(f, "({left} {op:?} {right})"),
            Expr::Function { function, args } => {
                write!(f, "{}(", function.name())?;
                for (position, arg) in args.iter().enumerate() {
                    if position > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{arg}")?;
                }
                f.write_str(")")
            }
            other => write!(f, "{other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decimal::Decimal;
    use crate::temporal::Date;

    fn context() -> EvalContext {
        let now = Date::new(2024, 2, 29).map(DateTime::from_date);
        EvalContext::new(now.unwrap_or_else(|| panic!("valid date")))
    }

    fn price() -> Expr {
        Expr::column(
            1,
            SqlType::Decimal {
                precision: 10,
                scale: 2,
            },
            false,
        )
    }

    // Result types are known before rows: what the server sends as column definitions.
    #[test]
    fn result_types_before_rows() {
        let quantity = Expr::column(
            0,
            SqlType::Int {
                width: IntWidth::Int,
                unsigned: true,
            },
            false,
        );
        let total = Expr::arith(ArithOp::Mul, quantity.clone(), price());
        assert_eq!(
            total.result_type(),
            SqlType::Decimal {
                precision: 20,
                scale: 2
            }
        );
        let share = Expr::arith(ArithOp::Div, price(), quantity.clone());
        assert_eq!(share.result_type().scale(), 6);
        let sum = Expr::arith(ArithOp::Add, quantity.clone(), Expr::literal(Value::Int(1)));
        assert_eq!(sum.result_type(), SqlType::BIGINT_UNSIGNED);
        assert!(!sum.nullable());
        let ratio = Expr::arith(
            ArithOp::Div,
            quantity.clone(),
            Expr::literal(Value::Double(2.0)),
        );
        assert_eq!(ratio.result_type(), SqlType::Double);
        let now = Expr::function(Function::Now, vec![Expr::literal(Value::Int(3))]);
        assert_eq!(
            now.map(|e| e.result_type()).ok(),
            Some(SqlType::DateTime { fsp: 3 })
        );
        assert_eq!(
            Expr::compare(CompareOp::Lt, quantity, price()).result_type(),
            SqlType::BIGINT
        );
    }

    // Expressions read the row by index; a bad index is an error, not a panic.
    #[test]
    fn evaluates_against_a_row() {
        let mut context = context();
        let row = [
            Value::UInt(3),
            Value::Decimal(Decimal::new(1999, 2).unwrap_or(Decimal::ZERO)),
        ];
        let total = Expr::arith(
            ArithOp::Mul,
            Expr::column(0, SqlType::BIGINT_UNSIGNED, false),
            price(),
        );
        assert_eq!(
            total.eval(&row, &mut context).map(|v| v.to_string()),
            Ok("59.97".into())
        );
        let missing = Expr::column(5, SqlType::BIGINT, true);
        assert_eq!(
            missing.eval(&row, &mut context).map_err(|e| e.code()).err(),
            Some(1105)
        );
    }

    // NOW and CURDATE come from the context's clock, never the system's.
    #[test]
    fn time_comes_from_the_context() {
        let mut context = context();
        let today =
            Expr::function(Function::CurDate, vec![]).and_then(|e| e.eval(&[], &mut context));
        assert_eq!(today.map(|v| v.to_string()), Ok("2024-02-29".into()));
        let now = Expr::function(Function::Now, vec![]).and_then(|e| e.eval(&[], &mut context));
        assert_eq!(now.map(|v| v.to_string()), Ok("2024-02-29 00:00:00".into()));
    }

    // Wrong argument counts are MySQL's error 1582 at construction.
    #[test]
    fn arity_is_checked() {
        let error = Expr::function(Function::Substring, vec![Expr::literal(Value::Int(1))]).err();
        assert_eq!(error.map(|e| e.code()), Some(1582));
        assert!(Expr::function(Function::Concat, vec![]).is_err());
    }

    // IF evaluates only the branch it returns: an overflow in the other branch is not raised.
    #[test]
    fn if_is_lazy() {
        let mut context = context();
        let overflow = Expr::arith(
            ArithOp::Add,
            Expr::literal(Value::Int(i64::MAX)),
            Expr::literal(Value::Int(1)),
        );
        let call = Expr::function(
            Function::If,
            vec![
                Expr::literal(Value::Int(1)),
                Expr::literal(Value::Int(7)),
                overflow.clone(),
            ],
        );
        assert_eq!(
            call.and_then(|e| e.eval(&[], &mut context))
                .map(|v| v.to_string()),
            Ok("7".into())
        );
        assert_eq!(
            overflow.eval(&[], &mut context).map_err(|e| e.code()).err(),
            Some(1690)
        );
    }
}
