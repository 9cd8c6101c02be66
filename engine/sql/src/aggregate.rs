//! Aggregate functions as accumulators: COUNT(*), COUNT(expr), SUM, AVG, MIN,
//! MAX, each optionally DISTINCT. Result types follow MySQL: COUNT is BIGINT,
//! SUM of integers or decimals is DECIMAL (22 more digits of precision), SUM
//! of anything else DOUBLE, AVG of exact numbers is DECIMAL with 4 more
//! digits of scale (div_precision_increment), MIN/MAX keep the argument type.
//! DISTINCT keeps the key encodings of the values seen: equal under SQL
//! comparison (and the collation) means counted once. That set grows with the
//! number of distinct values; bounding it (spilling) is the executor's job later.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use crate::arith::division_scale;
use crate::decimal::Decimal;
use crate::error::{Error, Result, Warnings};
use crate::key::{encode_key, KeyColumn};
use crate::types::{SqlType, TypeClass};
use crate::value::{compare_as, compare_values, CompareAs, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateFunction {
    CountStar,
    Count,
    Sum,
    Avg,
    Min,
    Max,
}

/// One aggregate call, typed by its argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aggregate {
    pub function: AggregateFunction,
    pub distinct: bool,
    /// The argument's type (ignored for COUNT(*)).
    pub argument_type: SqlType,
}

/// Extra precision MySQL gives SUM over its argument.
const SUM_PRECISION_EXTRA: u32 = 22;

impl Aggregate {
    pub fn new(function: AggregateFunction, distinct: bool, argument_type: SqlType) -> Aggregate {
        Aggregate {
            function,
            distinct,
            argument_type,
        }
    }

    fn is_exact(&self) -> bool {
        matches!(
            self.argument_type.class(),
            TypeClass::Int | TypeClass::Decimal
        )
    }

    fn argument_shape(&self) -> (u32, u32) {
        match self.argument_type {
            SqlType::Decimal { precision, scale } => (u32::from(precision), u32::from(scale)),
            SqlType::Int { .. } => (self.argument_type.display_length(), 0),
            _ => (20, 0),
        }
    }

    pub fn result_type(&self) -> SqlType {
        let (precision, scale) = self.argument_shape();
        match self.function {
            AggregateFunction::CountStar | AggregateFunction::Count => SqlType::BIGINT,
            AggregateFunction::Sum if self.is_exact() => {
                SqlType::decimal_clamped(precision + SUM_PRECISION_EXTRA, scale)
            }
            AggregateFunction::Avg if self.is_exact() => {
                SqlType::decimal_clamped(precision + 4, scale + 4)
            }
            AggregateFunction::Sum | AggregateFunction::Avg => SqlType::Double,
            AggregateFunction::Min | AggregateFunction::Max => self.argument_type,
        }
    }

    /// A fresh accumulator for one group.
    pub fn accumulator(&self) -> Accumulator {
        Accumulator {
            aggregate: *self,
            count: 0,
            sum_exact: Decimal::ZERO,
            sum_double: 0.0,
            extreme: None,
            seen: if self.distinct {
                Some(BTreeSet::new())
            } else {
                None
            },
            distinct_key: KeyColumn::for_type(&self.argument_type),
            compare_how: compare_as(&self.argument_type, &self.argument_type),
        }
    }
}

/// The running state of one aggregate over one group.
#[derive(Debug, Clone)]
pub struct Accumulator {
    aggregate: Aggregate,
    /// Non-NULL values counted (rows for COUNT(*)).
    count: i64,
    sum_exact: Decimal,
    sum_double: f64,
    extreme: Option<Value>,
    seen: Option<BTreeSet<Vec<u8>>>,
    distinct_key: Option<KeyColumn>,
    compare_how: CompareAs,
}

impl Accumulator {
    /// Adds one row's argument value (pass anything for COUNT(*)).
    pub fn update(&mut self, value: &Value, warnings: &mut Warnings) -> Result<()> {
        if self.aggregate.function == AggregateFunction::CountStar {
            self.count = self.count.checked_add(1).ok_or_else(count_overflow)?;
            return Ok(());
        }
        if value.is_null() {
            return Ok(());
        }
        if let Some(seen) = &mut self.seen {
            let mut key = Vec::new();
            let encoded = match self.distinct_key {
                Some(column) => encode_key(std::slice::from_ref(value), &[column], &mut key),
                None => Ok(()),
            };
            // A value the column's key cannot hold (a binder type mismatch) falls back
            // to its text, which is still equal exactly when the values are.
            if encoded.is_err() {
                key = value.to_text().unwrap_or_default();
            }
            if !seen.insert(key) {
                return Ok(());
            }
        }
        self.count = self.count.checked_add(1).ok_or_else(count_overflow)?;
        match self.aggregate.function {
            AggregateFunction::CountStar | AggregateFunction::Count => {}
            AggregateFunction::Sum | AggregateFunction::Avg => {
                if self.aggregate.is_exact() {
                    let addend = value
                        .to_decimal(warnings)
                        .ok_or_else(|| sum_overflow(value))?;
                    self.sum_exact = self
                        .sum_exact
                        .checked_add(&addend)
                        .ok_or_else(|| sum_overflow(value))?;
                } else {
                    self.sum_double += value.to_f64(warnings).unwrap_or(0.0);
                    if !self.sum_double.is_finite() {
                        return Err(Error::OutOfRange {
                            type_name: "DOUBLE",
                            expression: "sum".into(),
                        });
                    }
                }
            }
            AggregateFunction::Min | AggregateFunction::Max => {
                let replace = match &self.extreme {
                    None => true,
                    Some(current) => {
                        let ordering = compare_values(value, current, self.compare_how, warnings);
                        let wanted = if self.aggregate.function == AggregateFunction::Min {
                            Ordering::Less
                        } else {
                            Ordering::Greater
                        };
                        ordering == Some(wanted)
                    }
                };
                if replace {
                    self.extreme = Some(value.clone());
                }
            }
        }
        Ok(())
    }

    /// The aggregate's value for the group (NULL for SUM/AVG/MIN/MAX of no values).
    pub fn finish(&self, div_precision_increment: u32) -> Result<Value> {
        let result_type = self.aggregate.result_type();
        Ok(match self.aggregate.function {
            AggregateFunction::CountStar | AggregateFunction::Count => Value::Int(self.count),
            _ if self.count == 0 => Value::Null,
            AggregateFunction::Sum if self.aggregate.is_exact() => Value::Decimal(self.sum_exact),
            AggregateFunction::Sum => Value::Double(self.sum_double),
            AggregateFunction::Avg if self.aggregate.is_exact() => {
                let count = Decimal::from_i64(self.count);
                let scale = division_scale(self.sum_exact.scale(), 0, div_precision_increment);
                let mean = self
                    .sum_exact
                    .checked_div(&count, scale)
                    .ok_or_else(|| sum_overflow(&Value::Null))?;
                let type_scale = result_type.scale();
                Value::Decimal(mean.rescale(type_scale).unwrap_or(mean))
            }
            AggregateFunction::Avg => Value::Double(self.sum_double / self.count as f64),
            AggregateFunction::Min | AggregateFunction::Max => {
                self.extreme.clone().unwrap_or(Value::Null)
            }
        })
    }
}

fn count_overflow() -> Error {
    Error::OutOfRange {
        type_name: "BIGINT",
        expression: "count(*)".into(),
    }
}

fn sum_overflow(value: &Value) -> Error {
    Error::OutOfRange {
        type_name: "DECIMAL",
        expression: format!("sum(... + {value})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collation::Collation;
    use crate::types::IntWidth;

    const INT: SqlType = SqlType::Int {
        width: IntWidth::Int,
        unsigned: false,
    };

    fn run(
        function: AggregateFunction,
        distinct: bool,
        argument_type: SqlType,
        values: &[Value],
    ) -> String {
        let aggregate = Aggregate::new(function, distinct, argument_type);
        let mut accumulator = aggregate.accumulator();
        let mut warnings = Warnings::default();
        for value in values {
            accumulator
                .update(value, &mut warnings)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        accumulator
            .finish(4)
            .map(|v| v.to_string())
            .unwrap_or_else(|e| format!("ERROR {}", e.code()))
    }

    // SUM and AVG of integers are exact DECIMALs; AVG carries 4 more digits of scale.
    #[test]
    fn sum_and_avg_of_integers() {
        let values = [Value::Int(1), Value::Int(2), Value::Null, Value::Int(2)];
        assert_eq!(run(AggregateFunction::Sum, false, INT, &values), "5");
        assert_eq!(run(AggregateFunction::Avg, false, INT, &values), "1.6667");
        assert_eq!(run(AggregateFunction::Sum, true, INT, &values), "3");
        assert_eq!(run(AggregateFunction::Count, false, INT, &values), "3");
        assert_eq!(run(AggregateFunction::CountStar, false, INT, &values), "4");
        assert_eq!(run(AggregateFunction::Count, true, INT, &values), "2");
        let avg = Aggregate::new(AggregateFunction::Avg, false, INT).result_type();
        assert_eq!((avg.type_code() as u8, avg.scale()), (246, 4));
        assert_eq!(
            Aggregate::new(AggregateFunction::Sum, false, INT)
                .result_type()
                .type_code() as u8,
            246
        );
    }

    // Aggregates of no values are NULL, except COUNT which is 0.
    #[test]
    fn empty_groups() {
        assert_eq!(
            run(AggregateFunction::Sum, false, INT, &[Value::Null]),
            "NULL"
        );
        assert_eq!(run(AggregateFunction::Max, false, INT, &[]), "NULL");
        assert_eq!(run(AggregateFunction::Count, false, INT, &[]), "0");
    }

    // SUM of big BIGINTs does not overflow: it is a DECIMAL.
    #[test]
    fn sum_beyond_bigint() {
        let big = SqlType::BIGINT;
        assert_eq!(
            run(
                AggregateFunction::Sum,
                false,
                big,
                &[Value::Int(i64::MAX), Value::Int(i64::MAX)]
            ),
            "18446744073709551614"
        );
    }

    // MIN/MAX use the column's comparison; COUNT(DISTINCT) folds case under the default collation.
    #[test]
    fn min_max_and_distinct_strings() {
        let text = SqlType::varchar(10);
        let values = [
            Value::string("b"),
            Value::string("A"),
            Value::string("a"),
            Value::string("C"),
        ];
        assert_eq!(run(AggregateFunction::Min, false, text, &values), "A");
        assert_eq!(run(AggregateFunction::Max, false, text, &values), "C");
        assert_eq!(run(AggregateFunction::Count, true, text, &values), "3");
        let binary = SqlType::VarBinary { length_bytes: 10 };
        let bytes: Vec<Value> = ["a", "A"]
            .iter()
            .map(|s| Value::Bytes(s.as_bytes().to_vec(), Collation::Binary))
            .collect();
        assert_eq!(run(AggregateFunction::Count, true, binary, &bytes), "2");
        let numbers = [Value::Int(10), Value::Int(9)];
        assert_eq!(run(AggregateFunction::Max, false, INT, &numbers), "10");
    }

    // SUM/AVG of doubles and strings are DOUBLE.
    #[test]
    fn double_sums() {
        let values = [Value::Double(0.1), Value::Double(0.2)];
        assert_eq!(
            run(AggregateFunction::Sum, false, SqlType::Double, &values),
            "0.30000000000000004"
        );
        assert_eq!(
            run(
                AggregateFunction::Avg,
                false,
                SqlType::varchar(5),
                &[Value::string("1"), Value::string("2")]
            ),
            "1.5"
        );
        assert_eq!(
            Aggregate::new(AggregateFunction::Avg, false, SqlType::Double).result_type(),
            SqlType::Double
        );
    }

    // AVG of a DECIMAL(5,2) has scale 6 and rounds half away from zero.
    #[test]
    fn avg_of_decimals() {
        let decimal = SqlType::Decimal {
            precision: 5,
            scale: 2,
        };
        let value = |m| {
            Decimal::new(m, 2)
                .map(Value::Decimal)
                .unwrap_or(Value::Null)
        };
        assert_eq!(
            run(
                AggregateFunction::Avg,
                false,
                decimal,
                &[value(100), value(200), value(200)]
            ),
            "1.666667"
        );
        assert_eq!(
            Aggregate::new(AggregateFunction::Avg, false, decimal)
                .result_type()
                .scale(),
            6
        );
    }
}
