//! Entry points shared by the cargo-fuzz targets (`engine/server/fuzz`) and
//! the seeded random test below: each feeds arbitrary bytes to one decoder
//! and checks that it returns (never panics) and that what it accepts
//! re-encodes consistently. Panics here are findings.

use super::auth::{
    caching_sha2_response, native_password_response, CredentialStore, NativePasswordHash, Scramble,
    Sha2PasswordDigest, StoredCredential,
};
use super::command::{Command, ParamType};
use super::connection::{ConnectionPhase, HandshakeStep, ServerGreeting};
use super::flags::{CapabilityFlags, ColumnType};
use super::handshake::ClientHandshake;
use super::packet::{Decoded, MaxAllowedPacket, PacketCodec};
use super::response::{parse_binary_row, parse_text_row, ColumnDefinition, OkPacket};

/// Placeholder counts the command target decodes COM_STMT_EXECUTE with.
const PLACEHOLDER_COUNTS: [u16; 6] = [0, 1, 2, 3, 8, 300];

/// The packet decoder over `data` delivered in reads of varying size (the
/// first byte picks the read size), with a small max_allowed_packet so the
/// limit is reachable. Every payload is also fed to the command parser.
pub fn packet_decoder(data: &[u8]) {
    let Some((&read_size_seed, stream)) = data.split_first() else {
        return;
    };
    let read_bytes = usize::from(read_size_seed % 64) + 1;
    let max = MaxAllowedPacket::new(MaxAllowedPacket::BYTES_MIN).expect("in range");
    let mut codec = PacketCodec::new(max);
    let mut buffered: Vec<u8> = Vec::new();
    let mut offset = 0;
    // Each round either decodes a packet or consumes input, so this ends.
    loop {
        match codec.decode(&buffered) {
            Ok(Decoded::Packet {
                payload,
                consumed_bytes,
            }) => {
                assert!(payload.len() <= max.bytes() as usize);
                assert!(consumed_bytes <= buffered.len());
                let _ = Command::parse(&payload, CapabilityFlags::SERVER_DEFAULT);
                buffered.drain(..consumed_bytes);
            }
            Ok(Decoded::NeedMore {
                consumed_bytes,
                more_bytes_min,
            }) => {
                assert!(consumed_bytes <= buffered.len());
                assert!(more_bytes_min > 0);
                buffered.drain(..consumed_bytes);
                let Some(read) = stream.get(offset..) else {
                    return;
                };
                if read.is_empty() {
                    return;
                }
                let read = read.get(..read_bytes).unwrap_or(read);
                buffered.extend_from_slice(read);
                offset += read.len();
            }
            Err(_) => return,
        }
    }
}

/// Accounts for the handshake target: one per plugin, plus one without a
/// cached digest.
struct FuzzAccounts;

impl CredentialStore for FuzzAccounts {
    fn credential(&self, user: &str) -> Option<StoredCredential> {
        match user {
            "native" => Some(StoredCredential::NativePassword(
                NativePasswordHash::from_password(b"pw"),
            )),
            "sha2" => Some(StoredCredential::CachingSha2Password(Some(
                Sha2PasswordDigest::from_password(b"pw"),
            ))),
            "uncached" => Some(StoredCredential::CachingSha2Password(None)),
            _ => None,
        }
    }
}

/// The scramble the handshake target's connection phase uses, so seeds can
/// carry valid answers.
pub fn fuzz_scramble() -> Scramble {
    Scramble::from_random(*b"floe-fuzz-scramble!!")
}

/// The handshake-response parser and the connection phase over `data` as
/// the client's first packet; if that asks for a plugin switch, the same
/// bytes' tail is the switch answer.
pub fn handshake_response(data: &[u8]) {
    let _ = ClientHandshake::parse(data);
    let mut phase = ConnectionPhase::new(ServerGreeting::default(), 1, fuzz_scramble());
    match phase.on_packet(data, &FuzzAccounts) {
        Ok(HandshakeStep::SwitchPlugin(_)) => {
            let tail = data
                .get(data.len().saturating_sub(32)..)
                .unwrap_or_default();
            let _ = phase.on_packet(tail, &FuzzAccounts);
        }
        Ok(HandshakeStep::Authenticated { client, .. }) => {
            // Only someone who knows "pw" gets here.
            assert!(["native", "sha2"].contains(&client.user.as_str()));
        }
        Err(_) => {}
    }
    let _ = phase.on_packet(data, &FuzzAccounts);
}

/// The command parser over `data` with and without query attributes, and
/// COM_STMT_EXECUTE parameters decoded for several placeholder counts and
/// bindings. Without query attributes a parsed command re-emits to `data`.
/// Response parsers get the same bytes, since tools will read them too.
pub fn command(data: &[u8]) {
    let plain = CapabilityFlags::PROTOCOL_41;
    let with_attributes = CapabilityFlags::PROTOCOL_41 | CapabilityFlags::QUERY_ATTRIBUTES;
    for capabilities in [plain, with_attributes] {
        let Ok(command) = Command::parse(data, capabilities) else {
            continue;
        };
        if capabilities == plain {
            let mut out = Vec::new();
            command.emit(capabilities, &mut out);
            assert_eq!(out, data, "{command:?} does not re-emit its bytes");
        }
        if let Command::StmtExecute(execute) = &command {
            let bound = [ParamType {
                column_type: ColumnType::LongLong,
                unsigned: false,
            }; 3];
            for placeholders in PLACEHOLDER_COUNTS {
                let _ = execute.decode_params(placeholders, &[], &[]);
                let _ = execute.decode_params(placeholders, &bound, &[true, false]);
            }
        }
    }
    let _ = ColumnDefinition::parse(data);
    let _ = OkPacket::parse(data, CapabilityFlags::SERVER_DEFAULT);
    let _ = parse_text_row(data, 3);
    let _ = parse_binary_row(
        data,
        &[
            (ColumnType::Long, false),
            (ColumnType::VarString, false),
            (ColumnType::DateTime, false),
        ],
    );
}

/// Valid client payloads to mutate from: handshake responses for each
/// account and plugin, one of each command, executes with parameters.
pub fn seed_payloads() -> Vec<Vec<u8>> {
    use super::auth::AuthPlugin;
    use super::command::{QueryAttribute, SetOption, StatementId, StmtExecute};
    use super::flags::CursorFlags;
    use super::handshake::HandshakeResponse41;
    use super::value::{Date, DateTime, Time, Value};

    let mut seeds = Vec::new();
    let scramble = fuzz_scramble();
    let native = native_password_response(b"pw", &scramble);
    let sha2 = caching_sha2_response(b"pw", &scramble);
    for (user, plugin, auth) in [
        ("native", AuthPlugin::MysqlNativePassword, &native[..]),
        ("sha2", AuthPlugin::CachingSha2Password, &sha2[..]),
        ("native", AuthPlugin::CachingSha2Password, &sha2[..]),
        ("uncached", AuthPlugin::CachingSha2Password, &sha2[..]),
    ] {
        let mut out = Vec::new();
        HandshakeResponse41 {
            capabilities: CapabilityFlags::SERVER_DEFAULT,
            max_packet_bytes: 1 << 24,
            charset: 255,
            username: user.as_bytes(),
            auth_response: auth,
            database: Some(b"test"),
            auth_plugin_name: Some(plugin.name().as_bytes()),
            connect_attributes: vec![(b"_client_name", b"fuzz"), (b"_pid", b"1")],
            zstd_compression_level: None,
        }
        .emit(&mut out)
        .expect("seed response encodes");
        seeds.push(out);
    }

    let plain = CapabilityFlags::PROTOCOL_41;
    let with_attributes = plain | CapabilityFlags::QUERY_ATTRIBUTES;
    let commands = [
        Command::Quit,
        Command::InitDb { schema: b"test" },
        Command::Query {
            attributes: vec![],
            sql: b"SELECT 1",
        },
        Command::FieldList {
            table: b"t",
            wildcard: b"%",
        },
        Command::Statistics,
        Command::ProcessKill { connection_id: 3 },
        Command::Ping,
        Command::SetOption(SetOption::MultiStatementsOff),
        Command::ResetConnection,
        Command::StmtPrepare {
            sql: b"SELECT ? + ?",
        },
        Command::StmtSendLongData {
            statement_id: StatementId(1),
            param_index: 0,
            data: b"blob",
        },
        Command::StmtClose {
            statement_id: StatementId(1),
        },
        Command::StmtReset {
            statement_id: StatementId(1),
        },
        Command::StmtFetch {
            statement_id: StatementId(1),
            row_count: 5,
        },
    ];
    for command in &commands {
        let mut out = Vec::new();
        command.emit(plain, &mut out);
        seeds.push(out);
    }
    let mut out = Vec::new();
    Command::Query {
        attributes: vec![QueryAttribute {
            name: b"trace",
            value: Value::Int(7),
        }],
        sql: b"SELECT 1",
    }
    .emit(with_attributes, &mut out);
    seeds.push(out);

    let date = Date {
        year: 2024,
        month: 1,
        day: 31,
    };
    let params: [(&[u8], Value<'_>); 10] = [
        (b"", Value::Int(-1)),
        (b"", Value::UInt(1)),
        (b"", Value::Null),
        (b"", Value::Float(1.5)),
        (b"", Value::Double(2.5)),
        (b"", Value::Decimal(b"1.25")),
        (b"", Value::Bytes(b"text")),
        (b"", Value::Date(date)),
        (
            b"",
            Value::DateTime(DateTime {
                date,
                hour: 1,
                minute: 2,
                second: 3,
                microsecond: 4,
            }),
        ),
        (
            b"attr",
            Value::Time(Time {
                negative: true,
                days: 1,
                hour: 2,
                minute: 3,
                second: 4,
                microsecond: 5,
            }),
        ),
    ];
    for (capabilities, count) in [
        (plain, 1),
        (plain, 2),
        (plain, 3),
        (plain, 10),
        (with_attributes, 3),
    ] {
        let mut out = Vec::new();
        StmtExecute::emit_request(
            &mut out,
            StatementId(1),
            CursorFlags::empty(),
            capabilities,
            params.get(..count).unwrap_or(&params),
        );
        seeds.push(out);
    }
    seeds
}

#[cfg(test)]
mod tests {
    use super::*;

    /// splitmix64: small, seedable, good enough to drive mutations.
    struct Rng(u64);

    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n.max(1) as u64) as usize
        }
    }

    const INTERESTING_BYTES: [u8; 10] =
        [0x00, 0x01, 0x7f, 0x80, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff];

    fn mutate(rng: &mut Rng, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
        for _ in 0..=rng.below(4) {
            let position = rng.below(input.len() + 1);
            match rng.below(7) {
                0 if !input.is_empty() => {
                    let at = position.min(input.len() - 1);
                    input[at] ^= 1 << rng.below(8);
                }
                1 if !input.is_empty() => {
                    let at = position.min(input.len() - 1);
                    input[at] = INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())];
                }
                2 => input.truncate(position),
                3 => input.insert(position, rng.next_u64() as u8),
                4 if !input.is_empty() => {
                    let at = position.min(input.len() - 1);
                    input.remove(at);
                }
                5 => {
                    let other = &seeds[rng.below(seeds.len())];
                    let from = rng.below(other.len() + 1);
                    input.extend_from_slice(&other[from..]);
                }
                _ => {
                    let at = position.min(input.len());
                    let word = rng.next_u64().to_le_bytes();
                    let count = rng.below(9);
                    input.splice(at..at, word[..count].iter().copied());
                }
            }
        }
    }

    /// Frame a payload as a client would, with a random sequence start.
    fn framed(rng: &mut Rng, payload: &[u8]) -> Vec<u8> {
        let mut codec = PacketCodec::new(MaxAllowedPacket::DEFAULT);
        let mut out = vec![rng.next_u64() as u8];
        codec.write_packet(&mut out, payload);
        if rng.below(2) == 0 {
            codec.write_packet(&mut out, payload);
        }
        out
    }

    // Runs the three fuzz entry points over 300,000 inputs derived from
    // valid packets by seeded mutation (plus pure noise); any panic fails
    // and prints the seed (FLOE_SEED=<n> replays it).
    #[test]
    fn decoders_survive_mutated_packets() {
        let seed = std::env::var("FLOE_SEED")
            .ok()
            .and_then(|text| text.parse().ok())
            .unwrap_or(0x5eed_f10e);
        println!("FLOE_SEED={seed}");
        let mut rng = Rng(seed);
        let seeds = seed_payloads();
        // The seeds themselves are valid: the handshake ones authenticate
        // or switch, the commands parse.
        for payload in &seeds {
            handshake_response(payload);
            command(payload);
            packet_decoder(&framed(&mut rng, payload));
        }
        const ROUNDS: usize = 300_000;
        let mut parsed = [0usize; 3];
        for round in 0..ROUNDS {
            let mut input = if rng.below(16) == 0 {
                (0..rng.below(64)).map(|_| rng.next_u64() as u8).collect()
            } else {
                seeds[rng.below(seeds.len())].clone()
            };
            mutate(&mut rng, &mut input, &seeds);
            parsed[0] += usize::from(ClientHandshake::parse(&input).is_ok());
            parsed[1] += usize::from(Command::parse(&input, CapabilityFlags::PROTOCOL_41).is_ok());
            parsed[2] += usize::from(matches!(
                Command::parse(&input, CapabilityFlags::PROTOCOL_41),
                Ok(Command::StmtExecute(ref execute)) if execute.decode_params(3, &[], &[]).is_ok()
            ));
            let result = std::panic::catch_unwind(|| {
                handshake_response(&input);
                command(&input);
                let mut stream_rng = Rng(round as u64);
                packet_decoder(&framed(&mut stream_rng, &input));
                packet_decoder(&input);
            });
            if result.is_err() {
                panic!("seed {seed} round {round}: panic on input {input:02x?}");
            }
        }
        // Mutation must keep enough inputs valid to reach past the first
        // field; counts printed for the record.
        println!("valid handshake responses, commands, 3-parameter executes: {parsed:?}");
        assert!(
            parsed.iter().all(|&count| count > ROUNDS / 1000),
            "{parsed:?}"
        );
    }

    // The seeds parse as what they claim to be, so the mutation test starts
    // from valid packets rather than noise. With FLOE_FUZZ_SEEDS_DIR set, it
    // also writes them as a cargo-fuzz seed corpus (see fuzz/README.md).
    #[test]
    fn seeds_are_valid() {
        let seeds = seed_payloads();
        if let Some(dir) = std::env::var_os("FLOE_FUZZ_SEEDS_DIR") {
            let dir = std::path::PathBuf::from(dir);
            let mut rng = Rng(1);
            for target in ["packet_decoder", "handshake_response", "command"] {
                std::fs::create_dir_all(dir.join(target)).expect("create seed dir");
            }
            for (index, seed) in seeds.iter().enumerate() {
                let name = format!("seed-{index:02}");
                let write = |target: &str, bytes: &[u8]| {
                    std::fs::write(dir.join(target).join(&name), bytes).expect("write seed");
                };
                write("handshake_response", seed);
                write("command", seed);
                write("packet_decoder", &framed(&mut rng, seed));
            }
        }
        let responses = seeds
            .iter()
            .filter(|seed| ClientHandshake::parse(seed).is_ok())
            .count();
        assert!(responses >= 4);
        let flags = CapabilityFlags::PROTOCOL_41;
        let commands = seeds
            .iter()
            .filter(|seed| {
                Command::parse(seed, flags).is_ok()
                    || Command::parse(seed, flags | CapabilityFlags::QUERY_ATTRIBUTES).is_ok()
            })
            .count();
        assert!(commands >= 20, "{commands}");
    }
}
