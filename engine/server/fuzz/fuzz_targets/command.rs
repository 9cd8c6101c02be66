//! Arbitrary bytes into the command parser, COM_STMT_EXECUTE parameters for
//! several placeholder counts, and the response parsers; a panic is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| floe_server::protocol::fuzzing::command(data));
