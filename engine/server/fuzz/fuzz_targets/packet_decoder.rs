//! Arbitrary bytes into the incremental packet decoder (reads of varying size,
//! small max_allowed_packet), and the command parser on each payload; a panic
//! is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| floe_server::protocol::fuzzing::packet_decoder(data));
