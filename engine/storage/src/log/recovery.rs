//! Redo apply: replays whole mini-transactions from the checkpoint onward
//! onto the pages they name, through the buffer pool. A record is applied
//! only to a page whose LSN is older than the mtr's end LSN, so replay is
//! idempotent whatever subset of pages reached the disk. A page whose disk
//! image does not verify may be rebuilt only by redo that initialises it
//! whole (`PageInit` or `PageImage`); anything else is corruption, reported
//! with the page and the reason, never guessed around.

use std::collections::HashSet;

use super::reader::{scan, RedoFile, ScanEnd};
use super::record::Record;
use super::RedoError;
use crate::buf::BufferPool;
use crate::fil::{self, Lsn, PageId};

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error(transparent)]
    Redo(#[from] RedoError),
    #[error("recovery: {source}")]
    Buf {
        #[source]
        source: crate::buf::BufError,
    },
    #[error("recovery: {page} does not verify ({reason}) and the redo from the checkpoint does not rebuild it")]
    Unrepairable { page: PageId, reason: String },
}

#[derive(Clone, Copy, Debug, Default)]
pub struct RecoveryStats {
    pub mtrs_applied: u64,
    pub records_applied: u64,
    pub records_skipped: u64,
    pub pages_touched: u64,
}

/// Replays the log from `checkpoint` into `pool`; returns where it ended.
pub fn apply_redo(
    pool: &BufferPool,
    files: &[RedoFile],
    checkpoint: Lsn,
) -> Result<(ScanEnd, RecoveryStats), RecoveryError> {
    let mut stats = RecoveryStats::default();
    let mut touched: HashSet<PageId> = HashSet::new();
    // Pages whose disk image failed to verify and are not yet rebuilt.
    let mut broken: HashSet<PageId> = HashSet::new();
    let mut failure: Option<RecoveryError> = None;
    let end = scan(files, checkpoint, |records, end_lsn| {
        // The mtr's start: its end minus its encoded size.
        let mtr_bytes: usize = records.iter().map(|r| r.encoded_bytes()).sum::<usize>() + 3;
        let start_lsn = Lsn(end_lsn.0 - mtr_bytes as u64);
        let mut index = 0;
        while index < records.len() {
            let Some(page_id) = records[index].page() else {
                index += 1;
                continue;
            };
            // Records of one page within the mtr are applied together.
            let (mut page, verify_error) = match pool.fix_for_recovery(page_id) {
                Ok(fixed) => fixed,
                Err(source) => {
                    failure = Some(RecoveryError::Buf { source });
                    return Err(RedoError::ApplyStopped);
                }
            };
            if let Some(reason) = verify_error {
                broken.insert(page_id);
                log::debug!(
                    "recovery: {page_id} unreadable on disk ({reason}); redo must rebuild it"
                );
                // Keep the reason for the error below.
                if !matches!(
                    records[index],
                    Record::PageInit { .. } | Record::PageImage { .. }
                ) {
                    failure = Some(RecoveryError::Unrepairable {
                        page: page_id,
                        reason: reason.to_string(),
                    });
                    return Err(RedoError::ApplyStopped);
                }
            }
            let is_new = touched.insert(page_id);
            if is_new {
                stats.pages_touched += 1;
            }
            let page_current = !broken.contains(&page_id) && fil::page_lsn(page.bytes()) >= end_lsn;
            let mut applied_any = false;
            for record in records[index..]
                .iter()
                .filter(|r| r.page() == Some(page_id))
            {
                if page_current {
                    stats.records_skipped += 1;
                    continue;
                }
                if broken.contains(&page_id)
                    && !matches!(record, Record::PageInit { .. } | Record::PageImage { .. })
                {
                    failure = Some(RecoveryError::Unrepairable {
                        page: page_id,
                        reason: "first redo record does not rebuild it".into(),
                    });
                    return Err(RedoError::ApplyStopped);
                }
                record.apply(page.bytes_mut()).map_err(RedoError::Apply)?;
                broken.remove(&page_id);
                stats.records_applied += 1;
                applied_any = true;
            }
            if applied_any {
                fil::set_page_lsn(page.bytes_mut(), end_lsn);
                pool.note_modified(&mut page, start_lsn, end_lsn);
            }
            drop(page);
            // Skip past this page's records; the next unseen page follows.
            index += 1;
            while index < records.len()
                && records[..index]
                    .iter()
                    .any(|r| r.page() == records[index].page())
            {
                index += 1;
            }
        }
        stats.mtrs_applied += 1;
        Ok(())
    });
    if let Some(failure) = failure {
        return Err(failure);
    }
    let end = end?;
    if let Some(&page) = broken.iter().next() {
        return Err(RecoveryError::Unrepairable {
            page,
            reason: "no redo rebuilt it".into(),
        });
    }
    Ok((end, stats))
}
