//! The redo log: record codec (`record`), log blocks and files, the writer
//! with group commit, and the reader recovery uses.

pub mod record;
