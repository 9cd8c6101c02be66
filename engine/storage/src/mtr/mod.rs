//! Mini-transactions: the unit in which pages change atomically. An mtr
//! X-latches the pages it changes and keeps them latched until commit;
//! every change is made by building its redo record and *applying* it to the
//! page (`Record::apply`, the same code recovery runs), so the log and the
//! page can never disagree. Commit appends the records plus `MtrEnd` to the
//! log, stamps each changed page with the mtr's end LSN and puts newly dirty
//! pages on the flush list, all inside the log's critical section, then
//! releases the latches. A commit does not wait for durability: a
//! transaction commit asks the log for that separately.
//!
//! Latch order, to stay free of deadlocks: pages of one tree are latched
//! top-down and, on one level, left to right; the space header last.

use crate::btr::node::NodeError;
use crate::buf::{BufError, BufferPool, PageMut};
use crate::fil::{self, Lsn, PageId, PageType, PAGE_BYTES};
use crate::log::record::{Record, RecordError};
use crate::log::writer::LogWriter;
use crate::log::RedoError;

#[derive(Debug, thiserror::Error)]
pub enum MtrError {
    #[error(transparent)]
    Buf(#[from] BufError),
    #[error(transparent)]
    Redo(#[from] RedoError),
    #[error("{page}: {source}")]
    Node {
        page: PageId,
        #[source]
        source: NodeError,
    },
    #[error("{page}: {source}")]
    Record {
        page: PageId,
        #[source]
        source: RecordError,
    },
}

/// A page held by an mtr: an index into its latched pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageHandle(usize);

struct Held<'a> {
    page: PageMut<'a>,
    modified: bool,
}

pub struct Mtr<'a> {
    pool: &'a BufferPool,
    log: &'a LogWriter,
    /// Slots stay put so handles stay valid; a released page leaves `None`.
    held: Vec<Option<Held<'a>>>,
    records: Vec<u8>,
}

impl<'a> Mtr<'a> {
    pub fn start(pool: &'a BufferPool, log: &'a LogWriter) -> Self {
        Self {
            pool,
            log,
            held: Vec::with_capacity(8),
            records: Vec::with_capacity(256),
        }
    }

    pub fn pool(&self) -> &'a BufferPool {
        self.pool
    }

    /// X-latches `id` (once per mtr; a second call returns the same handle).
    pub fn latch(&mut self, id: PageId) -> Result<PageHandle, MtrError> {
        if let Some(handle) = self.find(id) {
            return Ok(handle);
        }
        let page = self.pool.fix_mut(id)?;
        Ok(self.push(page))
    }

    /// Takes over a page the caller already X-latched.
    pub fn adopt(&mut self, page: PageMut<'a>) -> PageHandle {
        assert!(
            self.find(page.id()).is_none(),
            "{} adopted by an mtr that already holds it",
            page.id()
        );
        self.push(page)
    }

    fn find(&self, id: PageId) -> Option<PageHandle> {
        self.held
            .iter()
            .position(|h| h.as_ref().is_some_and(|h| h.page.id() == id))
            .map(PageHandle)
    }

    fn push(&mut self, page: PageMut<'a>) -> PageHandle {
        self.held.push(Some(Held {
            page,
            modified: false,
        }));
        PageHandle(self.held.len() - 1)
    }

    fn held(&self, handle: PageHandle) -> &Held<'a> {
        self.held[handle.0]
            .as_ref()
            .expect("handle of a page the mtr released")
    }

    fn held_mut(&mut self, handle: PageHandle) -> &mut Held<'a> {
        self.held[handle.0]
            .as_mut()
            .expect("handle of a page the mtr released")
    }

    /// A freshly allocated page, initialised as `page_type` (and as an empty
    /// B+tree node at `level` of `index_id` for index pages).
    pub fn create_page(
        &mut self,
        id: PageId,
        page_type: PageType,
        index_id: u64,
        level: u16,
    ) -> Result<PageHandle, MtrError> {
        let handle = match self.find(id) {
            Some(handle) => handle,
            None => {
                let page = self.pool.fix_new(id)?;
                self.push(page)
            }
        };
        self.apply(
            handle,
            &Record::PageInit {
                page: id,
                page_type,
                index_id,
                level,
            },
        )?;
        Ok(handle)
    }

    pub fn page(&self, handle: PageHandle) -> &[u8] {
        self.held(handle).page.bytes()
    }

    pub fn page_id(&self, handle: PageHandle) -> PageId {
        self.held(handle).page.id()
    }

    /// Applies `record` to the page it names and logs it. Nothing is logged
    /// when the change does not apply (the page is left as it was).
    pub fn apply(&mut self, handle: PageHandle, record: &Record<'_>) -> Result<(), MtrError> {
        let held = self.held_mut(handle);
        let id = held.page.id();
        assert_eq!(
            record.page(),
            Some(id),
            "record for another page than the handle's"
        );
        record.apply(held.page.bytes_mut()).map_err(|e| match e {
            RecordError::Apply { source, .. } => MtrError::Node { page: id, source },
            source => MtrError::Record { page: id, source },
        })?;
        held.modified = true;
        record
            .encode(&mut self.records)
            .map_err(|source| MtrError::Record { page: id, source })?;
        Ok(())
    }

    /// Writes `bytes` at `offset` of a held page (a `WriteBytes` record).
    pub fn write_bytes(
        &mut self,
        handle: PageHandle,
        offset: usize,
        bytes: &[u8],
    ) -> Result<(), MtrError> {
        let page = self.page_id(handle);
        self.apply(
            handle,
            &Record::WriteBytes {
                page,
                offset: offset as u16,
                bytes,
            },
        )
    }

    pub fn has_changes(&self) -> bool {
        !self.records.is_empty()
    }

    /// Releases one page early (a latch-coupled descent lets go of parents).
    /// Only an unmodified page may be released before commit.
    pub fn release(&mut self, handle: PageHandle) {
        assert!(
            !self.held(handle).modified,
            "releasing a modified page before commit"
        );
        self.held[handle.0] = None;
    }

    /// Number of pages held (tests and assertions).
    pub fn held_count(&self) -> usize {
        self.held.iter().flatten().count()
    }

    /// Writes the mtr to the log and releases its latches. Returns the end
    /// LSN (the pages' new LSN), or the current log position when nothing
    /// changed.
    pub fn commit(mut self) -> Result<Lsn, MtrError> {
        if self.records.is_empty() {
            return Ok(self.log.appended_lsn());
        }
        Record::MtrEnd
            .encode(&mut self.records)
            .map_err(|source| MtrError::Record {
                page: PageId::new(u32::MAX, u32::MAX),
                source,
            })?;
        let pool = self.pool;
        let held = &mut self.held;
        let (_, end) = self.log.append(&self.records, |start, end| {
            for h in held.iter_mut().flatten().filter(|h| h.modified) {
                fil::set_page_lsn(h.page.bytes_mut(), end);
                pool.note_modified(&mut h.page, start, end);
            }
        })?;
        Ok(end)
    }
}

/// A copy of a page's bytes, for tests and checks.
pub fn page_copy(bytes: &[u8]) -> Box<[u8; PAGE_BYTES]> {
    let mut copy = Box::new([0u8; PAGE_BYTES]);
    copy.copy_from_slice(bytes);
    copy
}
