//! Network bring-up for the appliance's PID 1 through the kernel's own
//! stack: interface flags, IPv4 address and default route by ioctl
//! (`iface`), and a DHCPv4 client over a UDP socket bound to the device
//! (`dhcp`). smoltcp on a user-space NIC comes later, beside this.
//! Unsafe lives only in `iface`, one ioctl per block.

pub mod dhcp;
pub mod iface;

pub use dhcp::{DhcpError, Lease};
pub use iface::IfaceError;
