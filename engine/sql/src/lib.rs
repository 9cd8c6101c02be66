//! The SQL layer's foundation: MySQL column types, values and their implicit
//! conversions and comparisons, expression trees evaluated against a row,
//! aggregate accumulators, and the memcomparable key encoding indexes use.
//! Knows nothing of storage, parsing or the wire: a binder builds `Expr` trees,
//! the server turns `Error::code()` into MySQL error packets.
#![forbid(unsafe_code)]

pub mod acl;
pub mod aggregate;
pub mod arith;
pub mod bind;
pub mod builtins;
pub mod catalog;
pub mod collation;
pub mod decimal;
pub mod error;
pub mod expr;
mod func;
pub mod key;
pub mod plan;
pub mod row;
pub mod session;
pub mod stats;
pub mod temporal;
pub mod types;
pub mod value;

pub use aggregate::{Accumulator, Aggregate, AggregateFunction};
pub use arith::ArithOp;
pub use collation::Collation;
pub use decimal::Decimal;
pub use error::{Error, Result, Warning, Warnings};
pub use expr::{
    finalize, CastTarget, CompareOp, EvalContext, Expr, Function, IntervalUnit, LogicOp, TrimSide,
};
pub use func::date_value;
pub use key::{decode_key, encode_key, KeyColumn};
pub use session::backend::FloeBackend;
pub use session::{Database, SqlSession, StatementError};
pub use types::{ColumnTypeCode, IntWidth, SqlType, TypeClass};
pub use value::Value;
