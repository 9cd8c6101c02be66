//! VFIO: the real bus under the driver (Linux only). Rebinds the PCI
//! function from the kernel's `nvme` driver to `vfio-pci` through sysfs,
//! opens the container and group, sets the type-1 IOMMU, maps DMA memory
//! with IOVA = virtual address, maps BAR0 and enables bus mastering.
//!
//! The ioctl numbers and structures follow include/uapi/linux/vfio.h (read
//! via rust-vmm/vfio-bindings and vfio-ioctls, not copied); they are
//! written out here instead of taking those crates because we use a dozen
//! of them and want the layouts asserted next to the calls. Raw ioctls sit
//! in the private `sys` module; everything public is a safe wrapper whose
//! methods keep the invariants (fd ownership, mapping bounds and lifetime).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Arc;

use crate::error::NvmeError;
use crate::memory::{DmaMapper, Registers};

/// A PCI function address, `domain:bus:device.function`, e.g.
/// `0000:00:04.0` (the form `floe.nvme=` takes and sysfs uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PciAddress {
    pub domain: u16,
    pub bus: u8,
    pub device: u8,
    pub function: u8,
}

impl PciAddress {
    /// Parses `DDDD:BB:DD.F` (hex; a missing domain means 0000). Anything
    /// else is refused with the expected form in the message.
    pub fn parse(text: &str) -> Result<PciAddress, String> {
        let expected = || format!("{text:?}: expected a PCI address like 0000:00:04.0");
        let parts: Vec<&str> = text.split(':').collect();
        let (domain, bus, rest) = match parts.as_slice() {
            [domain, bus, rest] => (*domain, *bus, *rest),
            [bus, rest] => ("0", *bus, *rest),
            _ => return Err(expected()),
        };
        let (device, function) = rest.split_once('.').ok_or_else(expected)?;
        let hex = |field: &str, max_len: usize| {
            if field.is_empty() || field.len() > max_len {
                return Err(expected());
            }
            u32::from_str_radix(field, 16).map_err(|_| expected())
        };
        let domain = hex(domain, 4)?;
        let bus = hex(bus, 2)?;
        let device = hex(device, 2)?;
        let function = hex(function, 1)?;
        if device > 0x1f || function > 7 {
            return Err(expected());
        }
        Ok(PciAddress {
            domain: domain as u16,
            bus: bus as u8,
            device: device as u8,
            function: function as u8,
        })
    }
}

impl std::fmt::Display for PciAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.domain, self.bus, self.device, self.function
        )
    }
}

/// Paths under a sysfs root (`/sys` in production; a directory in tests).
#[derive(Clone, Debug)]
pub struct Sysfs {
    root: PathBuf,
}

impl Sysfs {
    pub fn new(root: impl Into<PathBuf>) -> Sysfs {
        Sysfs { root: root.into() }
    }

    pub fn system() -> Sysfs {
        Sysfs::new("/sys")
    }

    pub fn device_dir(&self, address: PciAddress) -> PathBuf {
        self.root.join("bus/pci/devices").join(address.to_string())
    }

    /// The driver bound now (basename of the `driver` link), if any.
    pub fn bound_driver(&self, address: PciAddress) -> Option<String> {
        let link = std::fs::read_link(self.device_dir(address).join("driver")).ok()?;
        Some(link.file_name()?.to_string_lossy().into_owned())
    }

    /// The IOMMU group number (basename of the `iommu_group` link).
    pub fn iommu_group(&self, address: PciAddress) -> Result<u32, NvmeError> {
        let path = self.device_dir(address).join("iommu_group");
        let link = std::fs::read_link(&path).map_err(|source| NvmeError::Vfio {
            step: "reading the iommu_group link (is the IOMMU on? intel_iommu=on)",
            device: address.to_string(),
            source,
        })?;
        link.file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.parse().ok())
            .ok_or_else(|| NvmeError::VfioState {
                device: address.to_string(),
                reason: format!("iommu_group link {} names no group number", link.display()),
            })
    }

    /// Class code (e.g. 0x010802 for an NVMe controller).
    pub fn class(&self, address: PciAddress) -> Result<u32, NvmeError> {
        let path = self.device_dir(address).join("class");
        let text = std::fs::read_to_string(&path).map_err(|source| NvmeError::Vfio {
            step: "reading the PCI class",
            device: address.to_string(),
            source,
        })?;
        u32::from_str_radix(text.trim().trim_start_matches("0x"), 16).map_err(|_| {
            NvmeError::VfioState {
                device: address.to_string(),
                reason: format!("PCI class {text:?} is not hex"),
            }
        })
    }

    /// Every PCI function whose class is an NVMe controller (0x010802),
    /// sorted by address: what `floe.nvme=auto` picks from.
    pub fn find_nvme_functions(&self) -> Result<Vec<PciAddress>, NvmeError> {
        let dir = self.root.join("bus/pci/devices");
        let entries = std::fs::read_dir(&dir).map_err(|source| NvmeError::Vfio {
            step: "listing PCI devices",
            device: dir.display().to_string(),
            source,
        })?;
        let mut found = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(address) = name.to_str().and_then(|name| PciAddress::parse(name).ok()) else {
                continue;
            };
            if self.class(address).is_ok_and(|class| class == 0x010802) {
                found.push(address);
            }
        }
        found.sort_by_key(|address| {
            (
                address.domain,
                address.bus,
                address.device,
                address.function,
            )
        });
        Ok(found)
    }

    /// The PCI function behind the block device `name` (e.g. `nvme0n1`):
    /// the last component of `/sys/class/block/NAME`'s link target that is
    /// a PCI address (`../../devices/pci0000:00/0000:00:04.0/nvme/...`).
    /// Lets a caller that measured the kernel's path on a disk take the
    /// same disk for this driver.
    pub fn block_device_function(&self, name: &str) -> Result<PciAddress, NvmeError> {
        let bad = |reason: String| NvmeError::VfioState {
            device: name.to_string(),
            reason,
        };
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(bad("expected a block device name like nvme0n1".into()));
        }
        let link = self.root.join("class/block").join(name);
        let target = std::fs::read_link(&link).map_err(|source| NvmeError::Vfio {
            step: "reading the block device's sysfs link",
            device: name.to_string(),
            source,
        })?;
        target
            .components()
            .rev()
            .filter_map(|part| part.as_os_str().to_str())
            .find_map(|part| PciAddress::parse(part).ok())
            .ok_or_else(|| bad(format!("{} names no PCI function", target.display())))
    }

    fn write(
        &self,
        path: &Path,
        value: &str,
        step: &'static str,
        address: PciAddress,
    ) -> Result<(), NvmeError> {
        OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut file| file.write_all(value.as_bytes()))
            .map_err(|source| NvmeError::Vfio {
                step,
                device: address.to_string(),
                source,
            })
    }

    /// Unbinds the function from its driver (unless it is on vfio-pci
    /// already), sets driver_override to vfio-pci and binds it there.
    /// Returns the IOMMU group. Idempotent.
    pub fn bind_to_vfio(&self, address: PciAddress) -> Result<u32, NvmeError> {
        let device_dir = self.device_dir(address);
        match self.bound_driver(address).as_deref() {
            Some("vfio-pci") => return self.iommu_group(address),
            Some(driver) => {
                log::info!("{address}: unbinding from {driver}");
                self.write(
                    &device_dir.join("driver/unbind"),
                    &address.to_string(),
                    "unbinding from the kernel driver",
                    address,
                )?;
            }
            None => {}
        }
        self.write(
            &device_dir.join("driver_override"),
            "vfio-pci",
            "setting driver_override to vfio-pci",
            address,
        )?;
        self.write(
            &self.root.join("bus/pci/drivers/vfio-pci/bind"),
            &address.to_string(),
            "binding to vfio-pci (is the vfio-pci module loaded?)",
            address,
        )?;
        self.iommu_group(address)
    }
}

/// Raw VFIO ioctls and structures (linux/vfio.h). Private: only the safe
/// types below call them.
mod sys {
    /// _IO(';', 100 + n): VFIO ioctls carry no size or direction bits.
    const fn vfio_io(n: u32) -> u32 {
        ((b';' as u32) << 8) | (100 + n)
    }

    pub const GET_API_VERSION: u32 = vfio_io(0);
    pub const CHECK_EXTENSION: u32 = vfio_io(1);
    pub const SET_IOMMU: u32 = vfio_io(2);
    pub const GROUP_GET_STATUS: u32 = vfio_io(3);
    pub const GROUP_SET_CONTAINER: u32 = vfio_io(4);
    pub const GROUP_GET_DEVICE_FD: u32 = vfio_io(6);
    pub const DEVICE_GET_INFO: u32 = vfio_io(7);
    pub const DEVICE_GET_REGION_INFO: u32 = vfio_io(8);
    pub const IOMMU_MAP_DMA: u32 = vfio_io(13);
    pub const IOMMU_UNMAP_DMA: u32 = vfio_io(14);

    pub const API_VERSION: i32 = 0;
    pub const TYPE1_IOMMU: u64 = 1;
    pub const TYPE1V2_IOMMU: u64 = 3;
    pub const GROUP_FLAGS_VIABLE: u32 = 1;
    pub const DEVICE_FLAGS_PCI: u32 = 1 << 1;
    pub const REGION_INFO_FLAG_READ: u32 = 1;
    pub const REGION_INFO_FLAG_WRITE: u32 = 1 << 1;
    pub const REGION_INFO_FLAG_MMAP: u32 = 1 << 2;
    pub const DMA_MAP_FLAG_READ: u32 = 1;
    pub const DMA_MAP_FLAG_WRITE: u32 = 1 << 1;
    pub const PCI_BAR0_REGION_INDEX: u32 = 0;
    pub const PCI_CONFIG_REGION_INDEX: u32 = 7;

    #[repr(C)]
    #[derive(Debug, Default)]
    pub struct GroupStatus {
        pub argsz: u32,
        pub flags: u32,
    }

    #[repr(C)]
    #[derive(Debug, Default)]
    pub struct DeviceInfo {
        pub argsz: u32,
        pub flags: u32,
        pub num_regions: u32,
        pub num_irqs: u32,
    }

    #[repr(C)]
    #[derive(Debug, Default)]
    pub struct RegionInfo {
        pub argsz: u32,
        pub flags: u32,
        pub index: u32,
        pub cap_offset: u32,
        pub size: u64,
        pub offset: u64,
    }

    #[repr(C)]
    #[derive(Debug, Default)]
    pub struct DmaMap {
        pub argsz: u32,
        pub flags: u32,
        pub vaddr: u64,
        pub iova: u64,
        pub size: u64,
    }

    #[repr(C)]
    #[derive(Debug, Default)]
    pub struct DmaUnmap {
        pub argsz: u32,
        pub flags: u32,
        pub iova: u64,
        pub size: u64,
    }

    // Sizes the kernel's `minsz` checks expect (offsetofend of the last
    // field each ioctl reads).
    const _: () = assert!(std::mem::size_of::<GroupStatus>() == 8);
    const _: () = assert!(std::mem::size_of::<DeviceInfo>() == 16);
    const _: () = assert!(std::mem::size_of::<RegionInfo>() == 32);
    const _: () = assert!(std::mem::size_of::<DmaMap>() == 32);
    const _: () = assert!(std::mem::size_of::<DmaUnmap>() == 24);
}

fn open_fd(path: &Path, device: &str, step: &'static str) -> Result<File, NvmeError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|source| NvmeError::Vfio {
            step,
            device: device.to_owned(),
            source,
        })
}

/// ioctl with an integer argument; returns the non-negative result.
fn ioctl_value(fd: &impl AsRawFd, request: u32, arg: libc::c_ulong) -> std::io::Result<i32> {
    // SAFETY: `fd` is an open descriptor we own (borrowed for the call);
    // every request passed here takes an integer argument (or none), so
    // the kernel reads no memory through `arg`.
    let result = unsafe { libc::ioctl(fd.as_raw_fd(), request as libc::Ioctl, arg) };
    if result < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

/// ioctl with a pointer to a `#[repr(C)]` structure the kernel reads
/// and may write back.
fn ioctl_struct<T>(fd: &impl AsRawFd, request: u32, arg: &mut T) -> std::io::Result<i32> {
    let pointer: *mut T = arg;
    // SAFETY: `fd` is an open descriptor we own; `pointer` comes from a
    // live &mut T, and every caller pairs a request with the T its header
    // defines (a struct whose argsz field gives its size, or an int fd),
    // so the kernel reads and writes only inside it.
    let result = unsafe { libc::ioctl(fd.as_raw_fd(), request as libc::Ioctl, pointer) };
    if result < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

fn argsz<T>() -> u32 {
    std::mem::size_of::<T>() as u32
}

/// A VFIO container with one group attached and the type-1 IOMMU set.
/// Maps DMA memory with IOVA = virtual address.
#[derive(Debug)]
pub struct VfioContainer {
    container: File,
    // Kept open: closing the group detaches it from the container.
    _group: File,
    name: String,
}

impl DmaMapper for VfioContainer {
    unsafe fn map(&self, iova: u64, len_bytes: u64) -> Result<(), NvmeError> {
        let mut map = sys::DmaMap {
            argsz: argsz::<sys::DmaMap>(),
            flags: sys::DMA_MAP_FLAG_READ | sys::DMA_MAP_FLAG_WRITE,
            vaddr: iova,
            iova,
            size: len_bytes,
        };
        ioctl_struct(&self.container, sys::IOMMU_MAP_DMA, &mut map)
            .map(|_| ())
            .map_err(|source| {
                // IOVA = VA puts IOVAs near 2^47; an IOMMU with a 39-bit
                // address width (QEMU's intel-iommu default) refuses them.
                if iova.saturating_add(len_bytes) > 1 << 39 {
                    log::error!(
                        "{}: DMA map at iova {iova:#x} failed; if the IOMMU has a 39-bit \
                         address width, give QEMU -device intel-iommu,aw-bits=48",
                        self.name
                    );
                }
                NvmeError::DmaMap {
                    iova,
                    len_bytes,
                    source,
                }
            })
    }

    fn unmap(&self, iova: u64, len_bytes: u64) -> Result<(), NvmeError> {
        let mut unmap = sys::DmaUnmap {
            argsz: argsz::<sys::DmaUnmap>(),
            flags: 0,
            iova,
            size: len_bytes,
        };
        ioctl_struct(&self.container, sys::IOMMU_UNMAP_DMA, &mut unmap)
            .map(|_| ())
            .map_err(|source| NvmeError::DmaMap {
                iova,
                len_bytes,
                source,
            })
    }
}

/// NVMe BAR0 mapped from its VFIO region; touched only by volatile
/// accessors; unmapped in Drop. It owns the VFIO device fd: closing that
/// makes vfio-pci reset the function, so it lives exactly as long as the
/// registers are in use.
#[derive(Debug)]
pub struct Bar0 {
    base: NonNull<u8>,
    len_bytes: usize,
    _device: File,
}

// SAFETY: the mapping is device MMIO owned by this value; accesses are
// single volatile loads and stores of aligned dwords, which the device
// accepts from any CPU, and nothing else is reachable through `base`.
unsafe impl Send for Bar0 {}
// SAFETY: as above; concurrent volatile dword accesses to different
// registers (each queue its own doorbells) are what the device expects.
unsafe impl Sync for Bar0 {}

impl Bar0 {
    /// Maps `len_bytes` of the device fd at `offset` (from the region info).
    fn map(device: File, offset: u64, len_bytes: usize, name: &str) -> Result<Bar0, NvmeError> {
        let offset = libc::off_t::try_from(offset).map_err(|_| NvmeError::VfioState {
            device: name.to_owned(),
            reason: format!("BAR0 region offset {offset:#x} does not fit off_t"),
        })?;
        // SAFETY: a new shared mapping of a device region (no MAP_FIXED, so
        // nothing existing is replaced); the kernel checks offset and
        // length against the region, and the result is checked below.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len_bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                device.as_raw_fd(),
                offset,
            )
        };
        if raw == libc::MAP_FAILED {
            return Err(NvmeError::Vfio {
                step: "mapping BAR0",
                device: name.to_owned(),
                source: std::io::Error::last_os_error(),
            });
        }
        let base = NonNull::new(raw.cast::<u8>()).ok_or_else(|| NvmeError::VfioState {
            device: name.to_owned(),
            reason: "mmap of BAR0 returned null".into(),
        })?;
        Ok(Bar0 {
            base,
            len_bytes,
            _device: device,
        })
    }

    pub fn len_bytes(&self) -> usize {
        self.len_bytes
    }
}

impl Registers for Bar0 {
    fn read_u32(&self, offset_bytes: usize) -> u32 {
        assert!(offset_bytes.is_multiple_of(4));
        assert!(offset_bytes + 4 <= self.len_bytes);
        let pointer = self.base.as_ptr().wrapping_add(offset_bytes).cast::<u32>();
        // SAFETY: in bounds and 4-byte aligned (asserted above; the mapping
        // is page aligned); the mapping lives as long as `self`. Volatile,
        // so every register read reaches the device.
        let value = unsafe { pointer.read_volatile() };
        u32::from_le(value)
    }

    fn write_u32(&self, offset_bytes: usize, value: u32) {
        assert!(offset_bytes.is_multiple_of(4));
        assert!(offset_bytes + 4 <= self.len_bytes);
        let pointer = self.base.as_ptr().wrapping_add(offset_bytes).cast::<u32>();
        // SAFETY: in bounds and 4-byte aligned (asserted above); the mapping
        // lives as long as `self`. Volatile, so a doorbell write is neither
        // merged nor dropped by the compiler.
        unsafe { pointer.write_volatile(value.to_le()) }
    }
}

impl Drop for Bar0 {
    fn drop(&mut self) {
        // SAFETY: `base` and `len_bytes` are exactly what mmap returned and
        // was given; no accessor can run during or after drop; unmapped once.
        let result = unsafe { libc::munmap(self.base.as_ptr().cast(), self.len_bytes) };
        if result != 0 {
            log::error!(
                "munmap of BAR0 ({} bytes): {}",
                self.len_bytes,
                std::io::Error::last_os_error()
            );
        }
    }
}

/// An NVMe function opened through VFIO: the container (the DMA mapper)
/// and BAR0 (the registers, owning the device fd).
#[derive(Debug)]
pub struct VfioNvme {
    pub address: PciAddress,
    pub container: Arc<VfioContainer>,
    pub bar0: Arc<Bar0>,
}

/// Doorbells for 1024 queue pairs at the widest stride we accept; BAR0
/// smaller than the registers plus the admin doorbells is refused.
const BAR0_MIN_BYTES: u64 = 0x1000 + 8;

impl VfioNvme {
    /// Rebinds `address` to vfio-pci (via `sysfs`) and opens it.
    pub fn open(sysfs: &Sysfs, address: PciAddress) -> Result<VfioNvme, NvmeError> {
        let name = address.to_string();
        let class = sysfs.class(address)?;
        if class >> 8 != 0x0108 {
            return Err(NvmeError::VfioState {
                device: name,
                reason: format!("PCI class {class:#08x} is not a non-volatile memory controller"),
            });
        }
        let group_no = sysfs.bind_to_vfio(address)?;
        let container = open_fd(Path::new("/dev/vfio/vfio"), &name, "opening /dev/vfio/vfio")?;
        let version =
            ioctl_value(&container, sys::GET_API_VERSION, 0).map_err(|source| NvmeError::Vfio {
                step: "VFIO_GET_API_VERSION",
                device: name.clone(),
                source,
            })?;
        if version != sys::API_VERSION {
            return Err(NvmeError::VfioState {
                device: name,
                reason: format!(
                    "VFIO API version {version}; this build speaks {}",
                    sys::API_VERSION
                ),
            });
        }
        let iommu_type = [sys::TYPE1V2_IOMMU, sys::TYPE1_IOMMU]
            .into_iter()
            .find(|&kind| {
                ioctl_value(&container, sys::CHECK_EXTENSION, kind as libc::c_ulong)
                    .is_ok_and(|supported| supported > 0)
            })
            .ok_or_else(|| NvmeError::VfioState {
                device: name.clone(),
                reason: "no type-1 IOMMU (load vfio_iommu_type1)".into(),
            })?;
        // The group node appears shortly after the bind; wait for it,
        // bounded (about 2 s), at boot only.
        let group_path = PathBuf::from(format!("/dev/vfio/{group_no}"));
        let mut group = None;
        for _ in 0..200 {
            match OpenOptions::new().read(true).write(true).open(&group_path) {
                Ok(file) => {
                    group = Some(file);
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(source) => {
                    return Err(NvmeError::Vfio {
                        step: "opening the VFIO group",
                        device: name,
                        source,
                    })
                }
            }
        }
        let group = group.ok_or_else(|| NvmeError::VfioState {
            device: name.clone(),
            reason: format!("{} did not appear within 2 s", group_path.display()),
        })?;
        let mut status = sys::GroupStatus {
            argsz: argsz::<sys::GroupStatus>(),
            flags: 0,
        };
        ioctl_struct(&group, sys::GROUP_GET_STATUS, &mut status).map_err(|source| {
            NvmeError::Vfio {
                step: "VFIO_GROUP_GET_STATUS",
                device: name.clone(),
                source,
            }
        })?;
        if status.flags & sys::GROUP_FLAGS_VIABLE == 0 {
            return Err(NvmeError::VfioState {
                device: name,
                reason: format!(
                    "IOMMU group {group_no} is not viable: bind every device in it to vfio-pci"
                ),
            });
        }
        let mut container_fd = container.as_raw_fd();
        ioctl_struct(&group, sys::GROUP_SET_CONTAINER, &mut container_fd).map_err(|source| {
            NvmeError::Vfio {
                step: "VFIO_GROUP_SET_CONTAINER",
                device: name.clone(),
                source,
            }
        })?;
        ioctl_value(&container, sys::SET_IOMMU, iommu_type as libc::c_ulong).map_err(|source| {
            NvmeError::Vfio {
                step: "VFIO_SET_IOMMU",
                device: name.clone(),
                source,
            }
        })?;
        let device = Self::device_fd(&group, &name)?;
        let mut info = sys::DeviceInfo {
            argsz: argsz::<sys::DeviceInfo>(),
            ..Default::default()
        };
        ioctl_struct(&device, sys::DEVICE_GET_INFO, &mut info).map_err(|source| {
            NvmeError::Vfio {
                step: "VFIO_DEVICE_GET_INFO",
                device: name.clone(),
                source,
            }
        })?;
        if info.flags & sys::DEVICE_FLAGS_PCI == 0
            || info.num_regions <= sys::PCI_CONFIG_REGION_INDEX
        {
            return Err(NvmeError::VfioState {
                device: name,
                reason: format!(
                    "not a PCI device with config space (flags {:#x}, {} regions)",
                    info.flags, info.num_regions
                ),
            });
        }
        let bar0_info = Self::region_info(&device, sys::PCI_BAR0_REGION_INDEX, &name)?;
        let wanted =
            sys::REGION_INFO_FLAG_READ | sys::REGION_INFO_FLAG_WRITE | sys::REGION_INFO_FLAG_MMAP;
        if bar0_info.flags & wanted != wanted || bar0_info.size < BAR0_MIN_BYTES {
            return Err(NvmeError::VfioState {
                device: name,
                reason: format!(
                    "BAR0 region of {} bytes with flags {:#x}: need read, write, mmap and {BAR0_MIN_BYTES} bytes",
                    bar0_info.size, bar0_info.flags
                ),
            });
        }
        let bar0_len = usize::try_from(bar0_info.size).map_err(|_| NvmeError::VfioState {
            device: name.clone(),
            reason: format!("BAR0 of {} bytes does not fit in memory", bar0_info.size),
        })?;
        let config = Self::region_info(&device, sys::PCI_CONFIG_REGION_INDEX, &name)?;
        Self::enable_bus_master(&device, config.offset, &name)?;
        let bar0 = Bar0::map(device, bar0_info.offset, bar0_len, &name)?;
        log::info!("{name}: opened through VFIO group {group_no}, BAR0 {bar0_len} bytes");
        Ok(VfioNvme {
            address,
            container: Arc::new(VfioContainer {
                container,
                _group: group,
                name: name.clone(),
            }),
            bar0: Arc::new(bar0),
        })
    }

    /// Opens the function at `address` (rebinding it to vfio-pci), starts
    /// the controller with the production clock and returns the device.
    pub fn open_device(
        sysfs: &Sysfs,
        address: PciAddress,
        options: crate::ControllerOptions,
    ) -> Result<crate::NvmeDevice, NvmeError> {
        let vfio = VfioNvme::open(sysfs, address)?;
        let controller = crate::Controller::start(
            vfio.bar0,
            vfio.container,
            Arc::new(crate::MonotonicClock::new()),
            options,
        )?;
        Ok(crate::NvmeDevice::new(
            controller,
            format!("nvme {address}"),
        ))
    }

    fn device_fd(group: &File, name: &str) -> Result<File, NvmeError> {
        let mut address = std::ffi::CString::new(name)
            .map_err(|_| NvmeError::VfioState {
                device: name.to_owned(),
                reason: "PCI address with a NUL byte".into(),
            })?
            .into_bytes_with_nul();
        // SAFETY: `group` is an open VFIO group fd; the argument points to a
        // NUL-terminated string that lives across the call, which is what
        // VFIO_GROUP_GET_DEVICE_FD reads.
        let fd = unsafe {
            libc::ioctl(
                group.as_raw_fd(),
                sys::GROUP_GET_DEVICE_FD as libc::Ioctl,
                address.as_mut_ptr(),
            )
        };
        if fd < 0 {
            return Err(NvmeError::Vfio {
                step: "VFIO_GROUP_GET_DEVICE_FD",
                device: name.to_owned(),
                source: std::io::Error::last_os_error(),
            });
        }
        // SAFETY: the ioctl returned a new descriptor (checked >= 0) that
        // nothing else owns; OwnedFd closes it once.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(File::from(owned))
    }

    fn region_info(device: &File, index: u32, name: &str) -> Result<sys::RegionInfo, NvmeError> {
        let mut info = sys::RegionInfo {
            argsz: argsz::<sys::RegionInfo>(),
            index,
            ..Default::default()
        };
        ioctl_struct(device, sys::DEVICE_GET_REGION_INFO, &mut info).map_err(|source| {
            NvmeError::Vfio {
                step: "VFIO_DEVICE_GET_REGION_INFO",
                device: name.to_owned(),
                source,
            }
        })?;
        Ok(info)
    }

    /// Sets Memory Space and Bus Master in the PCI command register
    /// (config offset 4), so the controller may answer MMIO and do DMA.
    fn enable_bus_master(device: &File, config_offset: u64, name: &str) -> Result<(), NvmeError> {
        const PCI_COMMAND: u64 = 0x04;
        const MEMORY_SPACE: u16 = 1 << 1;
        const BUS_MASTER: u16 = 1 << 2;
        let io_error = |step| {
            move |source| NvmeError::Vfio {
                step,
                device: name.to_owned(),
                source,
            }
        };
        let mut command = [0u8; 2];
        device
            .read_exact_at(&mut command, config_offset + PCI_COMMAND)
            .map_err(io_error("reading the PCI command register"))?;
        let value = u16::from_le_bytes(command) | MEMORY_SPACE | BUS_MASTER;
        device
            .write_all_at(&value.to_le_bytes(), config_offset + PCI_COMMAND)
            .map_err(io_error("enabling bus mastering"))
    }
}

impl std::fmt::Display for VfioContainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VFIO container for {}", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PCI addresses parse in both forms, print canonically, and anything
    /// malformed is refused.
    #[test]
    fn pci_addresses_parse_strictly() {
        let address = PciAddress::parse("0000:00:04.0").expect("parse");
        assert_eq!(
            address,
            PciAddress {
                domain: 0,
                bus: 0,
                device: 4,
                function: 0
            }
        );
        assert_eq!(address.to_string(), "0000:00:04.0");
        assert_eq!(
            PciAddress::parse("3a:1f.7")
                .expect("short form")
                .to_string(),
            "0000:3a:1f.7"
        );
        for bad in [
            "",
            "0000:00:04",
            "0000:00:20.0",
            "0000:00:04.8",
            "x:00:04.0",
            "00000:00:04.0",
            "0000:000:04.0",
            "0:0:0:0.0",
        ] {
            assert!(PciAddress::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    /// The ioctl numbers are _IO(';', 100 + n), as linux/vfio.h defines.
    #[test]
    fn ioctl_numbers_match_the_header() {
        assert_eq!(sys::GET_API_VERSION, 0x3b64);
        assert_eq!(sys::SET_IOMMU, 0x3b66);
        assert_eq!(sys::GROUP_GET_DEVICE_FD, 0x3b6a);
        assert_eq!(sys::DEVICE_GET_REGION_INFO, 0x3b6c);
        assert_eq!(sys::IOMMU_MAP_DMA, 0x3b71);
        assert_eq!(sys::IOMMU_UNMAP_DMA, 0x3b72);
        assert_eq!(std::mem::offset_of!(sys::RegionInfo, size), 16);
        assert_eq!(std::mem::offset_of!(sys::DmaMap, iova), 16);
        assert_eq!(std::mem::offset_of!(sys::DmaUnmap, size), 16);
    }

    fn fake_sysfs(driver: Option<&str>) -> (tempfile::TempDir, Sysfs, PciAddress) {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        let address = PciAddress::parse("0000:00:04.0").expect("address");
        let device = root.join("bus/pci/devices/0000:00:04.0");
        std::fs::create_dir_all(&device).expect("device dir");
        std::fs::create_dir_all(root.join("kernel/iommu_groups/7")).expect("group dir");
        std::os::unix::fs::symlink(
            root.join("kernel/iommu_groups/7"),
            device.join("iommu_group"),
        )
        .expect("group link");
        std::fs::write(device.join("class"), "0x010802\n").expect("class");
        std::fs::write(device.join("driver_override"), "").expect("override");
        for name in ["nvme", "vfio-pci"] {
            let driver_dir = root.join("bus/pci/drivers").join(name);
            std::fs::create_dir_all(&driver_dir).expect("driver dir");
            std::fs::write(driver_dir.join("bind"), "").expect("bind");
            std::fs::write(driver_dir.join("unbind"), "").expect("unbind");
        }
        if let Some(name) = driver {
            std::os::unix::fs::symlink(
                root.join("bus/pci/drivers").join(name),
                device.join("driver"),
            )
            .expect("driver link");
        }
        let sysfs = Sysfs::new(root);
        (dir, sysfs, address)
    }

    /// Rebinding writes the address to the old driver's unbind, vfio-pci
    /// to driver_override and the address to vfio-pci's bind, and returns
    /// the IOMMU group; a function already on vfio-pci is left alone.
    #[test]
    fn sysfs_rebinding_writes_the_right_files() {
        let (dir, sysfs, address) = fake_sysfs(Some("nvme"));
        let root = dir.path();
        assert_eq!(sysfs.class(address).expect("class"), 0x010802);
        assert_eq!(sysfs.bound_driver(address).as_deref(), Some("nvme"));
        assert_eq!(sysfs.bind_to_vfio(address).expect("bind"), 7);
        let read = |path: &str| std::fs::read_to_string(root.join(path)).expect(path);
        assert_eq!(read("bus/pci/drivers/nvme/unbind"), "0000:00:04.0");
        assert_eq!(
            read("bus/pci/devices/0000:00:04.0/driver_override"),
            "vfio-pci"
        );
        assert_eq!(read("bus/pci/drivers/vfio-pci/bind"), "0000:00:04.0");

        let (dir, sysfs, address) = fake_sysfs(Some("vfio-pci"));
        assert_eq!(sysfs.bind_to_vfio(address).expect("bind"), 7);
        let read = |path: &str| std::fs::read_to_string(dir.path().join(path)).expect(path);
        assert_eq!(read("bus/pci/drivers/vfio-pci/bind"), "");

        let (dir, sysfs, address) = fake_sysfs(None);
        std::fs::remove_file(dir.path().join("bus/pci/devices/0000:00:04.0/iommu_group"))
            .expect("remove link");
        assert!(matches!(
            sysfs.bind_to_vfio(address),
            Err(NvmeError::Vfio { .. })
        ));
        let missing = PciAddress::parse("0000:00:05.0").expect("address");
        assert!(matches!(sysfs.class(missing), Err(NvmeError::Vfio { .. })));
    }

    /// A block device's PCI function comes from its sysfs link; names with
    /// a slash, missing devices and links without a PCI address are
    /// refused.
    #[test]
    fn block_device_maps_to_its_pci_function() {
        let (dir, sysfs, address) = fake_sysfs(Some("nvme"));
        let class = dir.path().join("class/block");
        std::fs::create_dir_all(&class).expect("class dir");
        std::os::unix::fs::symlink(
            "../../devices/pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1",
            class.join("nvme0n1"),
        )
        .expect("link");
        std::os::unix::fs::symlink("../../devices/virtual/block/loop0", class.join("loop0"))
            .expect("link");
        assert_eq!(
            sysfs.block_device_function("nvme0n1").expect("function"),
            address
        );
        assert!(matches!(
            sysfs.block_device_function("loop0"),
            Err(NvmeError::VfioState { .. })
        ));
        assert!(matches!(
            sysfs.block_device_function("nvme1n1"),
            Err(NvmeError::Vfio { .. })
        ));
        for bad in ["", "..", "../nvme0n1"] {
            assert!(sysfs.block_device_function(bad).is_err(), "{bad:?}");
        }
    }

    /// Discovery lists NVMe functions (class 0x010802) in address order
    /// and skips other classes and names that are not PCI addresses.
    #[test]
    fn finds_nvme_functions_by_class() {
        let (dir, sysfs, first) = fake_sysfs(None);
        let devices = dir.path().join("bus/pci/devices");
        for (name, class) in [
            ("0000:00:03.0", "0x020000\n"),
            ("0000:00:02.0", "0x010802\n"),
            ("not-an-address", "0x010802\n"),
        ] {
            std::fs::create_dir_all(devices.join(name)).expect("dir");
            std::fs::write(devices.join(name).join("class"), class).expect("class");
        }
        let found = sysfs.find_nvme_functions().expect("scan");
        let second = PciAddress::parse("0000:00:02.0").expect("address");
        assert_eq!(found, vec![second, first]);
        assert!(Sysfs::new(dir.path().join("nowhere"))
            .find_nvme_functions()
            .is_err());
    }
}
