//! Why a statement failed, with the MySQL number and SQLSTATE each maps to
//! at the server edge (`code`, `sql_state`).

use floe_storage::trx::TrxError;

#[derive(Debug, thiserror::Error)]
pub enum StatementError {
    #[error("You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use: {message}")]
    Parse { message: String },
    #[error("Query was empty")]
    Empty,
    #[error("Table '{schema}.{table}' doesn't exist")]
    NoSuchTable { schema: String, table: String },
    #[error("Unknown table '{schema}.{table}'")]
    UnknownTable { schema: String, table: String },
    #[error("Unknown database '{0}'")]
    NoSuchDatabase(String),
    #[error("Can't create database '{0}'; database exists")]
    DatabaseExists(String),
    #[error("Can't drop database '{0}'; database doesn't exist")]
    DropMissingDatabase(String),
    #[error("No database selected")]
    NoDatabaseSelected,
    #[error("Table '{0}' already exists")]
    TableExists(String),
    #[error("Unknown column '{column}' in '{context}'")]
    UnknownColumn { column: String, context: String },
    #[error("Column '{column}' in {context} is ambiguous")]
    AmbiguousColumn { column: String, context: String },
    #[error("Not unique table/alias: '{0}'")]
    NotUniqueTable(String),
    #[error("Subquery returns more than 1 row")]
    SubqueryRows,
    #[error("Operand should contain {0} column(s)")]
    OperandColumns(usize),
    #[error("The used SELECT statements have a different number of columns")]
    UnionColumns,
    #[error("'{schema}.{name}' is not VIEW")]
    NotView { schema: String, name: String },
    #[error("Duplicate column name '{0}'")]
    DuplicateColumn(String),
    #[error("Key column '{0}' doesn't exist in table")]
    KeyColumn(String),
    #[error("Multiple primary key defined")]
    MultiplePrimaryKeys,
    #[error("Incorrect table definition; there can be only one auto column and it must be defined as a key")]
    AutoIncrementKey,
    #[error("Invalid default value for '{0}'")]
    InvalidDefault(String),
    #[error("Duplicate entry '{entry}' for key '{key}'")]
    Duplicate { entry: String, key: String },
    #[error("Column '{0}' cannot be null")]
    NullInNotNull(String),
    #[error("Field '{0}' doesn't have a default value")]
    NoDefault(String),
    #[error("Column count doesn't match value count at row {0}")]
    ColumnCount(usize),
    #[error("{message} for column '{column}' at row {row}")]
    Convert {
        code: u16,
        message: String,
        column: String,
        row: usize,
    },
    #[error("Unknown system variable '{0}'")]
    UnknownVariable(String),
    #[error("Variable '{name}' can't be set to the value of '{value}'")]
    BadVariableValue { name: String, value: String },
    #[error("Lock wait timeout exceeded; try restarting transaction")]
    LockWaitTimeout,
    #[error("Deadlock found when trying to get lock; try restarting transaction")]
    Deadlock,
    #[error("Cannot execute statement in a READ ONLY transaction.")]
    ReadOnly,
    #[error("Transaction characteristics can't be changed while a transaction is in progress")]
    TransactionInProgress,
    #[error(transparent)]
    Expr(#[from] crate::Error),
    #[error("This version of Floe doesn't yet support '{0}'")]
    Unsupported(String),
    #[error("storage: {0}")]
    Storage(String),
    /// An error that already has its MySQL form (interrupts, the sink).
    #[error("{0}")]
    Server(#[from] floe_server::SqlError),
}

impl StatementError {
    /// MySQL's error number.
    pub fn code(&self) -> u16 {
        use StatementError as E;
        match self {
            E::Parse { .. } => 1064,
            E::Empty => 1065,
            E::NoSuchTable { .. } => 1146,
            E::UnknownTable { .. } => 1051,
            E::NoSuchDatabase(_) => 1049,
            E::DatabaseExists(_) => 1007,
            E::DropMissingDatabase(_) => 1008,
            E::NoDatabaseSelected => 1046,
            E::TableExists(_) => 1050,
            E::UnknownColumn { .. } => 1054,
            E::AmbiguousColumn { .. } => 1052,
            E::NotUniqueTable(_) => 1066,
            E::SubqueryRows => 1242,
            E::OperandColumns(_) => 1241,
            E::UnionColumns => 1222,
            E::NotView { .. } => 1347,
            E::DuplicateColumn(_) => 1060,
            E::KeyColumn(_) => 1072,
            E::MultiplePrimaryKeys => 1068,
            E::AutoIncrementKey => 1075,
            E::InvalidDefault(_) => 1067,
            E::Duplicate { .. } => 1062,
            E::NullInNotNull(_) => 1048,
            E::NoDefault(_) => 1364,
            E::ColumnCount(_) => 1136,
            E::Convert { code, .. } => *code,
            E::UnknownVariable(_) => 1193,
            E::BadVariableValue { .. } => 1231,
            E::LockWaitTimeout => 1205,
            E::Deadlock => 1213,
            E::ReadOnly => 1792,
            E::TransactionInProgress => 1568,
            E::Expr(e) => e.code(),
            E::Unsupported(_) => 1235,
            E::Storage(_) => 1105,
            E::Server(e) => e.code,
        }
    }

    /// MySQL's SQLSTATE for `code()`.
    pub fn sql_state(&self) -> [u8; 5] {
        if let StatementError::Server(e) = self {
            return e.sql_state;
        }
        *match self.code() {
            1064 | 1065 | 1049 | 1068 | 1072 | 1075 | 1067 | 1231 | 1235 => b"42000",
            1146 | 1051 => b"42S02",
            1050 => b"42S01",
            1054 => b"42S22",
            1060 => b"42S21",
            1046 => b"3D000",
            1062 | 1048 | 1052 => b"23000",
            1242 | 1241 | 1222 => b"21000",
            1066 => b"42000",
            1136 => b"21S01",
            1264 | 1690 => b"22003",
            1406 => b"22001",
            1292 => b"22007",
            1365 => b"22012",
            1213 => b"40001",
            1792 | 1568 => b"25006",
            _ => b"HY000",
        }
    }

    pub fn to_sql_error(&self) -> floe_server::SqlError {
        floe_server::SqlError {
            code: self.code(),
            sql_state: self.sql_state(),
            message: self.to_string(),
        }
    }
}

/// A storage error; duplicates get their entry text from the caller.
pub fn from_trx(
    error: TrxError,
    duplicate_entry: impl FnOnce(&str) -> (String, String),
) -> StatementError {
    match error.mysql_code() {
        Some(1205) => StatementError::LockWaitTimeout,
        Some(1213) => StatementError::Deadlock,
        Some(1792) => StatementError::ReadOnly,
        Some(1062) => {
            let index = match &error {
                TrxError::Duplicate { index } => index.as_str(),
                _ => "",
            };
            let (entry, key) = duplicate_entry(index);
            StatementError::Duplicate { entry, key }
        }
        _ => StatementError::Storage(error.to_string()),
    }
}

/// A storage error outside inserts.
pub fn trx_error(error: TrxError) -> StatementError {
    from_trx(error, |index| (String::new(), index.to_string()))
}
