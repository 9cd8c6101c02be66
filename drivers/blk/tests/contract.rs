//! The BlockDevice contract suite against every implementation in this
//! crate, plus FileDevice behaviour the contract does not pin down.

use std::path::Path;

use floe_blk::contract::{self, test_seed, MIN_CAPACITY_BYTES};
use floe_blk::{BlockDevice, DirectIo, Error, FileDevice, Geometry, MemDevice};
use floe_rt::DmaBuffer;

/// Files live under the target directory (a real disk file system, so
/// O_DIRECT is exercised), not in /tmp, which may be tmpfs.
fn scratch_dir() -> tempfile::TempDir {
    match tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")) {
        Ok(dir) => dir,
        Err(e) => panic!("scratch directory in {}: {e}", env!("CARGO_TARGET_TMPDIR")),
    }
}

/// MemDevice with 512-byte blocks and 4 KiB atomic writes passes.
#[test]
fn mem_device_512_passes_the_contract() {
    let geometry = Geometry {
        block_bytes: 512,
        atomic_write_bytes: 4096,
        capacity_blocks: 2 * MIN_CAPACITY_BYTES / 512,
    };
    contract::run_all(&MemDevice::new(geometry, test_seed()).expect("mem device"));
}

/// MemDevice with 4 KiB blocks and 16 KiB atomic writes (the page size
/// the storage engine relies on) passes.
#[test]
fn mem_device_4096_passes_the_contract() {
    let geometry = Geometry {
        block_bytes: 4096,
        atomic_write_bytes: 16384,
        capacity_blocks: MIN_CAPACITY_BYTES / 4096,
    };
    contract::run_all(&MemDevice::new(geometry, test_seed()).expect("mem device"));
}

fn file_device(dir: &Path, direct: DirectIo) -> FileDevice {
    match FileDevice::create(dir.join("device"), 2 * MIN_CAPACITY_BYTES, direct) {
        Ok(device) => device,
        Err(e) => panic!("create file device in {}: {e}", dir.display()),
    }
}

/// FileDevice with O_DIRECT where the file system allows it passes, and
/// promises only its 4 KiB block as atomic.
#[test]
fn file_device_direct_passes_the_contract() {
    let dir = scratch_dir();
    let device = file_device(dir.path(), DirectIo::Prefer);
    let geometry = device.geometry();
    assert_eq!(geometry.block_bytes, 4096);
    assert_eq!(geometry.atomic_write_bytes, 4096);
    assert_eq!(geometry.capacity_bytes(), 2 * MIN_CAPACITY_BYTES);
    contract::run_all(&device);
}

/// The buffered fallback (what a file system refusing O_DIRECT gets)
/// passes too.
#[test]
fn file_device_buffered_passes_the_contract() {
    let dir = scratch_dir();
    let device = file_device(dir.path(), DirectIo::Never);
    assert!(!device.is_direct());
    contract::run_all(&device);
}

/// On tmpfs (/dev/shm), which refused O_DIRECT before Linux 6.6, Prefer
/// opens either way and the device passes.
#[test]
fn file_device_on_tmpfs_passes_the_contract() {
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() {
        eprintln!("no /dev/shm here; the fallback is covered by DirectIo::Never");
        return;
    }
    let dir = tempfile::tempdir_in(shm).expect("directory in /dev/shm");
    contract::run_all(&file_device(dir.path(), DirectIo::Prefer));
}

fn write_frame(device: &FileDevice, lba: u64, byte: u8) {
    let mut buffer = DmaBuffer::new(4096);
    buffer.as_mut_slice().fill(byte);
    let mut queue = device.open_queue(1).expect("queue");
    queue.write(lba, buffer).expect("write");
    queue.flush().expect("flush");
}

fn read_frame(device: &FileDevice, lba: u64) -> Result<Vec<u8>, Error> {
    let mut queue = device.open_queue(1).expect("queue");
    queue
        .read(lba, DmaBuffer::new(4096))
        .map(|buffer| buffer.as_slice().to_vec())
}

/// Flushed data is there after closing and reopening the file; create
/// neither truncates a longer file nor loses data; open takes the whole
/// file as its capacity.
#[test]
fn file_device_keeps_data_across_reopen() {
    let dir = scratch_dir();
    let path = dir.path().join("device");
    let device = FileDevice::create(&path, 8 * 4096, DirectIo::Prefer).expect("create");
    write_frame(&device, 7, 0x5a);
    drop(device);
    let reopened = FileDevice::open(&path, DirectIo::Prefer).expect("open");
    assert_eq!(reopened.geometry().capacity_blocks, 8);
    assert!(!reopened.is_block_device());
    assert_eq!(read_frame(&reopened, 7).expect("read"), vec![0x5a; 4096]);
    drop(reopened);
    let smaller = FileDevice::create(&path, 4 * 4096, DirectIo::Prefer).expect("create again");
    assert_eq!(smaller.geometry().capacity_blocks, 4);
    drop(smaller);
    assert_eq!(std::fs::metadata(&path).expect("metadata").len(), 8 * 4096);
}

/// Sizes the device cannot use are refused with a typed error.
#[test]
fn file_device_refuses_unusable_sizes() {
    let dir = scratch_dir();
    let path = dir.path().join("device");
    for capacity_bytes in [0, 100, 4096 + 512] {
        let outcome = FileDevice::create(&path, capacity_bytes, DirectIo::Prefer);
        assert!(
            matches!(outcome, Err(Error::Unusable { .. })),
            "{capacity_bytes}: {outcome:?}"
        );
    }
    std::fs::write(&path, vec![0u8; 4096 + 1]).expect("odd file");
    let outcome = FileDevice::open(&path, DirectIo::Prefer);
    assert!(
        matches!(outcome, Err(Error::Unusable { .. })),
        "{outcome:?}"
    );
    let missing = FileDevice::open(dir.path().join("missing"), DirectIo::Prefer);
    assert!(matches!(missing, Err(Error::Open { .. })), "{missing:?}");
}

/// An I/O error names the op, the LBA and the path, with the OS error as
/// its source: here a read past a file shortened behind the device's back.
#[test]
fn file_device_io_error_names_op_lba_and_path() {
    let dir = scratch_dir();
    let path = dir.path().join("device");
    let device = FileDevice::create(&path, 8 * 4096, DirectIo::Prefer).expect("create");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|file| file.set_len(4096))
        .expect("shorten the file");
    match read_frame(&device, 6) {
        Err(Error::Io {
            op: "read",
            lba: 6,
            device,
            source,
        }) => {
            assert_eq!(device, path.display().to_string());
            assert_eq!(source.kind(), std::io::ErrorKind::UnexpectedEof);
        }
        other => panic!("read past the shortened end: {other:?}"),
    }
}

/// Deallocate punches a hole: on file systems that support it (ext4, xfs,
/// btrfs, tmpfs) the blocks read back as zeroes.
#[test]
fn file_device_deallocate_reads_back_zeroes() {
    let dir = scratch_dir();
    let device =
        FileDevice::create(dir.path().join("device"), 8 * 4096, DirectIo::Prefer).expect("create");
    for lba in 0..8 {
        write_frame(&device, lba, 0x77);
    }
    device
        .open_queue(1)
        .expect("queue")
        .deallocate(2, 3)
        .expect("deallocate");
    for lba in 0..8 {
        let expected = if (2..5).contains(&lba) { 0 } else { 0x77 };
        assert_eq!(
            read_frame(&device, lba).expect("read"),
            vec![expected; 4096],
            "lba {lba}"
        );
    }
}

/// A real block device named by FLOE_BLK_DEVICE (its contents are
/// destroyed) passes the contract; e.g. a loop device:
/// `losetup --sector-size 512 -f --show img` then
/// `FLOE_BLK_DEVICE=/dev/loopN cargo test -p floe-blk --test contract`.
/// Without the variable there is no device to test and it says so.
#[test]
fn block_device_from_env_passes_the_contract() {
    let Some(path) = std::env::var_os("FLOE_BLK_DEVICE") else {
        eprintln!("FLOE_BLK_DEVICE not set: no real block device tested");
        return;
    };
    let device = FileDevice::open(&path, DirectIo::Require).expect("open FLOE_BLK_DEVICE");
    assert!(
        device.is_block_device(),
        "{}: not a block device",
        device.describe()
    );
    eprintln!("{device:?}");
    contract::run_all(&device);
}
