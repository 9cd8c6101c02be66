//! Transactions (as InnoDB's `trx0sys`, `read0read`): transaction ids, the
//! set of active read-write transactions, and read views.
//!
//! Ids. Read-write transactions get increasing ids; read-only ones get none
//! and never enter the active set (InnoDB 5.6). Ids are handed out below a
//! limit kept in the system space header, raised by `ID_LIMIT_STEP` at a
//! time in its own mtr. No wait for that mtr's durability is needed: any
//! record carrying a new id is logged after it, so redo that brings back
//! such a record brings back the raised limit too. After a restart ids
//! continue from the limit, above every id that could have been used.
//!
//! Read views. A view records, at its creation, the next id to be handed
//! out (`low_limit`: that id and above are invisible), the active ids
//! (invisible), and the smallest of them (`up_limit`: below it everything is
//! visible). A transaction always sees its own changes.
//!
//! `oldest_view_limit` is the one bound purge respects, and where replicas'
//! views will join it. Undo (`undo`), slots and history (`rseg`), locks
//! (`lock`), the transaction system with rollback and purge (`system`) and
//! row operations with MVCC and locking (`table`) build on these.

pub mod lock;
pub mod rseg;
pub mod system;
pub mod table;
pub mod undo;

pub use lock::LockError;
pub use system::{Isolation, Savepoint, Trx, TrxConfig, TrxStats, TrxSystem};
pub use table::{IndexRead, IndexSample, LockRead, Secondary, Table};

use std::collections::BTreeSet;

use crate::fsp::{self, FspError};
use crate::mtr::{Mtr, MtrError};
use crate::row::TrxId;
use crate::srv::{Engine, SYSTEM_SPACE};
use floe_rt::sync::Mutex;

/// Ids handed out per persisted raise of the limit.
pub const ID_LIMIT_STEP: u64 = 256;

#[derive(Debug, thiserror::Error)]
pub enum TrxError {
    #[error(transparent)]
    Mtr(Box<MtrError>),
    #[error(transparent)]
    Fsp(Box<FspError>),
    #[error("transaction {id} is not active")]
    NotActive { id: u64 },
    #[error(transparent)]
    Undo(Box<undo::UndoError>),
    #[error(transparent)]
    Dict(Box<crate::dict::DictError>),
    #[error(transparent)]
    Tree(Box<crate::btr::tree::TreeError>),
    #[error(transparent)]
    Row(Box<crate::row::RowError>),
    #[error(transparent)]
    Engine(Box<crate::srv::EngineError>),
    #[error(transparent)]
    Lock(LockError),
    #[error("Duplicate entry for key '{index}'")]
    Duplicate { index: String },
    #[error("Cannot execute statement in a READ ONLY transaction")]
    ReadOnly,
    #[error("cannot start a thread: {0}")]
    Thread(String),
    #[error("the table has no secondary index {index}")]
    NoIndex { index: usize },
    #[error("the transaction system has shut down")]
    ShutDown,
}

impl TrxError {
    /// MySQL's error number where one fits (the SQL layer maps the rest).
    pub fn mysql_code(&self) -> Option<u16> {
        match self {
            TrxError::Lock(e) => Some(e.mysql_code()),
            TrxError::Duplicate { .. } => Some(1062),
            TrxError::ReadOnly => Some(1792),
            _ => None,
        }
    }
}

impl From<crate::btr::tree::TreeError> for TrxError {
    fn from(e: crate::btr::tree::TreeError) -> Self {
        TrxError::Tree(Box::new(e))
    }
}

impl From<crate::row::RowError> for TrxError {
    fn from(e: crate::row::RowError) -> Self {
        TrxError::Row(Box::new(e))
    }
}

impl From<crate::srv::EngineError> for TrxError {
    fn from(e: crate::srv::EngineError) -> Self {
        TrxError::Engine(Box::new(e))
    }
}

impl From<LockError> for TrxError {
    fn from(e: LockError) -> Self {
        TrxError::Lock(e)
    }
}

impl From<MtrError> for TrxError {
    fn from(e: MtrError) -> Self {
        TrxError::Mtr(Box::new(e))
    }
}

impl From<FspError> for TrxError {
    fn from(e: FspError) -> Self {
        TrxError::Fsp(Box::new(e))
    }
}

/// What one transaction may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadView {
    creator: Option<TrxId>,
    low_limit: TrxId,
    up_limit: TrxId,
    /// Active read-write ids at creation (other than the creator), sorted.
    active: Vec<TrxId>,
}

impl ReadView {
    /// Whether changes made by transaction `id` are visible to this view.
    pub fn sees(&self, id: TrxId) -> bool {
        if Some(id) == self.creator {
            return true;
        }
        if id < self.up_limit {
            return true;
        }
        if id >= self.low_limit {
            return false;
        }
        self.active.binary_search(&id).is_err()
    }

    /// The transaction took an id after its view was made: it sees itself.
    pub(crate) fn set_creator(&mut self, id: TrxId) {
        self.creator = Some(id);
    }

    /// Ids at or above this are invisible to the view.
    pub fn low_limit(&self) -> TrxId {
        self.low_limit
    }
}

struct State {
    next_id: u64,
    /// Ids below this may be handed out without raising the limit.
    persisted_limit: u64,
    active: BTreeSet<TrxId>,
    /// Open read views' up limits, for purge's bound (with multiplicity).
    views: std::collections::BTreeMap<TrxId, usize>,
}

pub struct TrxSys {
    state: Mutex<State>,
}

impl TrxSys {
    /// Loads the id limit of an open engine: ids continue from it.
    pub fn open(engine: &Engine) -> Result<Self, TrxError> {
        let mut mtr = Mtr::start(engine.pool(), engine.log());
        let limit = fsp::trx_id_limit(&mut mtr, SYSTEM_SPACE)?.max(1);
        mtr.commit()?;
        Ok(Self {
            state: Mutex::new(State {
                next_id: limit,
                persisted_limit: limit,
                active: BTreeSet::new(),
                views: std::collections::BTreeMap::new(),
            }),
        })
    }

    fn lock(&self) -> floe_rt::sync::MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Starts a read-write transaction: a new id, now active.
    pub fn begin_read_write(&self, engine: &Engine) -> Result<TrxId, TrxError> {
        let mut state = self.lock();
        if state.next_id >= state.persisted_limit {
            let limit = state.next_id + ID_LIMIT_STEP;
            let mut mtr = Mtr::start(engine.pool(), engine.log());
            fsp::set_trx_id_limit(&mut mtr, SYSTEM_SPACE, limit)?;
            mtr.commit()?;
            state.persisted_limit = limit;
        }
        let id = TrxId(state.next_id);
        state.next_id += 1;
        state.active.insert(id);
        Ok(id)
    }

    /// Ends a read-write transaction (committed or rolled back).
    pub fn end(&self, id: TrxId) -> Result<(), TrxError> {
        if self.lock().active.remove(&id) {
            Ok(())
        } else {
            Err(TrxError::NotActive { id: id.0 })
        }
    }

    /// A view for `creator` (None: a read-only transaction or statement).
    /// Close it with `close_view` when done so purge may pass it.
    pub fn open_view(&self, creator: Option<TrxId>) -> ReadView {
        let mut state = self.lock();
        let low_limit = TrxId(state.next_id);
        let active: Vec<TrxId> = state
            .active
            .iter()
            .copied()
            .filter(|&id| Some(id) != creator)
            .collect();
        let up_limit = active.first().copied().unwrap_or(low_limit);
        *state.views.entry(up_limit).or_insert(0) += 1;
        ReadView {
            creator,
            low_limit,
            up_limit,
            active,
        }
    }

    pub fn close_view(&self, view: ReadView) {
        let mut state = self.lock();
        if let Some(count) = state.views.get_mut(&view.up_limit) {
            *count -= 1;
            if *count == 0 {
                state.views.remove(&view.up_limit);
            }
        }
    }

    /// Versions written by transactions below this id are visible to every
    /// open view (each sees all ids below its up limit) and every future one
    /// (no id below the oldest active one is still running): the bound purge
    /// respects.
    pub fn oldest_view_limit(&self) -> TrxId {
        let state = self.lock();
        let oldest_active = state
            .active
            .first()
            .copied()
            .unwrap_or(TrxId(state.next_id));
        state
            .views
            .keys()
            .next()
            .copied()
            .map_or(oldest_active, |v| v.min(oldest_active))
    }

    pub fn is_active(&self, id: TrxId) -> bool {
        self.lock().active.contains(&id)
    }

    pub fn active_count(&self) -> usize {
        self.lock().active.len()
    }
}

#[cfg(test)]
mod tests;
