//! Arbitrary bytes into the HandshakeResponse41 parser and the connection-phase
//! state machine; a panic is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| floe_server::protocol::fuzzing::handshake_response(data));
