//! The redo log: record codec (`record`), blocks and redo files (`block`),
//! the control file where recovery starts (`control`), the writer with
//! group commit (`writer`) and the reader recovery uses (`reader`).

pub mod block;
pub mod control;
pub mod record;
