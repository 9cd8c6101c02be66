//! `MemStore`: a `FileStore` of `MemDevice`s for tests and benchmarks,
//! whose files lose power together. `crash_after_writes(n)` counts writes
//! across every file; the n-th write lands in its device's cache and then
//! every device crashes, as a power cut would. `restart(mode)` brings each
//! file back under `mode` (lost, kept or torn unflushed writes), from seeds
//! derived from the store's seed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use floe_blk::{
    BlockDevice, BlockOp, BlockQueue, Completion, CrashMode, Geometry, MemDevice, SubmitError, Tag,
};
use floe_rt::sync::Mutex;
use floe_rt::DmaBuffer;

use super::{FileStore, Space, StoreError};

struct Power {
    /// Writes left before the power cut; `u64::MAX` when none is planned.
    writes_left: AtomicU64,
    crashed: AtomicBool,
    files: Mutex<BTreeMap<String, MemDevice>>,
}

impl Power {
    /// Counts a write against the plan; true for the write the cut hits.
    fn is_the_cut_write(&self, op: BlockOp) -> bool {
        if !matches!(op, BlockOp::Write { .. }) {
            return false;
        }
        let previous = self
            .writes_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| match left {
                u64::MAX | 0 => None,
                n => Some(n - 1),
            })
            .unwrap_or(u64::MAX);
        previous == 1
    }

    fn cut(&self) {
        self.crashed.store(true, Ordering::SeqCst);
        let files = self.files.lock();
        for device in files.values() {
            device.crash_now();
        }
    }
}

#[derive(Clone)]
pub struct MemStore {
    power: Arc<Power>,
    block_bytes: u32,
    atomic_write_bytes: u32,
    seed: u64,
    next_seed: Arc<AtomicU64>,
}

impl MemStore {
    /// Files get `block_bytes` blocks and promise `atomic_write_bytes`.
    pub fn new(block_bytes: u32, atomic_write_bytes: u32, seed: u64) -> Self {
        Self {
            power: Arc::new(Power {
                writes_left: AtomicU64::new(u64::MAX),
                crashed: AtomicBool::new(false),
                files: Mutex::new(BTreeMap::new()),
            }),
            block_bytes,
            atomic_write_bytes,
            seed,
            next_seed: Arc::new(AtomicU64::new(seed)),
        }
    }

    fn derive_seed(&self) -> u64 {
        let n = self
            .next_seed
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        n ^ (n >> 29)
    }

    /// Cuts power during the `n`-th write (1 = the next one) to any file.
    pub fn crash_after_writes(&self, n: u64) {
        assert!(n >= 1);
        self.power.writes_left.store(n, Ordering::SeqCst);
    }

    pub fn crash_now(&self) {
        self.power.cut();
    }

    pub fn is_crashed(&self) -> bool {
        self.power.crashed.load(Ordering::SeqCst)
    }

    /// Writes carried out so far, over all files.
    pub fn write_count(&self) -> u64 {
        let files = self.power.files.lock();
        files.values().map(|d| d.counters().writes).sum()
    }

    /// The device behind a file, for injecting faults into it.
    pub fn mem_device(&self, name: &str) -> Option<MemDevice> {
        self.power.files.lock().get(name).cloned()
    }

    /// The store after power returns: each file restarted under `mode`.
    pub fn restart(&self, mode: CrashMode) -> MemStore {
        self.power.cut();
        let restarted = MemStore::new(
            self.block_bytes,
            self.atomic_write_bytes,
            self.derive_seed(),
        );
        let files = self.power.files.lock();
        let mut new_files = restarted.power.files.lock();
        for (name, device) in files.iter() {
            new_files.insert(name.clone(), device.restart(mode));
        }
        drop(new_files);
        restarted
    }

    fn wrap(&self, device: MemDevice) -> Arc<dyn BlockDevice> {
        Arc::new(PowerDevice {
            device,
            power: Arc::clone(&self.power),
        })
    }
}

impl FileStore for MemStore {
    fn create(
        &self,
        name: &str,
        capacity_bytes: u64,
        _space: Space,
    ) -> Result<Arc<dyn BlockDevice>, StoreError> {
        if self.is_crashed() {
            return Err(StoreError::Crashed);
        }
        let block_bytes = u64::from(self.block_bytes);
        let geometry = Geometry {
            block_bytes: self.block_bytes,
            atomic_write_bytes: self.atomic_write_bytes,
            capacity_blocks: capacity_bytes.div_ceil(block_bytes).max(1),
        };
        let device =
            MemDevice::new(geometry, self.derive_seed()).map_err(|source| StoreError::Create {
                name: name.to_string(),
                capacity_bytes,
                source,
            })?;
        let mut files = self.power.files.lock();
        if files.contains_key(name) {
            return Err(StoreError::Exists {
                name: name.to_string(),
            });
        }
        files.insert(name.to_string(), device.clone());
        drop(files);
        Ok(self.wrap(device))
    }

    fn open(&self, name: &str) -> Result<Option<Arc<dyn BlockDevice>>, StoreError> {
        if self.is_crashed() {
            return Err(StoreError::Crashed);
        }
        let files = self.power.files.lock();
        let device = files.get(name).cloned();
        drop(files);
        Ok(device.map(|d| self.wrap(d)))
    }

    fn remove(&self, name: &str) -> Result<(), StoreError> {
        if self.is_crashed() {
            return Err(StoreError::Crashed);
        }
        let mut files = self.power.files.lock();
        files.remove(name);
        Ok(())
    }

    fn list(&self) -> Result<Vec<String>, StoreError> {
        let files = self.power.files.lock();
        Ok(files.keys().cloned().collect())
    }

    fn describe(&self) -> String {
        format!("memory store (seed {})", self.seed)
    }
}

/// A file of the store: counts writes against the shared power plan.
struct PowerDevice {
    device: MemDevice,
    power: Arc<Power>,
}

impl BlockDevice for PowerDevice {
    fn geometry(&self) -> Geometry {
        self.device.geometry()
    }

    fn open_queue(&self, depth: u32) -> Result<Box<dyn BlockQueue>, floe_blk::Error> {
        Ok(Box::new(PowerQueue {
            inner: self.device.open_queue(depth)?,
            device: self.device.clone(),
            power: Arc::clone(&self.power),
        }))
    }

    fn describe(&self) -> String {
        self.device.describe()
    }

    fn run(
        &self,
        op: BlockOp,
        buffer: Option<DmaBuffer>,
    ) -> Result<Option<DmaBuffer>, floe_blk::Error> {
        if self.power.is_the_cut_write(op) {
            // As PowerQueue::submit.
            self.device.crash_after_writes(1);
            let result = self.device.run(op, buffer);
            self.power.cut();
            return result;
        }
        self.device.run(op, buffer)
    }
}

struct PowerQueue {
    inner: Box<dyn BlockQueue>,
    device: MemDevice,
    power: Arc<Power>,
}

impl BlockQueue for PowerQueue {
    fn submit(
        &mut self,
        op: BlockOp,
        buffer: Option<DmaBuffer>,
        tag: Tag,
    ) -> Result<(), SubmitError> {
        if self.power.is_the_cut_write(op) {
            // This write is the one the power cut interrupts: it lands in
            // the cache (whole or torn, decided at restart), then every
            // file of the store goes dark.
            self.device.crash_after_writes(1);
            let result = self.inner.submit(op, buffer, tag);
            self.power.cut();
            return result;
        }
        self.inner.submit(op, buffer, tag)
    }

    fn poll(&mut self, completions: &mut Vec<Completion>, max: usize) -> usize {
        self.inner.poll(completions, max)
    }

    fn in_flight(&self) -> usize {
        self.inner.in_flight()
    }
}
