//! A queue that executes each request at submit and hands its completion
//! back at the next `poll`, in submission order. MemDevice and FileDevice
//! both use it: their I/O is synchronous, but callers must still poll, so
//! code written against them also works on a truly asynchronous NVMe queue.

use std::collections::VecDeque;

use floe_rt::DmaBuffer;

use crate::{BlockOp, BlockQueue, Completion, Error, Geometry, SubmitError, Tag};

/// Largest queue depth a synchronous device accepts (bounds the
/// completion ring allocated at `open_queue`).
pub(crate) const QUEUE_DEPTH_MAX: u32 = 4096;

/// What a device does with one checked request.
pub(crate) trait Execute: Send {
    fn geometry(&self) -> Geometry;
    /// Runs a request that passed `Geometry::check_request`; the buffer
    /// (if any) is read or filled in place.
    fn execute(&self, op: BlockOp, buffer: Option<&mut DmaBuffer>) -> Result<(), Error>;
}

/// Runs one request at once on the calling thread, for `BlockDevice::run`
/// of the synchronous devices: they have no queue worth owning per core.
pub(crate) fn run_now(
    executor: &impl Execute,
    op: BlockOp,
    mut buffer: Option<DmaBuffer>,
) -> Result<Option<DmaBuffer>, Error> {
    executor.geometry().check_request(op, buffer.as_ref())?;
    executor.execute(op, buffer.as_mut())?;
    Ok(buffer)
}

pub(crate) struct ImmediateQueue<X> {
    executor: X,
    depth: usize,
    /// Executed, not yet polled; capacity `depth`, so pushes never allocate.
    done: VecDeque<Completion>,
}

impl<X: Execute> ImmediateQueue<X> {
    pub(crate) fn open(executor: X, depth: u32, device: String) -> Result<Self, Error> {
        if depth == 0 || depth > QUEUE_DEPTH_MAX {
            return Err(Error::Unusable {
                device,
                reason: format!("queue depth {depth}: expected 1..={QUEUE_DEPTH_MAX}"),
            });
        }
        let depth = usize::try_from(depth).unwrap_or(usize::MAX);
        Ok(ImmediateQueue {
            executor,
            depth,
            done: VecDeque::with_capacity(depth),
        })
    }
}

impl<X: Execute> BlockQueue for ImmediateQueue<X> {
    fn submit(
        &mut self,
        op: BlockOp,
        mut buffer: Option<DmaBuffer>,
        tag: Tag,
    ) -> Result<(), SubmitError> {
        self.executor
            .geometry()
            .check_request(op, buffer.as_ref())
            .map_err(SubmitError::Invalid)?;
        if self.done.len() >= self.depth {
            return Err(SubmitError::Busy { op, buffer, tag });
        }
        let result = self.executor.execute(op, buffer.as_mut());
        self.done.push_back(Completion {
            tag,
            buffer,
            result,
        });
        Ok(())
    }

    fn poll(&mut self, completions: &mut Vec<Completion>, max: usize) -> usize {
        let count = max.min(self.done.len());
        completions.extend(self.done.drain(..count));
        count
    }

    fn in_flight(&self) -> usize {
        self.done.len()
    }
}
