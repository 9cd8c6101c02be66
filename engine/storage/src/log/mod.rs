//! The redo log: record codec (`record`), blocks and redo files (`block`),
//! the control file where recovery starts (`control`), the writer with
//! group commit (`writer`) and the reader recovery uses (`reader`).

pub mod block;
pub mod control;
pub mod reader;
pub mod record;
pub mod recovery;
pub mod writer;

use crate::fil::{Lsn, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RedoError {
    #[error("redo file {file}")]
    Device {
        file: String,
        #[source]
        source: floe_blk::Error,
    },
    #[error("redo file {file}")]
    Store {
        file: String,
        #[source]
        source: StoreError,
    },
    #[error("redo file {file}")]
    Block {
        file: String,
        #[source]
        source: block::BlockError,
    },
    #[error("redo file {file} holds file number {found} in its header")]
    Misnamed { file: String, found: u64 },
    #[error("redo at {lsn}: corrupt record in a block whose checksum is valid")]
    Corrupt {
        lsn: Lsn,
        #[source]
        source: record::RecordError,
    },
    #[error("redo writer failed earlier ({reason}); no commit can be made durable")]
    WriterFailed { reason: String },
    #[error("applying redo")]
    Apply(#[source] record::RecordError),
    #[error("redo apply stopped by its caller")]
    ApplyStopped,
}

#[cfg(test)]
mod tests;
