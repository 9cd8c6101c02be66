//! The crate's error enum. MySQL numbers are named by `code()` so the server
//! edge can map them; nothing else in the crate depends on them.

/// An error raised while typing or evaluating an expression.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// An integer or decimal result does not fit its type (MySQL 1690).
    #[error("{type_name} value is out of range in '{expression}'")]
    OutOfRange {
        type_name: &'static str,
        expression: String,
    },
    /// Division by zero where the session makes it an error (MySQL 1365).
    #[error("Division by 0")]
    DivisionByZero,
    /// A value could not be converted and strictness makes it an error (MySQL 1292).
    #[error("Truncated incorrect {type_name} value: '{value}'")]
    TruncatedValue {
        type_name: &'static str,
        value: String,
    },
    /// A native function called with the wrong number of arguments (MySQL 1582).
    #[error("Incorrect parameter count in the call to native function '{function}'")]
    ArgumentCount { function: &'static str },
    /// DECIMAL(p,s) with p or s beyond what Floe supports (MySQL 1426 / 1425).
    #[error("Too big precision {precision} or scale {scale}; Floe supports precision {max_precision}, scale {max_scale}")]
    DecimalTooBig {
        precision: u32,
        scale: u32,
        max_precision: u32,
        max_scale: u32,
    },
    /// DECIMAL(p,s) with s > p (MySQL 1427).
    #[error("For DECIMAL(M,D) M must be >= D (column '{context}')")]
    DecimalScaleAbovePrecision { context: String },
    /// A column reference past the end of the row: a binder bug, not client input.
    #[error("column #{index} referenced, but the row has {row_columns} columns")]
    ColumnIndex { index: usize, row_columns: usize },
    /// A subquery evaluated before the executor resolved it: an executor bug.
    #[error("subquery evaluated before it was run")]
    UnresolvedSubquery,
    /// A value of the wrong class handed to a typed routine (key encoding).
    #[error("key column {column}: value {value} does not fit a {expected} key column")]
    KeyValueType {
        column: usize,
        value: String,
        expected: &'static str,
    },
    /// A key tuple with a different number of values than key columns.
    #[error("key has {values} values for {columns} key columns")]
    KeyArity { values: usize, columns: usize },
    /// Key bytes that do not decode (truncated or not written by `encode_key`).
    #[error("key column {column}: cannot decode at byte {offset_bytes}: {reason}")]
    KeyDecode {
        column: usize,
        offset_bytes: usize,
        reason: &'static str,
    },
    /// A feature MySQL has that Floe does not yet (MySQL 1235).
    #[error("This version of Floe doesn't yet support '{what}'")]
    Unsupported { what: String },
}

impl Error {
    /// The MySQL error number this maps to at the server edge.
    pub fn code(&self) -> u16 {
        match self {
            Error::OutOfRange { .. } => 1690,     // ER_DATA_OUT_OF_RANGE
            Error::DivisionByZero => 1365,        // ER_DIVISION_BY_ZERO
            Error::TruncatedValue { .. } => 1292, // ER_TRUNCATED_WRONG_VALUE
            Error::ArgumentCount { .. } => 1582,  // ER_WRONG_PARAMCOUNT_TO_NATIVE_FCT
            Error::DecimalTooBig { .. } => 1426,  // ER_TOO_BIG_PRECISION
            Error::DecimalScaleAbovePrecision { .. } => 1427, // ER_M_BIGGER_THAN_D
            Error::Unsupported { .. } => 1235,    // ER_NOT_SUPPORTED_YET
            Error::ColumnIndex { .. }
            | Error::UnresolvedSubquery
            | Error::KeyValueType { .. }
            | Error::KeyArity { .. }
            | Error::KeyDecode { .. } => 1105, // ER_UNKNOWN_ERROR: internal
        }
    }
}

/// A note MySQL would show in SHOW WARNINGS; evaluation goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The MySQL number (1292 truncated value, 1365 division by 0, 1264 out of range).
    pub code: u16,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, Error>;

/// Warnings raised by one statement, bounded: past `WARNINGS_MAX` only a count is kept
/// (MySQL's max_error_count is 1024; we keep fewer, and say how many were dropped).
#[derive(Debug, Default, Clone)]
pub struct Warnings {
    list: Vec<Warning>,
    dropped_count: u64,
}

pub const WARNINGS_MAX: usize = 64;

impl Warnings {
    pub fn push(&mut self, code: u16, message: String) {
        if self.list.len() < WARNINGS_MAX {
            self.list.push(Warning { code, message });
        } else {
            self.dropped_count = self.dropped_count.saturating_add(1);
        }
    }

    pub fn list(&self) -> &[Warning] {
        &self.list
    }

    /// All warnings raised, kept or not (what @@warning_count reports).
    pub fn total_count(&self) -> u64 {
        u64::try_from(self.list.len())
            .unwrap_or(u64::MAX)
            .saturating_add(self.dropped_count)
    }

    pub fn clear(&mut self) {
        self.list.clear();
        self.dropped_count = 0;
    }
}
