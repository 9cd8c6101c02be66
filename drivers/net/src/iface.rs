//! Interface configuration by ioctl on an AF_INET datagram socket: the
//! classic SIOCSIF* calls. We write these few ioctls ourselves rather than
//! speak rtnetlink: four calls, no message parsing, no extra crate.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

#[derive(Debug, thiserror::Error)]
pub enum IfaceError {
    #[error("interface name '{name}' is empty or longer than 15 bytes")]
    BadName { name: String },
    #[error("opening a control socket")]
    Socket(#[source] nix::Error),
    #[error("{name}: {action}")]
    Ioctl {
        name: String,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// A control socket for interface ioctls.
pub struct Control {
    socket: OwnedFd,
}

fn ifreq_for(name: &str) -> Result<libc::ifreq, IfaceError> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(IfaceError::BadName {
            name: name.to_string(),
        });
    }
    // SAFETY: ifreq is a plain C struct of integers, arrays and a union of
    // the same; all-zero bytes are a valid value of each.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(bytes) {
        *slot = *byte as libc::c_char;
    }
    Ok(request)
}

fn sockaddr_in(address: Ipv4Addr) -> libc::sockaddr {
    let inet = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(address.octets()),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr are both 16 bytes (asserted below)
    // and plain data; the kernel reads a sockaddr as a sockaddr_in when
    // sa_family is AF_INET, which is the documented way to pass it.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(inet) }
}
const _: () =
    assert!(std::mem::size_of::<libc::sockaddr_in>() == std::mem::size_of::<libc::sockaddr>());

impl Control {
    pub fn new() -> Result<Self, IfaceError> {
        let socket = socket(
            AddressFamily::Inet,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(IfaceError::Socket)?;
        Ok(Control { socket })
    }

    fn ioctl(
        &self,
        name: &str,
        action: &'static str,
        request: libc::c_ulong,
        argument: *mut libc::c_void,
    ) -> Result<(), IfaceError> {
        // SAFETY: the socket is open for the life of `self`; every caller
        // passes a request code with the argument type it expects (ifreq
        // or rtentry), which lives on the caller's stack for this call.
        let result = unsafe { libc::ioctl(self.socket.as_raw_fd(), request, argument) };
        if result < 0 {
            return Err(IfaceError::Ioctl {
                name: name.to_string(),
                action,
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(())
    }

    /// Sets IFF_UP (keeping the other flags).
    pub fn set_up(&self, name: &str) -> Result<(), IfaceError> {
        let mut request = ifreq_for(name)?;
        self.ioctl(
            name,
            "reading flags",
            libc::SIOCGIFFLAGS,
            (&mut request as *mut libc::ifreq).cast(),
        )?;
        // SAFETY: SIOCGIFFLAGS filled ifru_flags, the union member we read.
        let flags = unsafe { request.ifr_ifru.ifru_flags };
        request.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
        self.ioctl(
            name,
            "setting IFF_UP",
            libc::SIOCSIFFLAGS,
            (&mut request as *mut libc::ifreq).cast(),
        )
    }

    /// Sets the IPv4 address and netmask of `name`.
    pub fn set_ipv4(
        &self,
        name: &str,
        address: Ipv4Addr,
        prefix_len: u8,
    ) -> Result<(), IfaceError> {
        let mut request = ifreq_for(name)?;
        request.ifr_ifru.ifru_addr = sockaddr_in(address);
        self.ioctl(
            name,
            "setting its address",
            libc::SIOCSIFADDR,
            (&mut request as *mut libc::ifreq).cast(),
        )?;
        let mut request = ifreq_for(name)?;
        request.ifr_ifru.ifru_netmask = sockaddr_in(netmask(prefix_len));
        self.ioctl(
            name,
            "setting its netmask",
            libc::SIOCSIFNETMASK,
            (&mut request as *mut libc::ifreq).cast(),
        )
    }

    /// Adds a default route through `gateway`.
    pub fn add_default_route(&self, name: &str, gateway: Ipv4Addr) -> Result<(), IfaceError> {
        // SAFETY: rtentry is a plain C struct; all-zero is valid (no device
        // pointer, no flags), and we fill in what the route needs below.
        let mut route: libc::rtentry = unsafe { std::mem::zeroed() };
        route.rt_dst = sockaddr_in(Ipv4Addr::UNSPECIFIED);
        route.rt_genmask = sockaddr_in(Ipv4Addr::UNSPECIFIED);
        route.rt_gateway = sockaddr_in(gateway);
        route.rt_flags = libc::RTF_UP | libc::RTF_GATEWAY;
        self.ioctl(
            name,
            "adding the default route",
            libc::SIOCADDRT,
            (&mut route as *mut libc::rtentry).cast(),
        )
    }
}

/// The netmask of a prefix length (0..=32; larger is treated as 32).
pub fn netmask(prefix_len: u8) -> Ipv4Addr {
    let bits = u32::from(prefix_len.min(32));
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    Ipv4Addr::from(mask)
}

/// The prefix length of a netmask, if its ones are contiguous.
pub fn prefix_len(mask: Ipv4Addr) -> Option<u8> {
    let bits = u32::from(mask);
    let ones = bits.leading_ones();
    (bits.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Netmasks and prefix lengths convert both ways; holes are refused.
    #[test]
    fn netmask_and_prefix_convert() {
        assert_eq!(netmask(24), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(netmask(0), Ipv4Addr::new(0, 0, 0, 0));
        assert_eq!(netmask(32), Ipv4Addr::new(255, 255, 255, 255));
        assert_eq!(prefix_len(Ipv4Addr::new(255, 255, 255, 0)), Some(24));
        assert_eq!(prefix_len(Ipv4Addr::new(255, 255, 255, 255)), Some(32));
        assert_eq!(prefix_len(Ipv4Addr::new(0, 0, 0, 0)), Some(0));
        assert_eq!(prefix_len(Ipv4Addr::new(255, 0, 255, 0)), None);
    }

    // Interface names the kernel cannot take are refused before any ioctl.
    #[test]
    fn bad_names_are_refused() {
        assert!(matches!(ifreq_for(""), Err(IfaceError::BadName { .. })));
        assert!(matches!(
            ifreq_for("a-very-long-name0"),
            Err(IfaceError::BadName { .. })
        ));
        assert!(ifreq_for("eth0").is_ok());
    }
}
