//! DMA buffers: aligned, zero-initialised memory that a device may read or
//! write directly. Each buffer knows its IOVA (the address a device uses);
//! with identity mapping (VFIO with IOVA = VA, or no IOMMU use at all in
//! hosted mode) the IOVA equals the virtual address.
//!
//! Buffers come from the heap ([`DmaBuffer::new`], for tests and cold paths)
//! or are carved from a [`DmaArena`]: one mapping made at start-up, on 2 MiB
//! huge pages when the host has them reserved, so the data path neither
//! allocates nor takes TLB misses across a buffer pool.
//!
//! A device behind an IOMMU may only reach memory mapped for it. Arenas are
//! made by whoever needs them (the buffer pool makes its own, without
//! naming a device), so devices learn of them through a registry, as
//! SPDK's memory maps learn of registered memory: a [`DmaRegistrar`] added
//! with [`add_registrar`] is told of every live arena at once and of every
//! later one when it is made, and of each arena's end before its memory is
//! unmapped. One IOMMU mapping per arena, made once, instead of one per I/O.

use std::alloc::{self, Layout};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use crate::error::RtError;

/// Alignment of every DMA buffer: a memory frame, which also satisfies
/// O_DIRECT (logical block size) and NVMe PRP entries (dword, frame offsets).
pub const DMA_ALIGN_BYTES: usize = 4096;

/// Size of a huge frame (x86-64 and aarch64 with 4 KiB base frames).
pub const HUGE_FRAME_BYTES: usize = 2 * 1024 * 1024;

const _: () = assert!(HUGE_FRAME_BYTES.is_multiple_of(DMA_ALIGN_BYTES));

/// An owned, aligned, zero-initialised byte buffer for device I/O.
pub struct DmaBuffer {
    base: NonNull<u8>,
    /// The bytes in use: what device I/O moves (`set_len` may lower it).
    len_bytes: usize,
    /// The bytes allocated.
    capacity_bytes: usize,
    backing: Backing,
}

/// Where a buffer's bytes live, and so what its drop must do.
enum Backing {
    /// `alloc_zeroed` with `DmaBuffer::layout(len_bytes)`; freed on drop.
    Heap,
    /// A disjoint range of an arena's mapping; the Arc, held only for its
    /// Drop, keeps the range mapped while the buffer lives.
    Arena { _mapping: Arc<Mapping> },
}

// SAFETY: a DmaBuffer owns its bytes exclusively (like Vec<u8>): heap
// buffers own their allocation, arena buffers a range no other buffer was
// given. Moving it to another thread moves that ownership; `Mapping` is
// itself Send + Sync.
unsafe impl Send for DmaBuffer {}
// SAFETY: shared references only allow reads through `as_slice`.
unsafe impl Sync for DmaBuffer {}

impl DmaBuffer {
    /// Allocates `len_bytes` (a non-zero multiple of [`DMA_ALIGN_BYTES`])
    /// from the heap.
    pub fn new(len_bytes: usize) -> Self {
        assert!(len_bytes > 0, "DMA buffer of zero bytes");
        assert!(
            len_bytes.is_multiple_of(DMA_ALIGN_BYTES),
            "DMA buffer of {len_bytes} bytes is not a multiple of {DMA_ALIGN_BYTES}"
        );
        let layout = Self::layout(len_bytes);
        // SAFETY: the layout has a non-zero size (asserted above) and a
        // power-of-two alignment (a constant).
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let Some(base) = NonNull::new(raw) else {
            alloc::handle_alloc_error(layout)
        };
        Self {
            base,
            len_bytes,
            capacity_bytes: len_bytes,
            backing: Backing::Heap,
        }
    }

    fn layout(len_bytes: usize) -> Layout {
        match Layout::from_size_align(len_bytes, DMA_ALIGN_BYTES) {
            Ok(layout) => layout,
            Err(e) => panic!("DMA buffer layout of {len_bytes} bytes: {e}"),
        }
    }

    pub fn len_bytes(&self) -> usize {
        self.len_bytes
    }

    /// The bytes allocated; `len_bytes` is at most this.
    pub fn capacity_bytes(&self) -> usize {
        self.capacity_bytes
    }

    /// Uses the first `len_bytes` of the allocation from now on (I/O moves
    /// exactly `len_bytes`), so one registered buffer serves transfers of
    /// any size up to its capacity. `len_bytes` must be a non-zero
    /// multiple of [`DMA_ALIGN_BYTES`] no larger than the capacity; the
    /// bytes past it keep their contents.
    pub fn set_len(&mut self, len_bytes: usize) {
        assert!(
            len_bytes > 0
                && len_bytes.is_multiple_of(DMA_ALIGN_BYTES)
                && len_bytes <= self.capacity_bytes,
            "DMA buffer length {len_bytes}: must be a non-zero multiple of {DMA_ALIGN_BYTES} \
             up to the capacity {}",
            self.capacity_bytes
        );
        self.len_bytes = len_bytes;
    }

    /// The address a device uses for this buffer (identity-mapped).
    pub fn iova(&self) -> u64 {
        self.base.as_ptr() as usize as u64
    }

    /// True if the buffer was carved from a [`DmaArena`].
    pub fn is_from_arena(&self) -> bool {
        matches!(self.backing, Backing::Arena { .. })
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `base` points to `len_bytes` initialised bytes (zeroed at
        // allocation or by the anonymous mapping) that live as long as
        // `self` (heap: freed only in our Drop; arena: the Arc keeps the
        // mapping); no `&mut` exists while `&self` is borrowed.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr(), self.len_bytes) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` makes this the only
        // reference to the bytes (arena ranges are never handed out twice).
        unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr(), self.len_bytes) }
    }
}

impl Drop for DmaBuffer {
    fn drop(&mut self) {
        match self.backing {
            Backing::Heap => {
                // SAFETY: `base` came from `alloc_zeroed` with exactly this
                // layout and is freed once, here.
                unsafe { alloc::dealloc(self.base.as_ptr(), Self::layout(self.capacity_bytes)) }
            }
            // Dropping the Arc (after this body) unmaps with the last owner.
            Backing::Arena { .. } => {}
        }
    }
}

impl std::fmt::Debug for DmaBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmaBuffer")
            .field("iova", &format_args!("{:#x}", self.iova()))
            .field("len_bytes", &self.len_bytes)
            .field("from_arena", &self.is_from_arena())
            .finish()
    }
}

/// Which frames a [`DmaArena`] may be mapped on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HugePages {
    /// Huge frames if the host has enough reserved, else ordinary frames
    /// with one warning per process saying how to reserve them.
    Prefer,
    /// Huge frames or an error (the appliance when floe.hugepages is set).
    Require,
    /// Ordinary frames only (tests; hosts where huge pages are pointless).
    Never,
}

/// One anonymous private mapping; unmapped when the last owner drops it.
struct Mapping {
    base: NonNull<u8>,
    len_bytes: usize,
    is_huge: bool,
}

// SAFETY: the mapping is plain memory owned by this process; the struct
// only hands out its base address, and disjoint ranges of it are owned by
// DmaBuffers, which enforce exclusive access themselves.
unsafe impl Send for Mapping {}
// SAFETY: as above: `Mapping` has no interior state to race on.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len_bytes` of zeroed, pre-faulted memory. `len_bytes` must be
    /// a non-zero multiple of the frame used (checked by the caller).
    fn map(len_bytes: usize, huge: bool) -> Result<Mapping, std::io::Error> {
        assert!(len_bytes > 0);
        let frame_bytes = if huge {
            HUGE_FRAME_BYTES
        } else {
            DMA_ALIGN_BYTES
        };
        assert!(len_bytes.is_multiple_of(frame_bytes));
        // MAP_POPULATE faults every frame in now, at start-up, not on the
        // first I/O; for hugetlb the mapping fails at once if too few huge
        // frames are reserved, instead of SIGBUS on first touch.
        let mut flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE;
        if huge {
            flags |= libc::MAP_HUGETLB;
        }
        // SAFETY: a fresh anonymous mapping (no MAP_FIXED, so it cannot
        // replace an existing one) of a non-zero length; the kernel picks
        // the address. The result is checked against MAP_FAILED below.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len_bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let Some(base) = NonNull::new(raw.cast::<u8>()) else {
            // mmap never returns null without MAP_FIXED; treat it as failure.
            return Err(std::io::Error::other("mmap returned a null address"));
        };
        Ok(Mapping {
            base,
            len_bytes,
            is_huge: huge,
        })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // Devices let go of the range before its memory goes.
        arena_ending(self.base.as_ptr() as usize as u64, self.len_bytes as u64);
        // SAFETY: `base` and `len_bytes` are exactly what mmap returned and
        // was given; this is the last owner (Arc), so no DmaBuffer still
        // points into the range, and it is unmapped once, here.
        let result = unsafe { libc::munmap(self.base.as_ptr().cast(), self.len_bytes) };
        if result != 0 {
            // Leaking the range is all that can happen; say so.
            log::error!(
                "munmap of a DMA arena of {} bytes at {:#x}: {}",
                self.len_bytes,
                self.base.as_ptr() as usize,
                std::io::Error::last_os_error()
            );
        }
    }
}

/// A device's side of DMA registration (an IOMMU container, an RDMA
/// protection domain): maps whole arenas for the device, once each.
pub trait DmaRegistrar: Send + Sync {
    /// Maps `[iova, iova + len_bytes)` (one whole arena, identity-mapped)
    /// for the device. An error leaves the arena usable: the device then
    /// maps what it needs per request, and the registry logs a warning.
    ///
    /// # Safety
    ///
    /// Only the registry calls this, for an arena's whole mapping, which
    /// stays allocated until `unregister` of the same range has returned.
    /// The arena's bytes are reached only through `DmaBuffer`s, which their
    /// owners hand to the device for as long as it may use them.
    unsafe fn register(
        &self,
        iova: u64,
        len_bytes: u64,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;

    /// The arena at `[iova, iova + len_bytes)` is about to be unmapped:
    /// undo `register` if it succeeded. Nothing of it is in flight (every
    /// buffer carved from it has been dropped).
    fn unregister(&self, iova: u64, len_bytes: u64);
}

/// Live arenas and the registrars that must hear of them. Cold: touched
/// when an arena is made or ends and when a device is added, never per I/O.
struct Registry {
    arenas: Vec<(u64, u64)>,
    /// Weak: a registrar ends with its device; dead ones are skipped and
    /// pruned.
    registrars: Vec<Weak<dyn DmaRegistrar>>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    arenas: Vec::new(),
    registrars: Vec::new(),
});

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    // The registry's lists stay consistent even if a registrar panicked.
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Registers `[iova, iova + len_bytes)` with `registrar`; true if it took.
fn register_one(registrar: &dyn DmaRegistrar, iova: u64, len_bytes: u64) -> bool {
    // SAFETY: the range is a live arena's whole mapping (the registry's
    // list holds exactly those, under its lock), and `Mapping::drop` calls
    // `unregister` through `arena_ending` before it unmaps the memory.
    match unsafe { registrar.register(iova, len_bytes) } {
        Ok(()) => true,
        Err(e) => {
            log::warn!(
                "DMA arena of {len_bytes} bytes at {iova:#x}: registering with a device: {e}; \
                 its I/O will be mapped per request"
            );
            false
        }
    }
}

/// Adds a device's registrar: every live arena is registered with it now
/// and every arena made later when it is made, until the registrar is
/// dropped. Returns how many arenas it took now. A registrar must not make
/// or drop arenas from its own methods (the registry's lock is held).
pub fn add_registrar(registrar: &Arc<dyn DmaRegistrar>) -> usize {
    let mut registry = registry();
    registry.registrars.retain(|weak| weak.strong_count() > 0);
    let taken = registry
        .arenas
        .iter()
        .filter(|&&(iova, len_bytes)| register_one(registrar.as_ref(), iova, len_bytes))
        .count();
    registry.registrars.push(Arc::downgrade(registrar));
    taken
}

fn arena_made(iova: u64, len_bytes: u64) {
    let mut registry = registry();
    registry.arenas.push((iova, len_bytes));
    registry.registrars.retain(|weak| weak.strong_count() > 0);
    for registrar in registry.registrars.iter().filter_map(Weak::upgrade) {
        register_one(registrar.as_ref(), iova, len_bytes);
    }
}

fn arena_ending(iova: u64, len_bytes: u64) {
    let mut registry = registry();
    registry.arenas.retain(|&arena| arena != (iova, len_bytes));
    for registrar in registry.registrars.iter().filter_map(Weak::upgrade) {
        registrar.unregister(iova, len_bytes);
    }
}

/// Set once the process has warned that huge pages are missing.
static HUGE_PAGES_WARNED: AtomicBool = AtomicBool::new(false);

/// A region mapped once at start-up from which DMA buffers are carved by a
/// bump pointer. Ranges are never reused: the caller keeps carved buffers
/// in its own pool. The mapping is unmapped when the arena and every buffer
/// carved from it have been dropped.
pub struct DmaArena {
    mapping: Arc<Mapping>,
    next_offset_bytes: usize,
}

impl DmaArena {
    /// Maps at least `len_bytes` (rounded up to a whole frame: 2 MiB on huge
    /// pages, 4 KiB otherwise) with the given page policy.
    pub fn new(len_bytes: usize, pages: HugePages) -> Result<DmaArena, RtError> {
        if len_bytes == 0 {
            return Err(RtError::BadLength {
                len_bytes,
                align_bytes: DMA_ALIGN_BYTES,
            });
        }
        let mapping = match pages {
            HugePages::Never => Self::map_ordinary(len_bytes)?,
            HugePages::Require => Self::map_huge(len_bytes)
                .map_err(|source| RtError::HugePagesUnavailable { len_bytes, source })?,
            HugePages::Prefer => match Self::map_huge(len_bytes) {
                Ok(mapping) => mapping,
                Err(source) => {
                    if !HUGE_PAGES_WARNED.swap(true, Ordering::Relaxed) {
                        let error = RtError::HugePagesUnavailable { len_bytes, source };
                        log::warn!("{error}; using ordinary 4 KiB frames");
                    }
                    Self::map_ordinary(len_bytes)?
                }
            },
        };
        log::debug!(
            "DMA arena of {} bytes at {:#x} on {} frames",
            mapping.len_bytes,
            mapping.base.as_ptr() as usize,
            if mapping.is_huge { "2 MiB" } else { "4 KiB" }
        );
        // From here `Mapping::drop` tells the registrars of its end.
        let mapping = Arc::new(mapping);
        arena_made(
            mapping.base.as_ptr() as usize as u64,
            mapping.len_bytes as u64,
        );
        Ok(DmaArena {
            mapping,
            next_offset_bytes: 0,
        })
    }

    fn map_huge(len_bytes: usize) -> Result<Mapping, std::io::Error> {
        let rounded_bytes = round_up(len_bytes, HUGE_FRAME_BYTES)
            .ok_or_else(|| std::io::Error::from_raw_os_error(libc::ENOMEM))?;
        Mapping::map(rounded_bytes, true)
    }

    fn map_ordinary(len_bytes: usize) -> Result<Mapping, RtError> {
        let rounded_bytes = round_up(len_bytes, DMA_ALIGN_BYTES).ok_or(RtError::BadLength {
            len_bytes,
            align_bytes: DMA_ALIGN_BYTES,
        })?;
        Mapping::map(rounded_bytes, false).map_err(|source| RtError::Map {
            len_bytes: rounded_bytes,
            frames: "4 KiB frames",
            source,
        })
    }

    /// True if the arena sits on 2 MiB huge frames (for the stats).
    pub fn is_huge(&self) -> bool {
        self.mapping.is_huge
    }

    /// Bytes mapped, after rounding up to whole frames.
    pub fn capacity_bytes(&self) -> usize {
        self.mapping.len_bytes
    }

    /// Bytes not yet carved.
    pub fn remaining_bytes(&self) -> usize {
        self.mapping.len_bytes - self.next_offset_bytes
    }

    /// The IOVA of the first byte of the mapping (identity-mapped), for a
    /// driver that registers the whole arena with an IOMMU or an RDMA NIC.
    pub fn iova(&self) -> u64 {
        self.mapping.base.as_ptr() as usize as u64
    }

    /// Carves one zeroed buffer of `len_bytes`, a non-zero multiple of
    /// [`DMA_ALIGN_BYTES`].
    pub fn alloc(&mut self, len_bytes: usize) -> Result<DmaBuffer, RtError> {
        if len_bytes == 0 || !len_bytes.is_multiple_of(DMA_ALIGN_BYTES) {
            return Err(RtError::BadLength {
                len_bytes,
                align_bytes: DMA_ALIGN_BYTES,
            });
        }
        let remaining_bytes = self.remaining_bytes();
        if len_bytes > remaining_bytes {
            return Err(RtError::ArenaExhausted {
                arena_bytes: self.mapping.len_bytes,
                requested_bytes: len_bytes,
                remaining_bytes,
            });
        }
        let offset_bytes = self.next_offset_bytes;
        // Invariant: ranges handed out are [0, next_offset_bytes), disjoint.
        self.next_offset_bytes += len_bytes;
        assert!(self.next_offset_bytes <= self.mapping.len_bytes);
        assert!(offset_bytes.is_multiple_of(DMA_ALIGN_BYTES));
        // SAFETY: offset_bytes + len_bytes <= the mapping's length (checked
        // above), so the pointer stays inside the one mapping.
        let raw = unsafe { self.mapping.base.as_ptr().add(offset_bytes) };
        let Some(base) = NonNull::new(raw) else {
            unreachable!("an offset inside a non-null mapping is non-null")
        };
        Ok(DmaBuffer {
            base,
            len_bytes,
            capacity_bytes: len_bytes,
            backing: Backing::Arena {
                _mapping: Arc::clone(&self.mapping),
            },
        })
    }

    /// Carves `count` buffers of `buffer_bytes` each, or none if they do not
    /// all fit.
    pub fn carve(&mut self, buffer_bytes: usize, count: usize) -> Result<Vec<DmaBuffer>, RtError> {
        if buffer_bytes == 0 || !buffer_bytes.is_multiple_of(DMA_ALIGN_BYTES) {
            return Err(RtError::BadLength {
                len_bytes: buffer_bytes,
                align_bytes: DMA_ALIGN_BYTES,
            });
        }
        let remaining_bytes = self.remaining_bytes();
        let requested_bytes = buffer_bytes.saturating_mul(count);
        if requested_bytes > remaining_bytes {
            return Err(RtError::ArenaExhausted {
                arena_bytes: self.mapping.len_bytes,
                requested_bytes,
                remaining_bytes,
            });
        }
        (0..count).map(|_| self.alloc(buffer_bytes)).collect()
    }
}

impl std::fmt::Debug for DmaArena {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmaArena")
            .field("iova", &format_args!("{:#x}", self.iova()))
            .field("capacity_bytes", &self.capacity_bytes())
            .field("remaining_bytes", &self.remaining_bytes())
            .field("is_huge", &self.is_huge())
            .finish()
    }
}

fn round_up(value: usize, multiple: usize) -> Option<usize> {
    value.checked_next_multiple_of(multiple)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A buffer shortened with set_len moves only its prefix, keeps its
    // capacity, grows back, and is freed with the layout it was made with.
    #[test]
    fn set_len_uses_a_prefix_of_the_allocation() {
        for from_arena in [false, true] {
            let mut arena = DmaArena::new(4 * DMA_ALIGN_BYTES, HugePages::Never).expect("arena");
            let mut buffer = if from_arena {
                arena.alloc(4 * DMA_ALIGN_BYTES).expect("carved")
            } else {
                DmaBuffer::new(4 * DMA_ALIGN_BYTES)
            };
            buffer.as_mut_slice().fill(7);
            buffer.set_len(DMA_ALIGN_BYTES);
            assert_eq!(buffer.len_bytes(), DMA_ALIGN_BYTES);
            assert_eq!(buffer.as_slice().len(), DMA_ALIGN_BYTES);
            assert_eq!(buffer.capacity_bytes(), 4 * DMA_ALIGN_BYTES);
            buffer.set_len(4 * DMA_ALIGN_BYTES);
            assert!(buffer.as_slice().iter().all(|b| *b == 7));
            let too_long = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                buffer.set_len(5 * DMA_ALIGN_BYTES)
            }));
            assert!(too_long.is_err());
        }
    }

    /// A buffer is aligned, zeroed, writable and reports its IOVA.
    #[test]
    fn buffer_is_aligned_and_zeroed() {
        let mut buffer = DmaBuffer::new(3 * DMA_ALIGN_BYTES);
        assert_eq!(buffer.iova() % DMA_ALIGN_BYTES as u64, 0);
        assert!(buffer.as_slice().iter().all(|&b| b == 0));
        buffer.as_mut_slice()[5] = 7;
        assert_eq!(buffer.as_slice()[5], 7);
        assert_eq!(buffer.len_bytes(), 3 * DMA_ALIGN_BYTES);
        assert!(!buffer.is_from_arena());
    }

    /// Lengths that are not whole frames are refused loudly.
    #[test]
    #[should_panic(expected = "not a multiple")]
    fn unaligned_length_is_refused() {
        let _ = DmaBuffer::new(100);
    }

    /// Carved buffers are disjoint, frame-aligned, zeroed, inside the arena
    /// (IOVA = arena IOVA + offset), and independently writable.
    #[test]
    fn carve_gives_disjoint_aligned_buffers() {
        let mut arena = DmaArena::new(64 * 1024, HugePages::Never).expect("map arena");
        assert!(!arena.is_huge());
        assert_eq!(arena.capacity_bytes(), 64 * 1024);
        let mut buffers = arena.carve(2 * DMA_ALIGN_BYTES, 8).expect("carve");
        assert_eq!(arena.remaining_bytes(), 0);
        for (i, buffer) in buffers.iter_mut().enumerate() {
            assert!(buffer.is_from_arena());
            assert_eq!(buffer.len_bytes(), 2 * DMA_ALIGN_BYTES);
            assert_eq!(buffer.iova() % DMA_ALIGN_BYTES as u64, 0);
            let offset_bytes = (i * 2 * DMA_ALIGN_BYTES) as u64;
            assert_eq!(buffer.iova(), arena.iova() + offset_bytes);
            assert!(buffer.as_slice().iter().all(|&b| b == 0));
            buffer.as_mut_slice().fill(i as u8 + 1);
        }
        for (i, buffer) in buffers.iter().enumerate() {
            assert!(
                buffer.as_slice().iter().all(|&b| b == i as u8 + 1),
                "buffer {i} overwritten"
            );
        }
    }

    /// Bad lengths and exhaustion are typed errors, and a failed carve
    /// takes nothing from the arena.
    #[test]
    fn carve_refuses_bad_length_and_exhaustion() {
        let mut arena = DmaArena::new(5 * DMA_ALIGN_BYTES, HugePages::Never).expect("map arena");
        assert!(matches!(
            arena.alloc(100),
            Err(RtError::BadLength { len_bytes: 100, .. })
        ));
        assert!(matches!(arena.alloc(0), Err(RtError::BadLength { .. })));
        let too_many = arena.carve(DMA_ALIGN_BYTES, 6);
        assert!(
            matches!(
                too_many,
                Err(RtError::ArenaExhausted { requested_bytes, remaining_bytes, .. })
                    if requested_bytes == 6 * DMA_ALIGN_BYTES
                        && remaining_bytes == 5 * DMA_ALIGN_BYTES
            ),
            "{too_many:?}"
        );
        assert_eq!(arena.remaining_bytes(), 5 * DMA_ALIGN_BYTES);
        assert!(matches!(
            arena.carve(DMA_ALIGN_BYTES, usize::MAX),
            Err(RtError::ArenaExhausted { .. })
        ));
        assert_eq!(arena.carve(DMA_ALIGN_BYTES, 5).expect("exact fit").len(), 5);
        assert!(matches!(
            arena.alloc(DMA_ALIGN_BYTES),
            Err(RtError::ArenaExhausted { .. })
        ));
        assert!(matches!(
            DmaArena::new(0, HugePages::Never),
            Err(RtError::BadLength { .. })
        ));
    }

    /// Carved buffers keep the mapping alive after the arena is dropped:
    /// their bytes stay readable and writable.
    #[test]
    fn buffers_outlive_their_arena() {
        let mut arena = DmaArena::new(DMA_ALIGN_BYTES * 2, HugePages::Never).expect("map arena");
        let mut first = arena.alloc(DMA_ALIGN_BYTES).expect("alloc");
        let second = arena.alloc(DMA_ALIGN_BYTES).expect("alloc");
        drop(arena);
        drop(second);
        first.as_mut_slice().fill(0xa5);
        assert!(first.as_slice().iter().all(|&b| b == 0xa5));
    }

    /// `Prefer` always yields an arena: huge if the host has huge frames
    /// reserved (then 2 MiB aligned and rounded), ordinary otherwise (the
    /// fallback path, taken on a host with nr_hugepages=0). `Require`
    /// agrees with what `Prefer` got.
    #[test]
    fn prefer_falls_back_and_require_agrees() {
        let mut arena = DmaArena::new(3 * DMA_ALIGN_BYTES, HugePages::Prefer).expect("map arena");
        if arena.is_huge() {
            assert_eq!(arena.iova() % HUGE_FRAME_BYTES as u64, 0);
            assert_eq!(arena.capacity_bytes(), HUGE_FRAME_BYTES);
        } else {
            assert_eq!(arena.capacity_bytes(), 3 * DMA_ALIGN_BYTES);
            assert!(
                HUGE_PAGES_WARNED.load(Ordering::Relaxed),
                "fallback without a warning"
            );
        }
        let mut buffer = arena.alloc(DMA_ALIGN_BYTES).expect("alloc");
        buffer.as_mut_slice().fill(1);
        assert_eq!(buffer.iova(), arena.iova());
        match DmaArena::new(DMA_ALIGN_BYTES, HugePages::Require) {
            Ok(required) => {
                assert!(required.is_huge());
                assert!(
                    arena.is_huge(),
                    "Require got huge frames where Prefer fell back"
                );
            }
            Err(RtError::HugePagesUnavailable { .. }) => {
                assert!(
                    !arena.is_huge(),
                    "Prefer got huge frames where Require failed"
                );
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    type Events = Arc<Mutex<Vec<(&'static str, u64, u64)>>>;

    /// A registrar records what the registry tells it, into a list that
    /// outlives it.
    struct Recorder {
        events: Events,
    }

    impl DmaRegistrar for Recorder {
        unsafe fn register(
            &self,
            iova: u64,
            len_bytes: u64,
        ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            self.events
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(("register", iova, len_bytes));
            Ok(())
        }

        fn unregister(&self, iova: u64, len_bytes: u64) {
            self.events
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(("unregister", iova, len_bytes));
        }
    }

    /// Events about one arena's range (other tests make arenas too).
    fn about(events: &Events, arena: (u64, u64)) -> Vec<&'static str> {
        events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|&&(_, iova, len_bytes)| (iova, len_bytes) == arena)
            .map(|&(what, _, _)| what)
            .collect()
    }

    /// A registrar hears of arenas alive when it is added and of arenas
    /// made later, each once with its whole range; an arena's end is told
    /// only after its last buffer is dropped; a dropped registrar hears
    /// of nothing more.
    #[test]
    fn registrars_hear_of_every_arena_once() {
        let before = DmaArena::new(8 * DMA_ALIGN_BYTES, HugePages::Never).expect("map arena");
        let before_range = (before.iova(), before.capacity_bytes() as u64);
        let events = Events::default();
        let registrar: Arc<dyn DmaRegistrar> = Arc::new(Recorder {
            events: Arc::clone(&events),
        });
        assert!(add_registrar(&registrar) >= 1);
        assert_eq!(about(&events, before_range), ["register"]);

        let mut after = DmaArena::new(4 * DMA_ALIGN_BYTES, HugePages::Never).expect("map arena");
        let after_range = (after.iova(), after.capacity_bytes() as u64);
        assert_eq!(about(&events, after_range), ["register"]);
        let buffer = after.alloc(DMA_ALIGN_BYTES).expect("alloc");
        drop(after);
        assert_eq!(
            about(&events, after_range),
            ["register"],
            "unregistered while a buffer still uses the arena"
        );
        drop(buffer);
        assert_eq!(about(&events, after_range), ["register", "unregister"]);

        drop(registrar);
        drop(before);
        assert_eq!(
            about(&events, before_range),
            ["register"],
            "a dropped registrar was told of an arena's end"
        );
        let late = DmaArena::new(DMA_ALIGN_BYTES, HugePages::Never).expect("map arena");
        assert!(about(&events, (late.iova(), late.capacity_bytes() as u64)).is_empty());
    }
}
