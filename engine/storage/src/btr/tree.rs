//! A B+tree over the buffer pool. Keys and payloads are byte strings; keys
//! compare bytewise (the row layer encodes them so that bytewise order is
//! the SQL order). The root page never moves: a root split moves the root's
//! records into two new children.
//!
//! Internal nodes: a record per child, payload = child page number (u32 LE),
//! key = the smallest key the child may hold; slot 0's key is always empty
//! (minus infinity). Every level is a doubly linked list (prev/next).
//!
//! Concurrency (latch coupling, no tree-wide latch):
//! - Readers S-latch from the root down, taking the child before releasing
//!   the parent.
//! - Writers first try optimistically: S-latch down to the leaf's parent,
//!   X-latch the leaf, and change it if that needs no split.
//! - Otherwise they X-latch from the root down, releasing every ancestor
//!   above a node that can absorb one more separator ("safe"), and split
//!   bottom-up within one mtr. Siblings are latched left to right only.
//! - Cursors hold no latch between batches: each batch re-descends to the
//!   leaf holding the next key, using the bounds its parent records.
//!
//! Not yet done: merging underfull nodes. A delete leaves its leaf in place
//! (even empty); the space is reused by later inserts into its key range.

use std::borrow::Cow;
use std::ops::Bound;

use super::node::{self, NodeError, MAX_RECORD_BYTES};
use crate::buf::{BufError, BufferPool, PageMut, PageRef};
use crate::fil::{Lsn, PageId, PageNo, PageType};
use crate::fsp::{self, FspError};
use crate::log::record::Record;
use crate::log::writer::LogWriter;
use crate::mtr::{Mtr, MtrError, PageHandle};

/// The longest key a tree accepts (as InnoDB's 3072-byte index prefix, scaled
/// to keep four separators per internal node).
pub const MAX_KEY_BYTES: usize = 1024;
const CHILD_BYTES: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("key of {key_bytes} bytes exceeds the limit of {MAX_KEY_BYTES}")]
    KeyTooLarge { key_bytes: usize },
    #[error(
        "record of {record_bytes} bytes (key and value) exceeds the limit of {MAX_RECORD_BYTES}"
    )]
    RecordTooLarge { record_bytes: usize },
    #[error("duplicate key in index {index_id}")]
    Duplicate { index_id: u64 },
    #[error("index {index_id}, {page}: {what}")]
    Corrupt {
        index_id: u64,
        page: PageId,
        what: String,
    },
    #[error(transparent)]
    Buf(#[from] BufError),
    #[error(transparent)]
    Mtr(#[from] MtrError),
    #[error(transparent)]
    Fsp(#[from] FspError),
}

impl TreeError {
    fn node(index_id: u64, page: PageId, error: NodeError) -> Self {
        TreeError::Corrupt {
            index_id,
            page,
            what: error.to_string(),
        }
    }
}

/// Where a tree lives and which index it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tree {
    pub index_id: u64,
    pub root: PageId,
}

/// What the engine hands a tree operation.
#[derive(Clone, Copy)]
pub struct TreeEnv<'a> {
    pub pool: &'a BufferPool,
    pub log: &'a LogWriter,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

/// What `Tree::modify` does with the record under its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change<'a> {
    /// Leave it as it is (or absent).
    Keep,
    /// Insert or replace it with this payload.
    Put(Cow<'a, [u8]>),
    /// Remove it (nothing when absent).
    Delete,
}

/// What `Tree::modify` asks about the record it found.
type Decide<'f, 'a> = dyn FnMut(Option<&[u8]>) -> Result<Change<'a>, TreeError> + 'f;

fn check_record_size(key: &[u8], payload: &[u8]) -> Result<(), TreeError> {
    if key.len() + payload.len() > MAX_RECORD_BYTES {
        return Err(TreeError::RecordTooLarge {
            record_bytes: key.len() + payload.len(),
        });
    }
    Ok(())
}

/// Counts from a full check of a tree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TreeShape {
    pub height: u16,
    pub leaf_pages: u64,
    pub internal_pages: u64,
    pub records: u64,
}

fn child_of(index_id: u64, page: PageId, bytes: &[u8], slot: usize) -> Result<PageNo, TreeError> {
    let (_, payload) = node::record(bytes, slot).map_err(|e| TreeError::node(index_id, page, e))?;
    let Ok(child) = <[u8; 4]>::try_from(payload) else {
        return Err(TreeError::Corrupt {
            index_id,
            page,
            what: format!("child pointer of {} bytes in slot {slot}", payload.len()),
        });
    };
    let child = PageNo(u32::from_le_bytes(child));
    if child.is_null() || child == page.page {
        return Err(TreeError::Corrupt {
            index_id,
            page,
            what: format!("child pointer {} in slot {slot}", child.0),
        });
    }
    Ok(child)
}

/// The slot of the child whose range holds `key` in an internal node.
fn child_slot(index_id: u64, page: PageId, bytes: &[u8], key: &[u8]) -> Result<usize, TreeError> {
    match node::search(bytes, key).map_err(|e| TreeError::node(index_id, page, e))? {
        Ok(slot) => Ok(slot),
        Err(0) => Ok(0),
        Err(slot) => Ok(slot - 1),
    }
}

/// The slot of the child that holds the largest key *below* `key`.
fn child_slot_before(
    index_id: u64,
    page: PageId,
    bytes: &[u8],
    key: &[u8],
) -> Result<usize, TreeError> {
    match node::search(bytes, key).map_err(|e| TreeError::node(index_id, page, e))? {
        Ok(0) | Err(0) => Ok(0),
        Ok(slot) | Err(slot) => Ok(slot - 1),
    }
}

impl Tree {
    /// Creates an empty tree (its root a leaf) in `space` within `mtr`.
    pub fn create(
        mtr: &mut Mtr<'_>,
        space: crate::fil::SpaceId,
        index_id: u64,
    ) -> Result<Tree, TreeError> {
        let page = fsp::allocate(mtr, space)?;
        let root = PageId { space, page };
        mtr.create_page(root, PageType::Index, index_id, 0)?;
        Ok(Tree { index_id, root })
    }

    fn check_page(
        &self,
        id: PageId,
        bytes: &[u8],
        expected_level: Option<u16>,
    ) -> Result<u16, TreeError> {
        if crate::fil::page_type(bytes) != Some(PageType::Index) {
            return Err(TreeError::Corrupt {
                index_id: self.index_id,
                page: id,
                what: "not an index page".into(),
            });
        }
        if node::index_id(bytes) != self.index_id {
            return Err(TreeError::Corrupt {
                index_id: self.index_id,
                page: id,
                what: format!("page belongs to index {}", node::index_id(bytes)),
            });
        }
        let level = node::level(bytes);
        if let Some(expected) = expected_level {
            if level != expected {
                return Err(TreeError::Corrupt {
                    index_id: self.index_id,
                    page: id,
                    what: format!("level {level}, parent expects {expected}"),
                });
            }
        }
        Ok(level)
    }

    fn child_id(&self, page: PageNo) -> PageId {
        PageId {
            space: self.root.space,
            page,
        }
    }

    /// Calls `read` with the payload stored under `key`, if any.
    pub fn get<R>(
        &self,
        env: TreeEnv<'_>,
        key: &[u8],
        read: impl FnOnce(&[u8]) -> R,
    ) -> Result<Option<R>, TreeError> {
        let mut page = env.pool.fix(self.root)?;
        let mut expected = None;
        loop {
            let id = page.id();
            let level = self.check_page(id, page.bytes(), expected)?;
            if level == 0 {
                return match node::search(page.bytes(), key)
                    .map_err(|e| TreeError::node(self.index_id, id, e))?
                {
                    Ok(slot) => {
                        let (_, payload) = node::record(page.bytes(), slot)
                            .map_err(|e| TreeError::node(self.index_id, id, e))?;
                        Ok(Some(read(payload)))
                    }
                    Err(_) => Ok(None),
                };
            }
            let slot = child_slot(self.index_id, id, page.bytes(), key)?;
            let child = child_of(self.index_id, id, page.bytes(), slot)?;
            let child_page = env.pool.fix(self.child_id(child))?;
            page = child_page;
            expected = Some(level - 1);
        }
    }

    /// The leaf that holds `key`, X-latched, found with S latches above it.
    /// `None` when the tree changed shape under us (retry).
    fn leaf_for_update<'p>(
        &self,
        pool: &'p BufferPool,
        key: &[u8],
    ) -> Result<Option<PageMut<'p>>, TreeError> {
        let root = pool.fix(self.root)?;
        let root_level = self.check_page(self.root, root.bytes(), None)?;
        if root_level == 0 {
            drop(root);
            let root = pool.fix_mut(self.root)?;
            let level = self.check_page(self.root, root.bytes(), None)?;
            return Ok((level == 0).then_some(root));
        }
        let mut page: PageRef<'p> = root;
        let mut level = root_level;
        loop {
            let id = page.id();
            let slot = child_slot(self.index_id, id, page.bytes(), key)?;
            let child = self.child_id(child_of(self.index_id, id, page.bytes(), slot)?);
            if level == 1 {
                let leaf = pool.fix_mut(child)?;
                drop(page);
                self.check_page(child, leaf.bytes(), Some(0))?;
                return Ok(Some(leaf));
            }
            let next = pool.fix(child)?;
            drop(page);
            self.check_page(child, next.bytes(), Some(level - 1))?;
            page = next;
            level -= 1;
        }
    }

    pub fn insert(&self, env: TreeEnv<'_>, key: &[u8], payload: &[u8]) -> Result<Lsn, TreeError> {
        let index_id = self.index_id;
        self.modify(env, key, |old| match old {
            Some(_) => Err(TreeError::Duplicate { index_id }),
            None => Ok(Change::Put(Cow::Borrowed(payload))),
        })
        .map(|lsn| lsn.expect("insert always writes"))
    }

    /// Replaces the payload of an existing key; `None` if the key is absent.
    pub fn update(
        &self,
        env: TreeEnv<'_>,
        key: &[u8],
        payload: &[u8],
    ) -> Result<Option<Lsn>, TreeError> {
        self.modify(env, key, |old| {
            Ok(match old {
                Some(_) => Change::Put(Cow::Borrowed(payload)),
                None => Change::Keep,
            })
        })
    }

    pub fn upsert(&self, env: TreeEnv<'_>, key: &[u8], payload: &[u8]) -> Result<Lsn, TreeError> {
        self.modify(env, key, |_| Ok(Change::Put(Cow::Borrowed(payload))))
            .map(|lsn| lsn.expect("upsert always writes"))
    }

    /// Reads and changes the record under `key` atomically: `decide` sees
    /// the current payload (or `None`) under the leaf's X latch and says
    /// what to do. It may be called more than once (the optimistic attempt
    /// can give way to a pessimistic one); the last call's answer is done.
    /// Returns the change's LSN, `None` when nothing changed.
    pub fn modify<'a>(
        &self,
        env: TreeEnv<'_>,
        key: &[u8],
        mut decide: impl FnMut(Option<&[u8]>) -> Result<Change<'a>, TreeError>,
    ) -> Result<Option<Lsn>, TreeError> {
        if key.len() > MAX_KEY_BYTES {
            return Err(TreeError::KeyTooLarge {
                key_bytes: key.len(),
            });
        }
        // Optimistic: the leaf alone.
        loop {
            let Some(leaf) = self.leaf_for_update(env.pool, key)? else {
                continue;
            };
            let id = leaf.id();
            let found = node::search(leaf.bytes(), key)
                .map_err(|e| TreeError::node(self.index_id, id, e))?;
            let old = match found {
                Ok(slot) => Some(
                    node::record(leaf.bytes(), slot)
                        .map_err(|e| TreeError::node(self.index_id, id, e))?,
                ),
                Err(_) => None,
            };
            let change = decide(old.map(|(_, payload)| payload))?;
            let payload = match (&change, found) {
                (Change::Keep, _) | (Change::Delete, Err(_)) => return Ok(None),
                (Change::Delete, Ok(slot)) => {
                    let mut mtr = Mtr::start(env.pool, env.log);
                    let handle = mtr.adopt(leaf);
                    mtr.apply(
                        handle,
                        &Record::NodeDelete {
                            page: id,
                            slot: slot as u16,
                        },
                    )?;
                    return Ok(Some(mtr.commit()?));
                }
                (Change::Put(payload), _) => payload,
            };
            check_record_size(key, payload)?;
            let fits = match old {
                Some((old_key, old_payload)) => {
                    old_payload.len() >= payload.len()
                        || node::free_bytes(leaf.bytes())
                            >= payload.len() - old_payload.len() + old_key.len() + 6
                }
                None => node::fits(leaf.bytes(), key.len(), payload.len()),
            };
            if !fits {
                break;
            }
            let mut mtr = Mtr::start(env.pool, env.log);
            let handle = mtr.adopt(leaf);
            match found {
                Ok(slot) => mtr.apply(
                    handle,
                    &Record::NodeUpdate {
                        page: id,
                        slot: slot as u16,
                        payload,
                    },
                )?,
                Err(slot) => mtr.apply(
                    handle,
                    &Record::NodeInsert {
                        page: id,
                        slot: slot as u16,
                        key,
                        payload,
                    },
                )?,
            }
            return Ok(Some(mtr.commit()?));
        }
        self.modify_pessimistic(env, key, &mut decide)
    }

    /// X-latches the path from the lowest unsafe ancestor down to the leaf.
    fn modify_pessimistic<'a>(
        &self,
        env: TreeEnv<'_>,
        key: &[u8],
        decide: &mut Decide<'_, 'a>,
    ) -> Result<Option<Lsn>, TreeError> {
        let mut mtr = Mtr::start(env.pool, env.log);
        let mut path: Vec<PageHandle> = Vec::new();
        let root = env.pool.fix_mut(self.root)?;
        let mut level = self.check_page(self.root, root.bytes(), None)?;
        path.push(mtr.adopt(root));
        // Room for the largest record this key can carry: the payload is
        // decided only at the leaf.
        let room = MAX_RECORD_BYTES - key.len().min(MAX_RECORD_BYTES);
        while level > 0 {
            let parent = *path.last().expect("path holds the parent");
            let parent_id = mtr.page_id(parent);
            let slot = child_slot(self.index_id, parent_id, mtr.page(parent), key)?;
            let child_id =
                self.child_id(child_of(self.index_id, parent_id, mtr.page(parent), slot)?);
            let child = env.pool.fix_mut(child_id)?;
            level = self.check_page(child_id, child.bytes(), Some(level - 1))?;
            let safe = if level == 0 {
                node::fits(child.bytes(), key.len(), room)
            } else {
                node::fits(child.bytes(), MAX_KEY_BYTES, CHILD_BYTES)
            };
            if safe {
                for handle in path.drain(..) {
                    mtr.release(handle);
                }
            }
            path.push(mtr.adopt(child));
        }
        let leaf = *path.last().expect("path holds the leaf");
        let leaf_id = mtr.page_id(leaf);
        let found = node::search(mtr.page(leaf), key)
            .map_err(|e| TreeError::node(self.index_id, leaf_id, e))?;
        let change = match found {
            Ok(slot) => {
                let (_, old) = node::record(mtr.page(leaf), slot)
                    .map_err(|e| TreeError::node(self.index_id, leaf_id, e))?;
                decide(Some(old))?
            }
            Err(_) => decide(None)?,
        };
        let payload = match (change, found) {
            (Change::Keep, _) | (Change::Delete, Err(_)) => return Ok(None),
            (Change::Delete, Ok(slot)) => {
                mtr.apply(
                    leaf,
                    &Record::NodeDelete {
                        page: leaf_id,
                        slot: slot as u16,
                    },
                )?;
                return Ok(Some(mtr.commit()?));
            }
            (Change::Put(payload), _) => payload,
        };
        check_record_size(key, &payload)?;
        if let Ok(slot) = found {
            // Replace = delete + insert in this one mtr.
            mtr.apply(
                leaf,
                &Record::NodeDelete {
                    page: leaf_id,
                    slot: slot as u16,
                },
            )?;
        }
        self.insert_into(&mut mtr, &path, path.len() - 1, key, &payload)?;
        Ok(Some(mtr.commit()?))
    }

    /// Inserts (key, payload) into `path[at]`, splitting it (and its
    /// ancestors, which `path` holds when needed) if it is full.
    fn insert_into(
        &self,
        mtr: &mut Mtr<'_>,
        path: &[PageHandle],
        at: usize,
        key: &[u8],
        payload: &[u8],
    ) -> Result<(), TreeError> {
        let handle = path[at];
        let id = mtr.page_id(handle);
        let slot = match node::search(mtr.page(handle), key)
            .map_err(|e| TreeError::node(self.index_id, id, e))?
        {
            Ok(_) => {
                return Err(TreeError::Corrupt {
                    index_id: self.index_id,
                    page: id,
                    what: "key present where a split put its separator".into(),
                })
            }
            Err(slot) => slot,
        };
        if node::fits(mtr.page(handle), key.len(), payload.len()) {
            mtr.apply(
                handle,
                &Record::NodeInsert {
                    page: id,
                    slot: slot as u16,
                    key,
                    payload,
                },
            )?;
            return Ok(());
        }
        if id == self.root {
            return self.split_root(mtr, handle, slot, key, payload);
        }
        if at == 0 {
            return Err(TreeError::Corrupt {
                index_id: self.index_id,
                page: id,
                what: "a node released as safe needs a split".into(),
            });
        }
        let (separator, right) = self.split(mtr, handle, slot, key)?;
        let target = if key >= separator.as_slice() {
            right
        } else {
            handle
        };
        self.insert_after_split(mtr, target, key, payload)?;
        let right_no = mtr.page_id(right).page.0.to_le_bytes();
        self.insert_into(mtr, path, at - 1, &separator, &right_no)
    }

    /// Where to split a node when inserting at `slot`: the first slot that
    /// moves right. Appends at the right edge move nothing (pages fill up
    /// under ascending keys); otherwise half the bytes move.
    fn split_point(&self, bytes: &[u8], slot: usize) -> usize {
        let count = node::count(bytes);
        assert!(
            count >= 3,
            "splitting a node of {count} records: records are at most a quarter page"
        );
        if slot == count && node::next(bytes).is_null() {
            return count;
        }
        let half = node::used_bytes(bytes) / 2;
        let mut used = 0;
        for s in 0..count {
            let (key, payload) = node::record(bytes, s).unwrap_or((&[], &[]));
            used += node::record_footprint(key.len(), payload.len());
            if used >= half {
                return (s + 1).clamp(1, count - 1);
            }
        }
        count / 2
    }

    /// Moves records `from..` of `source` into `target` (empty), at level `level`.
    fn move_records(
        &self,
        mtr: &mut Mtr<'_>,
        source: PageHandle,
        from: usize,
        target: PageHandle,
        internal: bool,
    ) -> Result<(), TreeError> {
        let source_id = mtr.page_id(source);
        let target_id = mtr.page_id(target);
        let count = node::count(mtr.page(source));
        for (index, s) in (from..count).enumerate() {
            let (key, payload) = {
                let (key, payload) = node::record(mtr.page(source), s)
                    .map_err(|e| TreeError::node(self.index_id, source_id, e))?;
                (key.to_vec(), payload.to_vec())
            };
            // An internal node's first key is minus infinity.
            let key: &[u8] = if internal && index == 0 { &[] } else { &key };
            mtr.apply(
                target,
                &Record::NodeInsert {
                    page: target_id,
                    slot: index as u16,
                    key,
                    payload: &payload,
                },
            )?;
        }
        mtr.apply(
            source,
            &Record::NodeTruncate {
                page: source_id,
                from_slot: from as u16,
            },
        )?;
        Ok(())
    }

    /// Splits a non-root node; returns the separator and the new right node.
    fn split(
        &self,
        mtr: &mut Mtr<'_>,
        handle: PageHandle,
        slot: usize,
        key: &[u8],
    ) -> Result<(Vec<u8>, PageHandle), TreeError> {
        let id = mtr.page_id(handle);
        let bytes = mtr.page(handle);
        let level = node::level(bytes);
        let old_next = node::next(bytes);
        let old_prev = node::prev(bytes);
        let at = self.split_point(bytes, slot);
        let count = node::count(bytes);
        let separator = if at < count {
            node::key(bytes, at)
                .map_err(|e| TreeError::node(self.index_id, id, e))?
                .to_vec()
        } else {
            key.to_vec() // an append: the new key goes right, alone
        };
        let right_no = fsp::allocate(mtr, id.space)?;
        let right_id = PageId {
            space: id.space,
            page: right_no,
        };
        let right = mtr.create_page(right_id, PageType::Index, self.index_id, level)?;
        self.move_records(mtr, handle, at, right, level > 0)?;
        mtr.apply(
            right,
            &Record::NodeLinks {
                page: right_id,
                prev: id.page.0,
                next: old_next.0,
            },
        )?;
        mtr.apply(
            handle,
            &Record::NodeLinks {
                page: id,
                prev: old_prev.0,
                next: right_no.0,
            },
        )?;
        if !old_next.is_null() {
            let next_id = PageId {
                space: id.space,
                page: old_next,
            };
            let next = mtr.latch(next_id)?;
            let next_next = node::next(mtr.page(next));
            mtr.apply(
                next,
                &Record::NodeLinks {
                    page: next_id,
                    prev: right_no.0,
                    next: next_next.0,
                },
            )?;
        }
        Ok((separator, right))
    }

    /// Splits the root: its records move into two new children and the
    /// root becomes their parent, one level higher.
    fn split_root(
        &self,
        mtr: &mut Mtr<'_>,
        root: PageHandle,
        slot: usize,
        key: &[u8],
        payload: &[u8],
    ) -> Result<(), TreeError> {
        let bytes = mtr.page(root);
        let level = node::level(bytes);
        let at = self.split_point(bytes, slot);
        let count = node::count(bytes);
        let separator: Vec<u8> = if at < count {
            node::key(bytes, at)
                .map_err(|e| TreeError::node(self.index_id, self.root, e))?
                .to_vec()
        } else {
            key.to_vec()
        };
        let space = self.root.space;
        let left_id = PageId {
            space,
            page: fsp::allocate(mtr, space)?,
        };
        let left = mtr.create_page(left_id, PageType::Index, self.index_id, level)?;
        let right_id = PageId {
            space,
            page: fsp::allocate(mtr, space)?,
        };
        let right = mtr.create_page(right_id, PageType::Index, self.index_id, level)?;
        // Left gets 0..at, right gets at..: move right first, then the rest.
        self.move_records(mtr, root, at, right, level > 0)?;
        self.move_records(mtr, root, 0, left, level > 0)?;
        mtr.apply(
            left,
            &Record::NodeLinks {
                page: left_id,
                prev: PageNo::NULL.0,
                next: right_id.page.0,
            },
        )?;
        mtr.apply(
            right,
            &Record::NodeLinks {
                page: right_id,
                prev: left_id.page.0,
                next: PageNo::NULL.0,
            },
        )?;
        mtr.apply(
            root,
            &Record::PageInit {
                page: self.root,
                page_type: PageType::Index,
                index_id: self.index_id,
                level: level + 1,
            },
        )?;
        mtr.apply(
            root,
            &Record::NodeInsert {
                page: self.root,
                slot: 0,
                key: &[],
                payload: &left_id.page.0.to_le_bytes(),
            },
        )?;
        mtr.apply(
            root,
            &Record::NodeInsert {
                page: self.root,
                slot: 1,
                key: &separator,
                payload: &right_id.page.0.to_le_bytes(),
            },
        )?;
        let target = if key >= separator.as_slice() {
            right
        } else {
            left
        };
        self.insert_after_split(mtr, target, key, payload)
    }

    /// Inserts into one half of a split node, which has room by construction.
    /// The first record of an internal node gets the empty key (minus infinity).
    fn insert_after_split(
        &self,
        mtr: &mut Mtr<'_>,
        target: PageHandle,
        key: &[u8],
        payload: &[u8],
    ) -> Result<(), TreeError> {
        let target_id = mtr.page_id(target);
        let bytes = mtr.page(target);
        let slot = match node::search(bytes, key)
            .map_err(|e| TreeError::node(self.index_id, target_id, e))?
        {
            Ok(_) => {
                return Err(TreeError::Corrupt {
                    index_id: self.index_id,
                    page: target_id,
                    what: "key present in a half of its own split".into(),
                })
            }
            Err(slot) => slot,
        };
        let key: &[u8] = if !node::is_leaf(bytes) && node::count(bytes) == 0 {
            &[]
        } else {
            key
        };
        mtr.apply(
            target,
            &Record::NodeInsert {
                page: target_id,
                slot: slot as u16,
                key,
                payload,
            },
        )?;
        Ok(())
    }

    /// Deletes `key`; `None` if it was absent. Leaves are not merged.
    pub fn delete(&self, env: TreeEnv<'_>, key: &[u8]) -> Result<Option<Lsn>, TreeError> {
        loop {
            let Some(leaf) = self.leaf_for_update(env.pool, key)? else {
                continue;
            };
            let id = leaf.id();
            let Ok(slot) = node::search(leaf.bytes(), key)
                .map_err(|e| TreeError::node(self.index_id, id, e))?
            else {
                return Ok(None);
            };
            let mut mtr = Mtr::start(env.pool, env.log);
            let handle = mtr.adopt(leaf);
            mtr.apply(
                handle,
                &Record::NodeDelete {
                    page: id,
                    slot: slot as u16,
                },
            )?;
            return Ok(Some(mtr.commit()?));
        }
    }

    /// Frees every page of a tree nobody uses any more (a dropped index).
    /// Pages are collected under S latches, then freed in mtrs of up to 64.
    pub fn free_pages(&self, env: TreeEnv<'_>) -> Result<u64, TreeError> {
        let mut pages = Vec::new();
        let mut pending = vec![self.root];
        while let Some(id) = pending.pop() {
            let page = env.pool.fix(id)?;
            self.check_page(id, page.bytes(), None)?;
            if !node::is_leaf(page.bytes()) {
                for slot in 0..node::count(page.bytes()) {
                    pending.push(self.child_id(child_of(self.index_id, id, page.bytes(), slot)?));
                }
            }
            pages.push(id);
        }
        for chunk in pages.chunks(64) {
            let mut mtr = Mtr::start(env.pool, env.log);
            for &id in chunk {
                fsp::free(&mut mtr, id)?;
            }
            mtr.commit()?;
        }
        Ok(pages.len() as u64)
    }

    /// Leaves picked by random dives from the root (InnoDB's transient
    /// statistics): `dives` root-to-leaf paths, each taking a random child
    /// at every level. The product of the fan-outs along a path is an
    /// unbiased estimate of the number of leaves (Knuth's estimator); the
    /// mean over the paths is `leaf_pages`. A tree with at most `dives`
    /// leaves under a level-1 root (or a leaf root) is read whole instead,
    /// and the figures are exact. Latches are coupled as in `get`; nothing
    /// stays latched between leaves, so a sample is a snapshot of no single
    /// moment (as InnoDB's).
    pub fn sample(
        &self,
        env: TreeEnv<'_>,
        dives: usize,
        seed: u64,
    ) -> Result<TreeSample, TreeError> {
        let leaf_records = |page: &PageRef<'_>| -> Result<Vec<Entry>, TreeError> {
            let id = page.id();
            (0..node::count(page.bytes()))
                .map(|slot| {
                    let (k, p) = node::record(page.bytes(), slot)
                        .map_err(|e| TreeError::node(self.index_id, id, e))?;
                    Ok((k.to_vec(), p.to_vec()))
                })
                .collect()
        };
        let root = env.pool.fix(self.root)?;
        let height = self.check_page(self.root, root.bytes(), None)?;
        if height == 0 {
            return Ok(TreeSample {
                leaf_pages: 1.0,
                leaves: vec![leaf_records(&root)?],
                exact: true,
            });
        }
        let fanout = node::count(root.bytes());
        if height == 1 && fanout <= dives.max(1) {
            let mut leaves = Vec::with_capacity(fanout);
            for slot in 0..fanout {
                let child = self.child_id(child_of(self.index_id, self.root, root.bytes(), slot)?);
                let leaf = env.pool.fix(child)?;
                self.check_page(child, leaf.bytes(), Some(0))?;
                leaves.push(leaf_records(&leaf)?);
            }
            return Ok(TreeSample {
                leaf_pages: fanout as f64,
                leaves,
                exact: true,
            });
        }
        drop(root);
        let mut rng = crate::util::rng::Rng(seed ^ self.index_id.rotate_left(17));
        let mut estimate = 0.0;
        let mut leaves = Vec::with_capacity(dives);
        for _ in 0..dives.max(1) {
            let mut page = env.pool.fix(self.root)?;
            let mut level = self.check_page(self.root, page.bytes(), None)?;
            let mut product = 1.0f64;
            while level > 0 {
                let id = page.id();
                let count = node::count(page.bytes());
                if count == 0 {
                    return Err(TreeError::Corrupt {
                        index_id: self.index_id,
                        page: id,
                        what: "internal node without children".into(),
                    });
                }
                product *= count as f64;
                let slot = rng.below(count as u64) as usize;
                let child = self.child_id(child_of(self.index_id, id, page.bytes(), slot)?);
                let next = env.pool.fix(child)?;
                page = next;
                level = self.check_page(child, page.bytes(), Some(level - 1))?;
            }
            estimate += product;
            leaves.push(leaf_records(&page)?);
        }
        Ok(TreeSample {
            leaf_pages: estimate / leaves.len() as f64,
            leaves,
            exact: false,
        })
    }

    /// A cursor over keys within (`lower`, `upper`) in `direction`.
    pub fn scan<'e>(
        &self,
        env: TreeEnv<'e>,
        lower: Bound<Vec<u8>>,
        upper: Bound<Vec<u8>>,
        direction: Direction,
    ) -> Cursor<'e> {
        Cursor {
            tree: *self,
            env,
            lower,
            upper,
            direction,
            batch: Vec::new(),
            next_in_batch: 0,
            done: false,
        }
    }

    /// The first key above `key`, or `None` past the last one: one descent
    /// (more only past empty leaves) and one copy, where a cursor would
    /// copy the rest of the leaf. Inserts ask it for their successor.
    pub fn next_key(&self, env: TreeEnv<'_>, key: &[u8]) -> Result<Option<Vec<u8>>, TreeError> {
        let cursor = self.scan(
            env,
            Bound::Excluded(key.to_vec()),
            Bound::Unbounded,
            Direction::Forward,
        );
        let mut from = key.to_vec();
        let mut above = true;
        loop {
            let Located { leaf, upper, .. } = cursor.descend(Some(&from), false)?;
            let id = leaf.id();
            let bytes = leaf.bytes();
            let slot = match node::search(bytes, &from)
                .map_err(|e| TreeError::node(self.index_id, id, e))?
            {
                Ok(slot) if above => slot + 1,
                Ok(slot) | Err(slot) => slot,
            };
            if slot < node::count(bytes) {
                let next =
                    node::key(bytes, slot).map_err(|e| TreeError::node(self.index_id, id, e))?;
                return Ok(Some(next.to_vec()));
            }
            // Every key of the next leaf is at or above this leaf's upper
            // bound, which is above `key`.
            match upper {
                None => return Ok(None),
                Some(upper) => {
                    from = upper;
                    above = false;
                }
            }
        }
    }

    /// Walks the whole tree and checks every invariant: page types and
    /// levels, node structure, key order within and across nodes, child
    /// key ranges, and sibling links on every level.
    pub fn check(&self, pool: &BufferPool) -> Result<TreeShape, TreeError> {
        let mut shape = TreeShape::default();
        let mut levels: Vec<Vec<(PageId, PageNo, PageNo)>> = Vec::new();
        let root = pool.fix(self.root)?;
        let height = self.check_page(self.root, root.bytes(), None)?;
        drop(root);
        shape.height = height + 1;
        levels.resize(usize::from(height) + 1, Vec::new());
        self.check_node(pool, self.root, height, None, None, &mut shape, &mut levels)?;
        for (level, pages) in levels.iter().enumerate() {
            for (i, &(id, prev, next)) in pages.iter().enumerate() {
                let expected_prev = if i == 0 {
                    PageNo::NULL
                } else {
                    pages[i - 1].0.page
                };
                let expected_next = pages.get(i + 1).map_or(PageNo::NULL, |p| p.0.page);
                if prev != expected_prev || next != expected_next {
                    return Err(TreeError::Corrupt {
                        index_id: self.index_id,
                        page: id,
                        what: format!(
                            "level {level} links prev {} next {}, expected {} {}",
                            prev.0, next.0, expected_prev.0, expected_next.0
                        ),
                    });
                }
            }
        }
        Ok(shape)
    }

    #[allow(clippy::too_many_arguments)]
    fn check_node(
        &self,
        pool: &BufferPool,
        id: PageId,
        level: u16,
        lower: Option<&[u8]>,
        upper: Option<&[u8]>,
        shape: &mut TreeShape,
        levels: &mut [Vec<(PageId, PageNo, PageNo)>],
    ) -> Result<(), TreeError> {
        let page = pool.fix(id)?;
        let bytes = page.bytes();
        self.check_page(id, bytes, Some(level))?;
        node::check(bytes, 0).map_err(|e| TreeError::node(self.index_id, id, e))?;
        levels[usize::from(level)].push((id, node::prev(bytes), node::next(bytes)));
        let count = node::count(bytes);
        let corrupt = |what: String| TreeError::Corrupt {
            index_id: self.index_id,
            page: id,
            what,
        };
        for slot in 0..count {
            let key = node::key(bytes, slot).map_err(|e| TreeError::node(self.index_id, id, e))?;
            let bounded_below = level > 0 && slot == 0 || lower.is_none_or(|l| key >= l);
            if !bounded_below || upper.is_some_and(|u| key >= u) {
                return Err(corrupt(format!(
                    "slot {slot} key outside its parent's range"
                )));
            }
        }
        if level == 0 {
            shape.leaf_pages += 1;
            shape.records += count as u64;
            return Ok(());
        }
        shape.internal_pages += 1;
        if count == 0 {
            return Err(corrupt("internal node without children".into()));
        }
        if !node::key(bytes, 0)
            .map_err(|e| TreeError::node(self.index_id, id, e))?
            .is_empty()
        {
            return Err(corrupt("internal node's first key is not empty".into()));
        }
        let children: Vec<(Vec<u8>, PageNo)> = (0..count)
            .map(|slot| {
                Ok((
                    node::key(bytes, slot)
                        .map_err(|e| TreeError::node(self.index_id, id, e))?
                        .to_vec(),
                    child_of(self.index_id, id, bytes, slot)?,
                ))
            })
            .collect::<Result<_, TreeError>>()?;
        drop(page);
        for (slot, (key, child)) in children.iter().enumerate() {
            let child_lower = if slot == 0 {
                lower
            } else {
                Some(key.as_slice())
            };
            let child_upper = children.get(slot + 1).map(|(k, _)| k.as_slice()).or(upper);
            self.check_node(
                pool,
                self.child_id(*child),
                level - 1,
                child_lower,
                child_upper,
                shape,
                levels,
            )?;
        }
        Ok(())
    }
}

/// A (key, payload) pair handed out by a cursor.
pub type Entry = (Vec<u8>, Vec<u8>);

/// What `Tree::sample` read.
#[derive(Debug, Clone)]
pub struct TreeSample {
    /// Leaves in the tree (estimated unless `exact`).
    pub leaf_pages: f64,
    /// The records of each leaf read, in key order within a leaf; with
    /// `exact`, every leaf in key order.
    pub leaves: Vec<Vec<Entry>>,
    pub exact: bool,
}

/// A leaf found by a cursor's descent, with the key range its parents give it.
struct Located<'p> {
    leaf: PageRef<'p>,
    lower: Option<Vec<u8>>,
    upper: Option<Vec<u8>>,
}

/// Iterates a key range without holding latches between batches.
pub struct Cursor<'e> {
    tree: Tree,
    env: TreeEnv<'e>,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    direction: Direction,
    batch: Vec<Entry>,
    next_in_batch: usize,
    done: bool,
}

impl Cursor<'_> {
    /// The next (key, payload) in the range, or `None` at its end.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Entry>, TreeError> {
        while self.next_in_batch == self.batch.len() {
            if self.done {
                return Ok(None);
            }
            self.batch.clear();
            self.next_in_batch = 0;
            match self.direction {
                Direction::Forward => self.fill_forward()?,
                Direction::Backward => self.fill_backward()?,
            }
        }
        let item = std::mem::take(&mut self.batch[self.next_in_batch]);
        self.next_in_batch += 1;
        Ok(Some(item))
    }

    fn in_lower(&self, key: &[u8]) -> bool {
        match &self.lower {
            Bound::Unbounded => true,
            Bound::Included(l) => key >= l.as_slice(),
            Bound::Excluded(l) => key > l.as_slice(),
        }
    }

    fn in_upper(&self, key: &[u8]) -> bool {
        match &self.upper {
            Bound::Unbounded => true,
            Bound::Included(u) => key <= u.as_slice(),
            Bound::Excluded(u) => key < u.as_slice(),
        }
    }

    /// Descends to the leaf for `key` (or the leftmost / rightmost leaf);
    /// returns it S-latched with the key range its parents give it.
    fn descend(&self, key: Option<&[u8]>, before: bool) -> Result<Located<'_>, TreeError> {
        let tree = &self.tree;
        let pool = self.env.pool;
        let mut page = pool.fix(tree.root)?;
        let mut expected = None;
        let mut lower: Option<Vec<u8>> = None;
        let mut upper: Option<Vec<u8>> = None;
        loop {
            let id = page.id();
            let level = tree.check_page(id, page.bytes(), expected)?;
            if level == 0 {
                return Ok(Located {
                    leaf: page,
                    lower,
                    upper,
                });
            }
            let bytes = page.bytes();
            let count = node::count(bytes);
            let slot = match (key, before) {
                (Some(key), false) => child_slot(tree.index_id, id, bytes, key)?,
                (Some(key), true) => child_slot_before(tree.index_id, id, bytes, key)?,
                (None, false) => 0,
                (None, true) => count.saturating_sub(1),
            };
            if slot > 0 {
                lower = Some(
                    node::key(bytes, slot)
                        .map_err(|e| TreeError::node(tree.index_id, id, e))?
                        .to_vec(),
                );
            }
            if slot + 1 < count {
                upper = Some(
                    node::key(bytes, slot + 1)
                        .map_err(|e| TreeError::node(tree.index_id, id, e))?
                        .to_vec(),
                );
            }
            let child = child_of(tree.index_id, id, bytes, slot)?;
            let next = pool.fix(tree.child_id(child))?;
            page = next;
            expected = Some(level - 1);
        }
    }

    fn fill_forward(&mut self) -> Result<(), TreeError> {
        let start: Option<Vec<u8>> = match &self.lower {
            Bound::Unbounded => None,
            Bound::Included(k) | Bound::Excluded(k) => Some(k.clone()),
        };
        let Located {
            leaf,
            upper: leaf_upper,
            ..
        } = self.descend(start.as_deref(), false)?;
        let id = leaf.id();
        let bytes = leaf.bytes();
        let first = match &start {
            None => 0,
            Some(key) => match node::search(bytes, key)
                .map_err(|e| TreeError::node(self.tree.index_id, id, e))?
            {
                Ok(slot) | Err(slot) => slot,
            },
        };
        let mut batch = Vec::new();
        let mut reached_upper = false;
        for slot in first..node::count(bytes) {
            let (key, payload) = node::record(bytes, slot)
                .map_err(|e| TreeError::node(self.tree.index_id, id, e))?;
            if !self.in_lower(key) {
                continue;
            }
            if !self.in_upper(key) {
                reached_upper = true;
                break;
            }
            batch.push((key.to_vec(), payload.to_vec()));
        }
        drop(leaf);
        // Resume after this leaf: at its upper bound, or after the last key.
        match (reached_upper, leaf_upper) {
            (true, _) | (false, None) => self.done = true,
            (false, Some(upper)) => {
                if !self.in_upper(&upper) {
                    self.done = true;
                } else {
                    self.lower = Bound::Included(upper);
                }
            }
        }
        if let Some((last, _)) = batch.last() {
            if !self.done {
                // Keys at or past the leaf's upper bound are not in this leaf.
                debug_assert!(match &self.lower {
                    Bound::Included(u) => last < u,
                    _ => true,
                });
            }
        }
        self.batch = batch;
        Ok(())
    }

    fn fill_backward(&mut self) -> Result<(), TreeError> {
        let start: Option<Vec<u8>> = match &self.upper {
            Bound::Unbounded => None,
            Bound::Included(k) | Bound::Excluded(k) => Some(k.clone()),
        };
        let included = matches!(self.upper, Bound::Included(_));
        // For an inclusive bound the key itself may be in the leaf to its right
        // of a separator equal to it: descend as for a forward search then.
        let Located {
            leaf,
            lower: leaf_lower,
            ..
        } = self.descend(start.as_deref(), !included)?;
        let id = leaf.id();
        let bytes = leaf.bytes();
        let end = match &start {
            None => node::count(bytes),
            Some(key) => match node::search(bytes, key)
                .map_err(|e| TreeError::node(self.tree.index_id, id, e))?
            {
                Ok(slot) => slot + 1,
                Err(slot) => slot,
            },
        };
        let mut batch = Vec::new();
        let mut reached_lower = false;
        for slot in (0..end).rev() {
            let (key, payload) = node::record(bytes, slot)
                .map_err(|e| TreeError::node(self.tree.index_id, id, e))?;
            if !self.in_upper(key) {
                continue;
            }
            if !self.in_lower(key) {
                reached_lower = true;
                break;
            }
            batch.push((key.to_vec(), payload.to_vec()));
        }
        drop(leaf);
        match (reached_lower, leaf_lower) {
            (true, _) | (false, None) => self.done = true,
            (false, Some(lower)) => {
                if !self.in_lower(&lower) {
                    self.done = true;
                } else {
                    self.upper = Bound::Excluded(lower);
                }
            }
        }
        self.batch = batch;
        Ok(())
    }
}
