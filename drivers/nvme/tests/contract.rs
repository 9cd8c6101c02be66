//! The BlockDevice contract suite against NvmeDevice driving the software
//! controller model: the whole driver (bring-up, admin queue, I/O queue
//! pairs, PRPs, DSM) under the seam's checks, with no hardware.

use std::sync::Arc;

use floe_blk::contract::{self, MIN_CAPACITY_BYTES};
use floe_blk::BlockDevice;
use floe_nvme::model::{ModelConfig, ModelController};
use floe_nvme::{Controller, ControllerOptions, NvmeDevice, TestClock};

fn device(block_bytes: u32) -> (Arc<ModelController>, NvmeDevice) {
    let model = Arc::new(ModelController::new(ModelConfig {
        block_bytes,
        capacity_blocks: 2 * MIN_CAPACITY_BYTES / u64::from(block_bytes),
        ..ModelConfig::default()
    }));
    let controller = Controller::start(
        model.clone(),
        model.clone(),
        Arc::new(TestClock::new(0)),
        ControllerOptions::default(),
    )
    .expect("controller starts on the model");
    (
        model,
        NvmeDevice::new(controller, format!("model-nvme-{block_bytes}")),
    )
}

/// NvmeDevice on a 512-byte-block namespace passes the contract, and
/// deletes every I/O queue it created and unmaps every buffer it mapped.
#[test]
fn nvme_on_model_512_passes_the_contract() {
    let (model, device) = device(512);
    contract::run_all(&device);
    assert_eq!(model.io_queue_count(), 0, "I/O queues left on the device");
    // Admin SQ, CQ and PRP frames stay mapped while the device lives.
    assert_eq!(model.mapped_windows(), 3, "mappings leaked");
    let counters = model.counters();
    assert!(counters.prp_lists > 0, "no transfer used a PRP list");
    assert!(counters.deallocates > 0 && counters.flushes > 0);
    assert_eq!(counters.dma_faults, 0);
}

/// The same on a 4 KiB-block namespace, whose geometry reports the
/// namespace's atomic write unit (32 blocks, 128 KiB).
#[test]
fn nvme_on_model_4096_passes_the_contract() {
    let (model, device) = device(4096);
    assert_eq!(device.geometry().block_bytes, 4096);
    assert_eq!(device.geometry().atomic_write_bytes, 32 * 4096);
    contract::run_all(&device);
    assert_eq!(model.io_queue_count(), 0);
    assert_eq!(model.counters().dma_faults, 0);
}
