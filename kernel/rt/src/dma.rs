//! DMA buffers: aligned, zero-initialised memory that a device may read or
//! write directly. Each buffer knows its IOVA (the address a device uses);
//! with identity mapping (VFIO with IOVA = VA, or no IOMMU use at all in
//! hosted mode) the IOVA equals the virtual address.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

/// Alignment of every DMA buffer: a memory frame, which also satisfies
/// O_DIRECT (logical block size) and NVMe PRP entries (dword, frame offsets).
pub const DMA_ALIGN_BYTES: usize = 4096;

/// An owned, aligned, zero-initialised byte buffer for device I/O.
pub struct DmaBuffer {
    base: NonNull<u8>,
    len_bytes: usize,
}

// SAFETY: a DmaBuffer owns its allocation exclusively (like Vec<u8>); moving
// it to another thread moves that ownership.
unsafe impl Send for DmaBuffer {}
// SAFETY: shared references only allow reads through `as_slice`.
unsafe impl Sync for DmaBuffer {}

impl DmaBuffer {
    /// Allocates `len_bytes` (a non-zero multiple of [`DMA_ALIGN_BYTES`]).
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
        Self { base, len_bytes }
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

    /// The address a device uses for this buffer (identity-mapped).
    pub fn iova(&self) -> u64 {
        self.base.as_ptr() as usize as u64
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `base` points to `len_bytes` initialised (zeroed at
        // allocation) bytes that live as long as `self`; no `&mut` exists
        // while `&self` is borrowed.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr(), self.len_bytes) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` makes this the only
        // reference to the bytes.
        unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr(), self.len_bytes) }
    }
}

impl Drop for DmaBuffer {
    fn drop(&mut self) {
        // SAFETY: `base` came from `alloc_zeroed` with exactly this layout
        // and is freed once, here.
        unsafe { alloc::dealloc(self.base.as_ptr(), Self::layout(self.len_bytes)) }
    }
}

impl std::fmt::Debug for DmaBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmaBuffer")
            .field("iova", &format_args!("{:#x}", self.iova()))
            .field("len_bytes", &self.len_bytes)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A buffer is aligned, zeroed, writable and reports its IOVA.
    #[test]
    fn buffer_is_aligned_and_zeroed() {
        let mut buffer = DmaBuffer::new(3 * DMA_ALIGN_BYTES);
        assert_eq!(buffer.iova() % DMA_ALIGN_BYTES as u64, 0);
        assert!(buffer.as_slice().iter().all(|&b| b == 0));
        buffer.as_mut_slice()[5] = 7;
        assert_eq!(buffer.as_slice()[5], 7);
        assert_eq!(buffer.len_bytes(), 3 * DMA_ALIGN_BYTES);
    }

    /// Lengths that are not whole frames are refused loudly.
    #[test]
    #[should_panic(expected = "not a multiple")]
    fn unaligned_length_is_refused() {
        let _ = DmaBuffer::new(100);
    }
}
