//! Packet framing. Every packet is `int<3> payload_length | int<1>
//! sequence_id | payload`. A payload of 0xffffff bytes or more is sent as
//! packets of exactly 0xffffff bytes followed by one shorter packet (possibly
//! empty); the receiver concatenates them. Sequence ids count up (mod 256)
//! across both directions within one command or the connection phase, and
//! restart at 0 when the client sends a new command.
//!
//! `PacketCodec` holds the per-connection state: the expected sequence id,
//! `max_allowed_packet` and the reassembly buffer. Decoding is incremental
//! over whatever bytes the socket produced so far, so it can sit on a
//! nonblocking socket or a fiber. Nothing is allocated from a length the
//! client sent: a length is checked against `max_allowed_packet` before we
//! wait for its bytes, and the reassembly buffer only grows by bytes that
//! actually arrived.
//!
//! A decoded payload borrows only the input buffer (or, for a reassembled
//! 16 MiB+ payload, is handed over as an owned buffer), never the codec, so
//! the caller can write responses through the same codec while it still
//! holds the payload.

use std::borrow::Cow;

use super::error::ProtocolError;

pub const PACKET_HEADER_BYTES: usize = 4;
/// Largest payload of one packet; a payload this long continues in the next.
pub const PACKET_PAYLOAD_BYTES_MAX: usize = 0xff_ffff;

/// `max_allowed_packet` for payloads we accept: MySQL's range is 1 KiB to
/// 1 GiB, default 64 MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxAllowedPacket(u32);

impl MaxAllowedPacket {
    pub const BYTES_MIN: u32 = 1024;
    pub const BYTES_MAX: u32 = 1 << 30;
    pub const DEFAULT: Self = Self(64 << 20);
    /// A tighter limit for the connection phase, before the client has
    /// authenticated: a HandshakeResponse41 is its fixed fields, names, a
    /// 32-byte auth response and at most 64 KiB of connection attributes.
    pub const HANDSHAKE: Self = Self(128 << 10);

    /// `None` outside MySQL's range (1024 ..= 1 GiB).
    pub const fn new(bytes: u32) -> Option<Self> {
        if bytes >= Self::BYTES_MIN && bytes <= Self::BYTES_MAX {
            Some(Self(bytes))
        } else {
            None
        }
    }

    pub const fn bytes(self) -> u32 {
        self.0
    }
}

impl Default for MaxAllowedPacket {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What one call to `PacketCodec::decode` produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// No whole packet yet. Drop `consumed_bytes` from the front of the input
    /// (the codec keeps what it needs of them), read at least
    /// `more_bytes_min` more, and call again.
    NeedMore {
        consumed_bytes: usize,
        more_bytes_min: usize,
    },
    /// A whole payload. Drop `consumed_bytes` from the front of the input once
    /// done with `payload`.
    Packet {
        payload: Cow<'a, [u8]>,
        consumed_bytes: usize,
    },
}

/// Marks where `PacketCodec::begin_packet` reserved a header in the output.
#[derive(Debug)]
#[must_use = "finish the packet with PacketCodec::end_packet"]
pub struct PacketStart {
    header_offset: usize,
}

/// Framing state of one connection, both directions.
#[derive(Debug)]
pub struct PacketCodec {
    max_allowed_packet: MaxAllowedPacket,
    sequence_id: u8,
    /// Fragments of a payload of 0xffffff bytes or more, concatenated;
    /// handed to the caller when the last fragment arrives.
    reassembly: Vec<u8>,
}

impl PacketCodec {
    pub fn new(max_allowed_packet: MaxAllowedPacket) -> Self {
        Self {
            max_allowed_packet,
            sequence_id: 0,
            reassembly: Vec::new(),
        }
    }

    pub fn max_allowed_packet(&self) -> MaxAllowedPacket {
        self.max_allowed_packet
    }

    /// Change the limit for packets not yet started, e.g. from `HANDSHAKE`
    /// to the configured one once the client has authenticated.
    pub fn set_max_allowed_packet(&mut self, max_allowed_packet: MaxAllowedPacket) {
        self.max_allowed_packet = max_allowed_packet;
    }

    /// The sequence id the next packet (in either direction) carries.
    pub fn sequence_id(&self) -> u8 {
        self.sequence_id
    }

    /// The client starts a new command: its first packet carries id 0.
    pub fn start_command(&mut self) {
        self.sequence_id = 0;
    }

    /// Answer a packet the decoder refused (`SequenceMismatch`,
    /// `PacketTooLarge`): the next packet written carries `sequence_id`, so
    /// the ERR that reports the problem follows the client's packet in
    /// sequence and the client shows it instead of "packets out of order".
    /// The connection is closed after that ERR; the stream is not resumed.
    pub fn set_sequence_id(&mut self, sequence_id: u8) {
        self.sequence_id = sequence_id;
    }

    /// Decode the next packet from the front of `input`.
    ///
    /// Errors (`SequenceMismatch`, `PacketTooLarge`) mean the stream can no
    /// longer be trusted: send an ERR and close the connection.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<Decoded<'a>, ProtocolError> {
        let mut consumed_bytes = 0;
        loop {
            let rest = input.get(consumed_bytes..).unwrap_or_default();
            let Some((&[length_0, length_1, length_2, sequence_id], body)) =
                rest.split_first_chunk::<PACKET_HEADER_BYTES>()
            else {
                return Ok(Decoded::NeedMore {
                    consumed_bytes,
                    more_bytes_min: PACKET_HEADER_BYTES - rest.len(),
                });
            };
            if sequence_id != self.sequence_id {
                return Err(ProtocolError::SequenceMismatch {
                    expected: self.sequence_id,
                    found: sequence_id,
                });
            }
            let payload_bytes = u32::from_le_bytes([length_0, length_1, length_2, 0]) as usize;
            let total_bytes = self.reassembly.len() as u64 + payload_bytes as u64;
            if total_bytes > u64::from(self.max_allowed_packet.bytes()) {
                return Err(ProtocolError::PacketTooLarge {
                    payload_bytes: total_bytes,
                    max_allowed_packet_bytes: self.max_allowed_packet.bytes(),
                });
            }
            let Some(fragment) = body.get(..payload_bytes) else {
                return Ok(Decoded::NeedMore {
                    consumed_bytes,
                    more_bytes_min: payload_bytes - body.len(),
                });
            };
            self.sequence_id = self.sequence_id.wrapping_add(1);
            consumed_bytes += PACKET_HEADER_BYTES + payload_bytes;
            if payload_bytes == PACKET_PAYLOAD_BYTES_MAX {
                self.reassembly.extend_from_slice(fragment);
                continue;
            }
            if self.reassembly.is_empty() {
                return Ok(Decoded::Packet {
                    payload: Cow::Borrowed(fragment),
                    consumed_bytes,
                });
            }
            self.reassembly.extend_from_slice(fragment);
            return Ok(Decoded::Packet {
                payload: Cow::Owned(std::mem::take(&mut self.reassembly)),
                consumed_bytes,
            });
        }
    }

    /// Reserve a header at the end of `out`; append the payload, then call
    /// `end_packet`. Lets responses be built in place, without a copy.
    pub fn begin_packet(&self, out: &mut Vec<u8>) -> PacketStart {
        let header_offset = out.len();
        out.extend_from_slice(&[0; PACKET_HEADER_BYTES]);
        PacketStart { header_offset }
    }

    /// Write the header reserved by `begin_packet`, splitting a payload of
    /// 0xffffff bytes or more into several packets.
    pub fn end_packet(&mut self, out: &mut Vec<u8>, start: PacketStart) {
        let payload_offset = start.header_offset + PACKET_HEADER_BYTES;
        assert!(
            payload_offset <= out.len(),
            "end_packet: output shrank below the reserved header"
        );
        let payload_bytes = out.len() - payload_offset;
        if payload_bytes < PACKET_PAYLOAD_BYTES_MAX {
            let header = self.next_header(payload_bytes);
            out[start.header_offset..payload_offset].copy_from_slice(&header);
            return;
        }
        // Rare (16 MiB and up): move the payload out and frame it in pieces.
        let payload = out.split_off(payload_offset);
        out.truncate(start.header_offset);
        self.frame_pieces(out, &payload);
    }

    /// Frame `payload` (any length) onto `out`.
    pub fn write_packet(&mut self, out: &mut Vec<u8>, payload: &[u8]) {
        self.frame_pieces(out, payload);
    }

    fn frame_pieces(&mut self, out: &mut Vec<u8>, payload: &[u8]) {
        let mut pieces = payload.chunks(PACKET_PAYLOAD_BYTES_MAX);
        let mut last_piece_bytes = 0;
        for piece in &mut pieces {
            out.extend_from_slice(&self.next_header(piece.len()));
            out.extend_from_slice(piece);
            last_piece_bytes = piece.len();
        }
        // An empty payload, or one that ended on a full piece, needs a final
        // shorter (empty) packet so the receiver knows it is complete.
        if payload.is_empty() || last_piece_bytes == PACKET_PAYLOAD_BYTES_MAX {
            out.extend_from_slice(&self.next_header(0));
        }
    }

    fn next_header(&mut self, payload_bytes: usize) -> [u8; PACKET_HEADER_BYTES] {
        assert!(payload_bytes <= PACKET_PAYLOAD_BYTES_MAX);
        let [a, b, c, _] = (payload_bytes as u32).to_le_bytes();
        let header = [a, b, c, self.sequence_id];
        self.sequence_id = self.sequence_id.wrapping_add(1);
        header
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> PacketCodec {
        PacketCodec::new(MaxAllowedPacket::DEFAULT)
    }

    // The documentation's COM_QUIT packet (01 00 00 00 01) decodes and
    // re-encodes byte for byte.
    #[test]
    fn com_quit_packet_both_ways() {
        let bytes = [0x01, 0x00, 0x00, 0x00, 0x01];
        let mut decoder = codec();
        assert_eq!(
            decoder.decode(&bytes),
            Ok(Decoded::Packet {
                payload: Cow::Borrowed(&[0x01][..]),
                consumed_bytes: 5
            })
        );
        assert_eq!(decoder.sequence_id(), 1);
        let mut encoder = codec();
        let mut out = Vec::new();
        encoder.write_packet(&mut out, &[0x01]);
        assert_eq!(out, bytes);
        let mut out = Vec::new();
        let start = codec().begin_packet(&mut out);
        out.push(0x01);
        codec().end_packet(&mut out, start);
        assert_eq!(out, bytes);
    }

    // Bytes arriving one at a time yield NeedMore with the right minimum
    // until the packet is whole.
    #[test]
    fn decode_is_incremental() {
        let bytes = [0x03, 0x00, 0x00, 0x00, b'a', b'b', b'c'];
        let mut decoder = codec();
        for have in 0..bytes.len() {
            let expected_min = if have < 4 { 4 - have } else { 7 - have };
            assert_eq!(
                decoder.decode(&bytes[..have]),
                Ok(Decoded::NeedMore {
                    consumed_bytes: 0,
                    more_bytes_min: expected_min
                }),
                "have {have}"
            );
        }
        assert_eq!(
            decoder.decode(&bytes),
            Ok(Decoded::Packet {
                payload: Cow::Borrowed(&b"abc"[..]),
                consumed_bytes: 7
            })
        );
    }

    // Two packets in one buffer come out one per call, and the second must
    // carry the next sequence id.
    #[test]
    fn back_to_back_packets_and_sequence() {
        let bytes = [1, 0, 0, 0, 0x0e, 1, 0, 0, 1, 0x01];
        let mut decoder = codec();
        let Ok(Decoded::Packet { consumed_bytes, .. }) = decoder.decode(&bytes) else {
            panic!("first packet");
        };
        assert_eq!(consumed_bytes, 5);
        assert_eq!(
            decoder.decode(&bytes[5..]),
            Ok(Decoded::Packet {
                payload: Cow::Borrowed(&[0x01][..]),
                consumed_bytes: 5
            })
        );
        // A repeated id is refused.
        let mut decoder = codec();
        let bytes = [1, 0, 0, 0, 0x0e, 1, 0, 0, 0, 0x01];
        assert!(decoder.decode(&bytes).is_ok());
        assert_eq!(
            decoder.decode(&bytes[5..]),
            Err(ProtocolError::SequenceMismatch {
                expected: 1,
                found: 0
            })
        );
        // start_command resets the expected id.
        decoder.start_command();
        assert!(decoder.decode(&bytes[5..]).is_ok());
    }

    // A header announcing more than max_allowed_packet is refused from the
    // header alone, before any payload arrives.
    #[test]
    fn oversized_packet_refused_from_header() {
        let max = MaxAllowedPacket::new(1024).expect("in range");
        let mut decoder = PacketCodec::new(max);
        assert_eq!(
            decoder.decode(&[0x01, 0x04, 0x00, 0x00]),
            Err(ProtocolError::PacketTooLarge {
                payload_bytes: 1025,
                max_allowed_packet_bytes: 1024
            })
        );
        let mut decoder = PacketCodec::new(max);
        assert!(matches!(
            decoder.decode(&[0x00, 0x04, 0x00, 0x00]),
            Ok(Decoded::NeedMore {
                more_bytes_min: 1024,
                ..
            })
        ));
        // The limit can be raised after the handshake.
        let mut decoder = PacketCodec::new(MaxAllowedPacket::HANDSHAKE);
        let header = [0x01, 0x00, 0x02, 0x00]; // 128 KiB + 1
        assert!(matches!(
            decoder.decode(&header),
            Err(ProtocolError::PacketTooLarge { .. })
        ));
        decoder.set_max_allowed_packet(MaxAllowedPacket::DEFAULT);
        assert!(matches!(
            decoder.decode(&header),
            Ok(Decoded::NeedMore { .. })
        ));
        assert_eq!(MaxAllowedPacket::new(1023), None);
        assert_eq!(MaxAllowedPacket::new((1 << 30) + 1), None);
    }

    // A payload of exactly 0xffffff bytes is framed as a full packet plus an
    // empty one, and a longer one is split and reassembled, across partial
    // reads; the fragments' total is checked against max_allowed_packet.
    #[test]
    fn large_payloads_split_and_reassemble() {
        for payload_bytes in [PACKET_PAYLOAD_BYTES_MAX, PACKET_PAYLOAD_BYTES_MAX + 10] {
            let payload: Vec<u8> = (0..payload_bytes).map(|i| (i % 251) as u8).collect();
            let mut encoder = codec();
            let mut wire = Vec::new();
            let start = encoder.begin_packet(&mut wire);
            wire.extend_from_slice(&payload);
            encoder.end_packet(&mut wire, start);
            assert_eq!(wire.len(), payload_bytes + 8);
            assert_eq!(wire[..4], [0xff, 0xff, 0xff, 0x00]);
            let second_header = PACKET_HEADER_BYTES + PACKET_PAYLOAD_BYTES_MAX;
            let second_length = (payload_bytes - PACKET_PAYLOAD_BYTES_MAX) as u8;
            assert_eq!(
                wire[second_header..second_header + 4],
                [second_length, 0, 0, 1]
            );
            assert_eq!(encoder.sequence_id(), 2);

            // Feed in two reads: the first ends inside the first fragment.
            let mut decoder = codec();
            let first_read = 1000;
            assert_eq!(
                decoder.decode(&wire[..first_read]),
                Ok(Decoded::NeedMore {
                    consumed_bytes: 0,
                    more_bytes_min: PACKET_PAYLOAD_BYTES_MAX + 4 - first_read
                })
            );
            let Ok(Decoded::NeedMore { consumed_bytes, .. }) =
                decoder.decode(&wire[..second_header + 2])
            else {
                panic!("first fragment should be absorbed");
            };
            assert_eq!(consumed_bytes, second_header);
            let decoded = decoder.decode(&wire[second_header..]);
            let Ok(Decoded::Packet {
                payload: got,
                consumed_bytes,
            }) = decoded
            else {
                panic!("reassembled packet expected, got {decoded:?}");
            };
            assert_eq!(consumed_bytes, wire.len() - second_header);
            assert!(
                matches!(got, Cow::Owned(_)),
                "reassembled payloads are handed over"
            );
            assert!(got[..] == payload[..]);
        }
        // Fragments that add up past the limit are refused.
        let mut decoder = PacketCodec::new(MaxAllowedPacket::new(0xff_ffff).expect("in range"));
        let mut wire = vec![0xff, 0xff, 0xff, 0x00];
        wire.resize(4 + PACKET_PAYLOAD_BYTES_MAX, 0);
        wire.extend_from_slice(&[0x01, 0x00, 0x00, 0x01]);
        assert_eq!(
            decoder.decode(&wire),
            Err(ProtocolError::PacketTooLarge {
                payload_bytes: 0x100_0000,
                max_allowed_packet_bytes: 0xff_ffff
            })
        );
    }

    // An empty payload is one header with length 0; sequence ids wrap 255 -> 0.
    #[test]
    fn empty_payload_and_wrapping_sequence() {
        let mut encoder = codec();
        for _ in 0..255 {
            encoder.write_packet(&mut Vec::new(), b"x");
        }
        let mut out = Vec::new();
        encoder.write_packet(&mut out, &[]);
        assert_eq!(out, [0, 0, 0, 255]);
        assert_eq!(encoder.sequence_id(), 0);
    }
}
