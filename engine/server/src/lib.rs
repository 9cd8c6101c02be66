//! Floe's MySQL server edge. For now only the wire protocol (protocol version
//! 10): packet framing, the basic encodings, the connection-phase state
//! machine with its two password plugins, command decoding and the response
//! packets. Pure code over byte buffers: no sockets, clocks or threads here.
#![forbid(unsafe_code)]

pub mod protocol;
