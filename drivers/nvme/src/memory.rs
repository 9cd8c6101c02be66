//! The two kinds of memory the driver shares with a controller, behind
//! small safe types: [`DeviceMemory`] (host memory the device reads and
//! writes by DMA: rings, PRP lists, DSM ranges) and the [`Registers`] seam
//! (BAR0 in production, the software model in tests).

use std::ptr::NonNull;
use std::sync::atomic::{fence, Ordering};

use floe_rt::DmaBuffer;

use crate::error::NvmeError;

/// The controller's registers. BAR0 MMIO in production ([`crate::vfio::Bar0`]),
/// the software model in tests. 32-bit accesses only: 64-bit registers are
/// read and written as two halves, low first, which every controller takes.
pub trait Registers: Send + Sync {
    fn read_u32(&self, offset_bytes: usize) -> u32;
    fn write_u32(&self, offset_bytes: usize, value: u32);

    fn read_u64(&self, offset_bytes: usize) -> u64 {
        let low = u64::from(self.read_u32(offset_bytes));
        let high = u64::from(self.read_u32(offset_bytes + 4));
        low | (high << 32)
    }

    fn write_u64(&self, offset_bytes: usize, value: u64) {
        self.write_u32(offset_bytes, value as u32);
        self.write_u32(offset_bytes + 4, (value >> 32) as u32);
    }
}

/// Makes host memory reachable by the device (an IOMMU mapping with VFIO;
/// a DMA window in the model). IOVA equals the virtual address throughout.
pub trait DmaMapper: Send + Sync {
    /// Lets the device read and write `[iova, iova + len_bytes)`.
    ///
    /// # Safety
    ///
    /// The range must be memory the caller owns, that stays allocated and
    /// is not accessed through Rust references while the device may use it,
    /// until `unmap` of the same range returns. A device writes mapped
    /// memory behind the compiler's back; mapping anything else lets it
    /// corrupt memory that safe code relies on.
    unsafe fn map(&self, iova: u64, len_bytes: u64) -> Result<(), NvmeError>;
    fn unmap(&self, iova: u64, len_bytes: u64) -> Result<(), NvmeError>;
}

/// Host memory a device accesses by DMA. It owns its [`DmaBuffer`] and
/// never forms a Rust reference to the bytes after construction: the CPU
/// side goes through raw, bounds-checked accessors, volatile where the
/// device may write concurrently (completion entries), so the compiler
/// neither caches nor elides them.
pub struct DeviceMemory {
    base: NonNull<u8>,
    len_bytes: usize,
    iova: u64,
    /// Owns the bytes; kept only so they outlive every access and the
    /// device's use (the owner tears the queue down before dropping this).
    _buffer: DmaBuffer,
}

// SAFETY: DeviceMemory owns its buffer exclusively (DmaBuffer is Send);
// moving it to another thread moves that ownership. It is not Sync: the
// accessors take &self and write, so only one thread may use it at a time.
unsafe impl Send for DeviceMemory {}

impl DeviceMemory {
    pub fn new(mut buffer: DmaBuffer) -> DeviceMemory {
        let len_bytes = buffer.len_bytes();
        let iova = buffer.iova();
        let base = NonNull::from(buffer.as_mut_slice()).cast::<u8>();
        DeviceMemory {
            base,
            len_bytes,
            iova,
            _buffer: buffer,
        }
    }

    /// Zeroed device memory of `len_bytes` (a multiple of 4 KiB), from the
    /// heap; the caller maps it for the device.
    pub fn zeroed(len_bytes: usize) -> DeviceMemory {
        DeviceMemory::new(DmaBuffer::new(len_bytes))
    }

    pub fn iova(&self) -> u64 {
        self.iova
    }

    pub fn len_bytes(&self) -> usize {
        self.len_bytes
    }

    fn check(&self, offset_bytes: usize, len_bytes: usize, align_bytes: usize) {
        assert!(offset_bytes.is_multiple_of(align_bytes));
        let end = offset_bytes.checked_add(len_bytes);
        assert!(end.is_some_and(|end| end <= self.len_bytes));
    }

    pub fn read_u32(&self, offset_bytes: usize) -> u32 {
        self.check(offset_bytes, 4, 4);
        let pointer = self.base.as_ptr().wrapping_add(offset_bytes).cast::<u32>();
        // SAFETY: in bounds and 4-byte aligned (checked above; the base is
        // frame aligned); the buffer lives as long as `self`. Volatile,
        // because the device writes this memory behind the compiler's back.
        let value = unsafe { pointer.read_volatile() };
        u32::from_le(value)
    }

    pub fn write_u32(&self, offset_bytes: usize, value: u32) {
        self.check(offset_bytes, 4, 4);
        let pointer = self.base.as_ptr().wrapping_add(offset_bytes).cast::<u32>();
        // SAFETY: in bounds and 4-byte aligned (checked above); the buffer
        // lives as long as `self`, and `self` is used by one thread at a
        // time (not Sync), so no other CPU access races with this write.
        unsafe { pointer.write_volatile(value.to_le()) }
    }

    pub fn write_u64(&self, offset_bytes: usize, value: u64) {
        self.write_u32(offset_bytes, value as u32);
        self.write_u32(offset_bytes + 4, (value >> 32) as u32);
    }

    /// Copies `bytes` in at `offset_bytes` (a multiple of 4), as dwords.
    pub fn write_bytes(&self, offset_bytes: usize, bytes: &[u8]) {
        assert!(bytes.len().is_multiple_of(4));
        self.check(offset_bytes, bytes.len(), 4);
        for (i, word) in bytes.chunks_exact(4).enumerate() {
            let value = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
            self.write_u32(offset_bytes + 4 * i, value);
        }
    }

    /// Copies `out.len()` bytes (a multiple of 4) out from `offset_bytes`.
    pub fn read_bytes(&self, offset_bytes: usize, out: &mut [u8]) {
        assert!(out.len().is_multiple_of(4));
        self.check(offset_bytes, out.len(), 4);
        for (i, word) in out.chunks_exact_mut(4).enumerate() {
            word.copy_from_slice(&self.read_u32(offset_bytes + 4 * i).to_le_bytes());
        }
    }

    pub fn zero(&self) {
        for offset_bytes in (0..self.len_bytes).step_by(4) {
            self.write_u32(offset_bytes, 0);
        }
        fence(Ordering::SeqCst);
    }
}

impl std::fmt::Debug for DeviceMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceMemory")
            .field("iova", &format_args!("{:#x}", self.iova))
            .field("len_bytes", &self.len_bytes)
            .finish()
    }
}
