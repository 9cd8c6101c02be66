//! A small DHCPv4 client (RFC 2131: DISCOVER, OFFER, REQUEST, ACK) for a
//! PXE-booted fleet. Messages are built and parsed by `dhcproto`; the
//! socket is a plain UDP socket on port 68 bound to the device with
//! SO_BINDTODEVICE and the broadcast flag set, so the server's reply comes
//! back as a broadcast the kernel delivers before the interface has an
//! address. Every wait has a deadline and every loop a bound.

use std::ffi::OsString;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable};
use nix::sys::socket::{setsockopt, sockopt};

/// Attempts of the whole exchange before giving up; each waits up to
/// `REPLY_WAIT` for a reply, doubling, as RFC 2131 4.1 suggests.
const ATTEMPTS_MAX: u32 = 6;
const REPLY_WAIT_FIRST: Duration = Duration::from_secs(2);
/// Datagrams read per wait before we stop listening to noise.
const DATAGRAMS_PER_WAIT_MAX: u32 = 64;

#[derive(Debug, thiserror::Error)]
pub enum DhcpError {
    #[error("dhcp on {iface}: {action}")]
    Io {
        iface: String,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("dhcp on {iface}: binding the socket to the device")]
    BindToDevice {
        iface: String,
        #[source]
        source: nix::Error,
    },
    #[error("dhcp on {iface}: encoding a {message} message: {reason}")]
    Encode {
        iface: String,
        message: &'static str,
        reason: String,
    },
    #[error("dhcp on {iface}: no {waited_for} after {attempts} attempts ({elapsed_s:.1} s)")]
    NoReply {
        iface: String,
        waited_for: &'static str,
        attempts: u32,
        elapsed_s: f64,
    },
    #[error("dhcp on {iface}: server {server} refused the request (NAK)")]
    Refused { iface: String, server: Ipv4Addr },
    #[error("dhcp on {iface}: offer without {missing}")]
    Incomplete {
        iface: String,
        missing: &'static str,
    },
}

/// What the server gave us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    pub router: Option<Ipv4Addr>,
    pub server: Ipv4Addr,
    pub lease_s: u32,
}

/// Runs DISCOVER..ACK on `iface` (already up) whose hardware address is `mac`.
pub fn acquire(iface: &str, mac: [u8; 6]) -> Result<Lease, DhcpError> {
    let io = |action| {
        move |source| DhcpError::Io {
            iface: iface.to_string(),
            action,
            source,
        }
    };
    let socket = client_socket(iface)?;
    let xid = random_xid().map_err(io("reading /dev/urandom"))?;
    let started = Instant::now();

    let offer = exchange(
        &socket,
        iface,
        Ipv4Addr::BROADCAST,
        &discover(mac, xid),
        xid,
        "DHCPOFFER",
        started,
        |reply| reply.opts().msg_type() == Some(MessageType::Offer),
    )?;
    let offered = offer.yiaddr();
    let server = match offer.opts().get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(server)) => *server,
        _ => {
            return Err(DhcpError::Incomplete {
                iface: iface.to_string(),
                missing: "a server identifier",
            })
        }
    };
    log::info!("dhcp on {iface}: offer of {offered} from {server}");
    let request = request(mac, xid, offered, server);
    let ack = exchange(
        &socket,
        iface,
        Ipv4Addr::BROADCAST,
        &request,
        xid,
        "DHCPACK",
        started,
        |reply| {
            matches!(
                reply.opts().msg_type(),
                Some(MessageType::Ack) | Some(MessageType::Nak)
            )
        },
    )?;
    if ack.opts().msg_type() == Some(MessageType::Nak) {
        return Err(DhcpError::Refused {
            iface: iface.to_string(),
            server,
        });
    }
    lease_from(iface, &ack, server)
}

/// UDP port 68 bound to `iface`, broadcast allowed.
fn client_socket(iface: &str) -> Result<UdpSocket, DhcpError> {
    let io = |action| {
        move |source| DhcpError::Io {
            iface: iface.to_string(),
            action,
            source,
        }
    };
    let socket = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68))
        .map_err(io("binding UDP port 68"))?;
    setsockopt(&socket, sockopt::BindToDevice, &OsString::from(iface)).map_err(|source| {
        DhcpError::BindToDevice {
            iface: iface.to_string(),
            source,
        }
    })?;
    socket
        .set_broadcast(true)
        .map_err(io("enabling broadcast"))?;
    Ok(socket)
}

/// Renews `lease` (RFC 2131 4.4.5): a REQUEST carrying our address in
/// ciaddr, unicast to the server that granted it while `rebinding` is
/// false (T1), broadcast to any server once it is true (T2). Returns the
/// new lease; the caller applies it and schedules the next renewal.
pub fn renew(
    iface: &str,
    mac: [u8; 6],
    lease: &Lease,
    rebinding: bool,
) -> Result<Lease, DhcpError> {
    let io = |action| {
        move |source| DhcpError::Io {
            iface: iface.to_string(),
            action,
            source,
        }
    };
    let socket = client_socket(iface)?;
    let xid = random_xid().map_err(io("reading /dev/urandom"))?;
    let message = renewal(mac, xid, lease.address);
    let destination = if rebinding {
        Ipv4Addr::BROADCAST
    } else {
        lease.server
    };
    let reply = exchange(
        &socket,
        iface,
        destination,
        &message,
        xid,
        "DHCPACK",
        Instant::now(),
        |reply| {
            matches!(
                reply.opts().msg_type(),
                Some(MessageType::Ack) | Some(MessageType::Nak)
            )
        },
    )?;
    if reply.opts().msg_type() == Some(MessageType::Nak) {
        return Err(DhcpError::Refused {
            iface: iface.to_string(),
            server: lease.server,
        });
    }
    let server = match reply.opts().get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(server)) => *server,
        _ => lease.server,
    };
    lease_from(iface, &reply, server)
}

fn renewal(mac: [u8; 6], xid: u32, address: Ipv4Addr) -> Message {
    let mut message = base_message(mac, xid, MessageType::Request);
    // Renewing: no broadcast flag (the server answers our address), and
    // no requested-address or server-id options (RFC 2131 4.3.2).
    message.set_flags(Flags::default()).set_ciaddr(address);
    message
}

fn lease_from(iface: &str, ack: &Message, server: Ipv4Addr) -> Result<Lease, DhcpError> {
    let address = ack.yiaddr();
    if address.is_unspecified() {
        return Err(DhcpError::Incomplete {
            iface: iface.to_string(),
            missing: "an address",
        });
    }
    let prefix_len = match ack.opts().get(OptionCode::SubnetMask) {
        Some(DhcpOption::SubnetMask(mask)) => {
            crate::iface::prefix_len(*mask).ok_or_else(|| DhcpError::Incomplete {
                iface: iface.to_string(),
                missing: "a contiguous subnet mask",
            })?
        }
        _ => {
            return Err(DhcpError::Incomplete {
                iface: iface.to_string(),
                missing: "a subnet mask",
            })
        }
    };
    let router = match ack.opts().get(OptionCode::Router) {
        Some(DhcpOption::Router(routers)) => routers.first().copied(),
        _ => None,
    };
    let lease_s = match ack.opts().get(OptionCode::AddressLeaseTime) {
        Some(DhcpOption::AddressLeaseTime(seconds)) => *seconds,
        _ => 0,
    };
    Ok(Lease {
        address,
        prefix_len,
        router,
        server,
        lease_s,
    })
}

fn base_message(mac: [u8; 6], xid: u32, message_type: MessageType) -> Message {
    let mut message = Message::default();
    message
        .set_opcode(Opcode::BootRequest)
        .set_xid(xid)
        .set_flags(Flags::default().set_broadcast())
        .set_chaddr(&mac);
    message
        .opts_mut()
        .insert(DhcpOption::MessageType(message_type));
    message
        .opts_mut()
        .insert(DhcpOption::ParameterRequestList(vec![
            OptionCode::SubnetMask,
            OptionCode::Router,
            OptionCode::DomainNameServer,
            OptionCode::AddressLeaseTime,
        ]));
    message
}

fn discover(mac: [u8; 6], xid: u32) -> Message {
    base_message(mac, xid, MessageType::Discover)
}

fn request(mac: [u8; 6], xid: u32, address: Ipv4Addr, server: Ipv4Addr) -> Message {
    let mut message = base_message(mac, xid, MessageType::Request);
    message
        .opts_mut()
        .insert(DhcpOption::RequestedIpAddress(address));
    message
        .opts_mut()
        .insert(DhcpOption::ServerIdentifier(server));
    message
}

/// Sends `message` and waits for a reply with our `xid` that `accept`s,
/// retrying with doubling waits up to `ATTEMPTS_MAX` times.
#[allow(clippy::too_many_arguments)] // one call per DHCP state; a struct would only rename them
fn exchange(
    socket: &UdpSocket,
    iface: &str,
    destination: Ipv4Addr,
    message: &Message,
    xid: u32,
    waited_for: &'static str,
    started: Instant,
    accept: impl Fn(&Message) -> bool,
) -> Result<Message, DhcpError> {
    let io = |action| {
        move |source| DhcpError::Io {
            iface: iface.to_string(),
            action,
            source,
        }
    };
    let bytes = message.to_vec().map_err(|e| DhcpError::Encode {
        iface: iface.to_string(),
        message: waited_for,
        reason: e.to_string(),
    })?;
    let mut wait = REPLY_WAIT_FIRST;
    let mut buffer = vec![0u8; 1500];
    for _attempt in 0..ATTEMPTS_MAX {
        socket
            .send_to(&bytes, SocketAddrV4::new(destination, 67))
            .map_err(io("sending"))?;
        let deadline = Instant::now() + wait;
        for _datagram in 0..DATAGRAMS_PER_WAIT_MAX {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            socket
                .set_read_timeout(Some(deadline - now))
                .map_err(io("setting a read timeout"))?;
            let received = match socket.recv_from(&mut buffer) {
                Ok((received, _from)) => received,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(e) => return Err(io("receiving")(e)),
            };
            let Some(datagram) = buffer.get(..received) else {
                continue;
            };
            match Message::decode(&mut Decoder::new(datagram)) {
                Ok(reply)
                    if reply.opcode() == Opcode::BootReply
                        && reply.xid() == xid
                        && accept(&reply) =>
                {
                    return Ok(reply)
                }
                Ok(_) => continue,
                Err(e) => {
                    log::debug!("dhcp on {iface}: undecodable datagram of {received} bytes: {e}")
                }
            }
        }
        wait = (wait * 2).min(Duration::from_secs(16));
    }
    Err(DhcpError::NoReply {
        iface: iface.to_string(),
        waited_for,
        attempts: ATTEMPTS_MAX,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

fn random_xid() -> std::io::Result<u32> {
    let mut bytes = [0u8; 4];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(u32::from_le_bytes(bytes))
}

/// Parses "52:54:00:12:34:56" (as /sys/class/net/*/address has it).
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.trim().split(':');
    for byte in mac.iter_mut() {
        *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A DISCOVER carries our xid, MAC, broadcast flag and message type,
    // and decodes back to the same fields.
    #[test]
    fn discover_round_trips() {
        let mac = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
        let bytes = discover(mac, 0xdead_beef).to_vec().expect("encode");
        let decoded = Message::decode(&mut Decoder::new(&bytes)).expect("decode");
        assert_eq!(decoded.xid(), 0xdead_beef);
        assert_eq!(&decoded.chaddr()[..6], &mac);
        assert!(decoded.flags().broadcast());
        assert_eq!(decoded.opts().msg_type(), Some(MessageType::Discover));
    }

    // An ACK without a subnet mask or address is refused, not guessed.
    #[test]
    fn incomplete_ack_is_refused() {
        let server = Ipv4Addr::new(10, 0, 2, 2);
        let mut ack = Message::default();
        ack.set_opcode(Opcode::BootReply)
            .set_yiaddr(Ipv4Addr::new(10, 0, 2, 15));
        assert!(matches!(
            lease_from("eth0", &ack, server),
            Err(DhcpError::Incomplete {
                missing: "a subnet mask",
                ..
            })
        ));
        ack.opts_mut()
            .insert(DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)));
        ack.opts_mut().insert(DhcpOption::Router(vec![server]));
        let lease = lease_from("eth0", &ack, server).expect("complete");
        assert_eq!(lease.prefix_len, 24);
        assert_eq!(lease.router, Some(server));
        ack.set_yiaddr(Ipv4Addr::UNSPECIFIED);
        assert!(lease_from("eth0", &ack, server).is_err());
    }

    // A renewal carries our address in ciaddr, asks for unicast, and
    // names no server or requested address.
    #[test]
    fn renewal_request_is_unicast_with_ciaddr() {
        let address = Ipv4Addr::new(10, 0, 2, 15);
        let bytes = renewal([2, 0, 0, 0, 0, 1], 7, address)
            .to_vec()
            .expect("encode");
        let decoded = Message::decode(&mut Decoder::new(&bytes)).expect("decode");
        assert_eq!(decoded.ciaddr(), address);
        assert!(!decoded.flags().broadcast());
        assert_eq!(decoded.opts().msg_type(), Some(MessageType::Request));
        assert!(decoded.opts().get(OptionCode::ServerIdentifier).is_none());
        assert!(decoded.opts().get(OptionCode::RequestedIpAddress).is_none());
    }

    // MAC text parses only in the six-byte colon form.
    #[test]
    fn mac_text_parses_strictly() {
        assert_eq!(
            parse_mac("52:54:00:12:34:56\n"),
            Some([0x52, 0x54, 0, 0x12, 0x34, 0x56])
        );
        assert_eq!(parse_mac("52:54:00:12:34"), None);
        assert_eq!(parse_mac("52:54:00:12:34:56:78"), None);
        assert_eq!(parse_mac("zz:54:00:12:34:56"), None);
    }
}
