//! The single-device volume: its files pass the BlockDevice contract, stay
//! inside their extents, come back zeroed when space is reused, survive
//! reopening and torn table writes, and carry a whole engine through power
//! cuts.

use std::sync::Arc;

use floe_blk::{BlockDevice, CrashMode, Geometry, MemDevice};
use floe_rt::DmaBuffer;

use super::*;

fn device(seed: u64) -> MemDevice {
    MemDevice::new(
        Geometry {
            block_bytes: 512,
            atomic_write_bytes: 512,
            capacity_blocks: 64 << 11,
        },
        seed,
    )
    .unwrap()
}

/// Every file of the volume passes the BlockDevice contract suite, and a
/// request past a file's end is refused, never reaching its neighbour.
#[test]
fn files_pass_the_contract_and_keep_their_bounds() {
    let volume = VolumeStore::open(Arc::new(device(1)), true).unwrap();
    let first = volume.create("first", 4 << 20, Space::Reserved).unwrap();
    let second = volume.create("second", 4 << 20, Space::Sparse).unwrap();
    floe_blk::contract::run_all(first.as_ref());
    let mut queue = second.open_queue(1).unwrap();
    let mut pattern = DmaBuffer::new(4096);
    pattern.as_mut_slice().fill(0xAB);
    queue.write(0, pattern).unwrap();
    let mut first_queue = first.open_queue(1).unwrap();
    let capacity_blocks = first.geometry().capacity_blocks;
    assert!(matches!(
        first_queue.write(capacity_blocks - 4, DmaBuffer::new(4096 * 2)),
        Err(floe_blk::Error::OutOfRange { .. })
    ));
    let back = queue.read(0, DmaBuffer::new(4096)).unwrap();
    assert!(
        back.as_slice().iter().all(|&b| b == 0xAB),
        "a neighbour's write reached this file"
    );
}

/// Removed space is reused and comes back zeroed; the table survives a
/// reopen; a non-Floe device is refused; a blank one needs `format`.
#[test]
fn reuse_reopen_and_refusals() {
    let dev = device(2);
    assert!(
        VolumeStore::open(Arc::new(dev.clone()), false).is_err(),
        "a blank device opened without format"
    );
    let volume = VolumeStore::open(Arc::new(dev.clone()), true).unwrap();
    let old = volume.create("old", 2 << 20, Space::Sparse).unwrap();
    let mut queue = old.open_queue(1).unwrap();
    let mut ones = DmaBuffer::new(1 << 20);
    ones.as_mut_slice().fill(1);
    queue.write(0, ones).unwrap();
    queue.flush().unwrap();
    drop(queue);
    volume.remove("old").unwrap();
    let new = volume.create("new", 2 << 20, Space::Sparse).unwrap();
    let back = new
        .open_queue(1)
        .unwrap()
        .read(0, DmaBuffer::new(1 << 20))
        .unwrap();
    assert!(
        back.as_slice().iter().all(|&b| b == 0),
        "a new file shows a removed file's bytes"
    );
    assert!(matches!(
        volume.create("new", 4096, Space::Sparse),
        Err(StoreError::Exists { .. })
    ));
    drop(volume);
    let volume = VolumeStore::open(Arc::new(dev.clone()), false).unwrap();
    assert_eq!(volume.list().unwrap(), vec!["new".to_string()]);

    let foreign = device(3);
    let mut queue = foreign.open_queue(1).unwrap();
    let mut junk = DmaBuffer::new(4096);
    junk.as_mut_slice()[100] = 7;
    queue.write((64 << 10) / 512, junk).unwrap();
    assert!(
        VolumeStore::open(Arc::new(foreign), true).is_err(),
        "a device holding other data was formatted"
    );
}

/// Power cuts during file creation and removal (torn table writes) leave a
/// volume that opens with a consistent table: the old one or the new one.
#[test]
fn torn_table_writes_leave_a_consistent_volume() {
    for round in 0..30u64 {
        let dev = device(10 + round);
        let volume = VolumeStore::open(Arc::new(dev.clone()), true).unwrap();
        volume.create("keep", 1 << 20, Space::Reserved).unwrap();
        dev.crash_after_writes(1 + round % 5);
        let _ = volume.create("maybe", 1 << 20, Space::Reserved);
        let _ = volume.remove("keep");
        let restarted = dev.restart(CrashMode::ALL[(round % 3) as usize]);
        let volume = VolumeStore::open(Arc::new(restarted), false)
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        let names = volume.list().unwrap();
        assert!(
            names.iter().all(|n| n == "keep" || n == "maybe"),
            "round {round}: {names:?}"
        );
    }
}

/// A whole engine on one device through a volume: commits survive power
/// cuts in every crash mode.
#[test]
fn engine_on_a_volume_survives_power_cuts() {
    use crate::srv::{Engine, EngineConfig};
    use crate::util::clock::SystemClock;
    let dev = device(20);
    let config = || EngineConfig {
        buf: crate::buf::BufConfig {
            pool_pages: 32,
            huge_pages: floe_rt::HugePages::Never,
            ..Default::default()
        },
        data_file_bytes: 8 << 20,
        log: crate::log::writer::LogConfig {
            file_capacity_blocks: 256,
            ..Default::default()
        },
        cleaner: None,
        ..EngineConfig::default()
    };
    let volume = Arc::new(VolumeStore::open(Arc::new(dev.clone()), true).unwrap());
    let engine = Engine::create(volume, config(), Arc::new(SystemClock::new())).unwrap();
    let mut mtr = crate::mtr::Mtr::start(engine.pool(), engine.log());
    let tree = crate::btr::tree::Tree::create(&mut mtr, crate::srv::SYSTEM_SPACE, 9).unwrap();
    mtr.commit().unwrap();
    for n in 0..800u32 {
        let lsn = tree
            .insert(engine.env(), &n.to_be_bytes(), &[n as u8; 200])
            .unwrap();
        engine.commit_wait(lsn).unwrap();
    }
    drop(engine);
    for mode in CrashMode::ALL {
        let volume = Arc::new(VolumeStore::open(Arc::new(dev.restart(mode)), false).unwrap());
        let engine = Engine::open(volume, config(), Arc::new(SystemClock::new()))
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        assert_eq!(tree.check(engine.pool()).unwrap().records, 800, "{mode:?}");
    }
}
