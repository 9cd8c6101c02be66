//! The protocol's basic encodings ("Basic Data Types" in MySQL's
//! Client/Server Protocol documentation), each with a parse and an emit:
//!
//! - `int<n>`: fixed-width little-endian unsigned integers, n = 1, 2, 3, 4, 6, 8.
//! - `int<lenenc>`: first byte < 0xfb is the value; 0xfc + int<2>, 0xfd + int<3>,
//!   0xfe + int<8>. 0xfb is NULL, and only in a text resultset row; 0xff is
//!   never an integer (it starts an ERR packet). Non-minimal forms (0xfc 0x05
//!   0x00) are accepted, as MySQL accepts them.
//! - `string<lenenc>`: int<lenenc> length, then that many bytes.
//! - `string<NUL>`: bytes up to a 0x00 terminator.
//! - `string<EOF>`: the rest of the packet.
//!
//! `Reader` is the length-checked view: every read names the field it reads,
//! so a short or malformed packet becomes a `ProtocolError` that says where.
//! A length read from the packet is only ever compared against the bytes
//! present, never used to allocate.

use super::error::ProtocolError;

/// First byte of a length-encoded NULL (text resultset rows only).
pub const LENENC_NULL: u8 = 0xfb;
const LENENC_U16: u8 = 0xfc;
const LENENC_U24: u8 = 0xfd;
const LENENC_U64: u8 = 0xfe;

/// A cursor over one packet payload. Reads advance it; none can panic.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(payload: &'a [u8]) -> Self {
        Self { rest: payload }
    }

    pub fn remaining_bytes(&self) -> usize {
        self.rest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next byte, without consuming it.
    pub fn peek_u8(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// `n` bytes.
    pub fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], ProtocolError> {
        let Some((head, tail)) = self.rest.split_at_checked(n) else {
            return Err(self.truncated(field, n as u64));
        };
        self.rest = tail;
        Ok(head)
    }

    /// A fixed-size array of bytes.
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], ProtocolError> {
        let Some((head, tail)) = self.rest.split_first_chunk::<N>() else {
            return Err(self.truncated(field, N as u64));
        };
        self.rest = tail;
        Ok(*head)
    }

    /// `string<EOF>`: everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    pub fn u8(&mut self, field: &'static str) -> Result<u8, ProtocolError> {
        Ok(u8::from_le_bytes(self.array(field)?))
    }

    pub fn u16(&mut self, field: &'static str) -> Result<u16, ProtocolError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    pub fn u24(&mut self, field: &'static str) -> Result<u32, ProtocolError> {
        let [a, b, c] = self.array(field)?;
        Ok(u32::from_le_bytes([a, b, c, 0]))
    }

    pub fn u32(&mut self, field: &'static str) -> Result<u32, ProtocolError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    pub fn u64(&mut self, field: &'static str) -> Result<u64, ProtocolError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    /// `int<lenenc>` that must not be NULL.
    pub fn lenenc_int(&mut self, field: &'static str) -> Result<u64, ProtocolError> {
        self.lenenc_int_or_null(field)?
            .ok_or(ProtocolError::UnexpectedNull { field })
    }

    /// `int<lenenc>` where 0xfb (NULL) is allowed: `None`.
    pub fn lenenc_int_or_null(
        &mut self,
        field: &'static str,
    ) -> Result<Option<u64>, ProtocolError> {
        let prefix = self.u8(field)?;
        match prefix {
            0..=0xfa => Ok(Some(u64::from(prefix))),
            LENENC_NULL => Ok(None),
            LENENC_U16 => Ok(Some(u64::from(self.u16(field)?))),
            LENENC_U24 => Ok(Some(u64::from(self.u24(field)?))),
            LENENC_U64 => Ok(Some(self.u64(field)?)),
            0xff => Err(ProtocolError::BadLenencPrefix { field, prefix }),
        }
    }

    /// `string<lenenc>` that must not be NULL.
    pub fn lenenc_bytes(&mut self, field: &'static str) -> Result<&'a [u8], ProtocolError> {
        self.lenenc_bytes_or_null(field)?
            .ok_or(ProtocolError::UnexpectedNull { field })
    }

    /// `string<lenenc>` where NULL is allowed: `None`.
    pub fn lenenc_bytes_or_null(
        &mut self,
        field: &'static str,
    ) -> Result<Option<&'a [u8]>, ProtocolError> {
        let Some(length) = self.lenenc_int_or_null(field)? else {
            return Ok(None);
        };
        // A length that does not fit usize cannot fit the packet either.
        let Ok(length) = usize::try_from(length) else {
            return Err(self.truncated(field, length));
        };
        self.take(length, field).map(Some)
    }

    /// `string<NUL>`: the bytes before the terminator; the terminator is consumed.
    pub fn nul_bytes(&mut self, field: &'static str) -> Result<&'a [u8], ProtocolError> {
        let Some(end) = self.rest.iter().position(|&byte| byte == 0) else {
            return Err(ProtocolError::MissingNul {
                field,
                have_bytes: self.rest.len(),
            });
        };
        let (head, tail) = self.rest.split_at(end);
        // `tail` starts with the NUL found above.
        self.rest = tail.get(1..).unwrap_or_default();
        Ok(head)
    }

    /// Refuse bytes left over after the last field of `what`.
    pub fn finish(&self, what: &'static str) -> Result<(), ProtocolError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(ProtocolError::TrailingBytes {
                what,
                trailing_bytes: self.rest.len(),
            })
        }
    }

    fn truncated(&self, field: &'static str, needed_bytes: u64) -> ProtocolError {
        ProtocolError::Truncated {
            field,
            needed_bytes,
            have_bytes: self.rest.len(),
        }
    }
}

/// UTF-8 text of a field, or an error naming the field.
pub fn utf8<'a>(bytes: &'a [u8], field: &'static str) -> Result<&'a str, ProtocolError> {
    std::str::from_utf8(bytes).map_err(|_| ProtocolError::NotUtf8 { field })
}

pub fn put_u8(out: &mut Vec<u8>, value: u8) {
    out.push(value);
}

pub fn put_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// `int<3>`; the value must fit 24 bits (our own invariant).
pub fn put_u24(out: &mut Vec<u8>, value: u32) {
    assert!(
        value <= 0xff_ffff,
        "int<3> value {value:#x} exceeds 24 bits"
    );
    let [a, b, c, _] = value.to_le_bytes();
    out.extend_from_slice(&[a, b, c]);
}

pub fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

pub fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// `int<lenenc>` in its shortest form.
pub fn put_lenenc_int(out: &mut Vec<u8>, value: u64) {
    if value < u64::from(LENENC_NULL) {
        out.push(value as u8);
    } else if let Ok(value) = u16::try_from(value) {
        out.push(LENENC_U16);
        put_u16(out, value);
    } else if value <= 0xff_ffff {
        out.push(LENENC_U24);
        put_u24(out, value as u32);
    } else {
        out.push(LENENC_U64);
        put_u64(out, value);
    }
}

/// The length-encoded NULL of text resultset rows.
pub fn put_lenenc_null(out: &mut Vec<u8>) {
    out.push(LENENC_NULL);
}

/// `string<lenenc>`.
pub fn put_lenenc_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_lenenc_int(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// `string<NUL>`; refuses bytes that contain NUL, which the reader would cut.
pub fn put_nul_bytes(
    out: &mut Vec<u8>,
    bytes: &[u8],
    field: &'static str,
) -> Result<(), ProtocolError> {
    if bytes.contains(&0) {
        return Err(ProtocolError::NulInString { field });
    }
    out.extend_from_slice(bytes);
    out.push(0);
    Ok(())
}

/// Bytes a `string<lenenc>` of `length` bytes takes on the wire.
pub fn lenenc_bytes_len(length: usize) -> usize {
    let prefix = match length {
        0..=0xfa => 1,
        0xfb..=0xffff => 3,
        0x1_0000..=0xff_ffff => 4,
        _ => 9,
    };
    prefix + length
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each form of int<lenenc> from the protocol documentation's examples,
    // parsed from and emitted to the same fixed bytes.
    #[test]
    fn lenenc_int_forms_match_documented_bytes() {
        let cases: [(&[u8], u64); 6] = [
            (&[0x00], 0),
            (&[0xfa], 250),
            (&[0xfc, 0xfb, 0x00], 251),
            (&[0xfc, 0xff, 0xff], 0xffff),
            (&[0xfd, 0x00, 0x00, 0x01], 0x1_0000),
            (
                &[0xfe, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00],
                0x100_0000,
            ),
        ];
        for (bytes, value) in cases {
            let mut reader = Reader::new(bytes);
            assert_eq!(reader.lenenc_int("n"), Ok(value), "{bytes:02x?}");
            assert!(reader.finish("n").is_ok());
            let mut out = Vec::new();
            put_lenenc_int(&mut out, value);
            assert_eq!(out, bytes, "{value}");
        }
        let mut out = Vec::new();
        put_lenenc_int(&mut out, u64::MAX);
        assert_eq!(out, [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(Reader::new(&out).lenenc_int("n"), Ok(u64::MAX));
    }

    // 0xfb is NULL only where NULL is allowed; 0xff is never an integer.
    #[test]
    fn lenenc_null_and_ff_are_typed() {
        assert_eq!(Reader::new(&[0xfb]).lenenc_int_or_null("x"), Ok(None));
        assert_eq!(
            Reader::new(&[0xfb]).lenenc_int("x"),
            Err(ProtocolError::UnexpectedNull { field: "x" })
        );
        assert_eq!(
            Reader::new(&[0xff]).lenenc_int_or_null("x"),
            Err(ProtocolError::BadLenencPrefix {
                field: "x",
                prefix: 0xff
            })
        );
        assert_eq!(Reader::new(&[0xfb]).lenenc_bytes_or_null("s"), Ok(None));
        let mut out = Vec::new();
        put_lenenc_null(&mut out);
        assert_eq!(out, [0xfb]);
    }

    // A non-minimal int<lenenc> is accepted, as MySQL accepts it.
    #[test]
    fn lenenc_non_minimal_form_is_accepted() {
        assert_eq!(Reader::new(&[0xfc, 0x05, 0x00]).lenenc_int("n"), Ok(5));
        assert_eq!(
            Reader::new(&[0xfe, 7, 0, 0, 0, 0, 0, 0, 0]).lenenc_int("n"),
            Ok(7)
        );
    }

    // Every truncation of each int<lenenc> form is a typed Truncated error.
    #[test]
    fn lenenc_int_truncated() {
        for bytes in [
            &[][..],
            &[0xfc, 0x01][..],
            &[0xfd, 0x01, 0x02][..],
            &[0xfe, 1, 2, 3, 4, 5, 6, 7][..],
        ] {
            assert!(
                matches!(
                    Reader::new(bytes).lenenc_int("n"),
                    Err(ProtocolError::Truncated { field: "n", .. })
                ),
                "{bytes:02x?}"
            );
        }
    }

    // string<lenenc> round-trips, and a length past the end of the packet
    // (including one near u64::MAX) is refused without allocating.
    #[test]
    fn lenenc_bytes_round_trip_and_overlong() {
        let mut out = Vec::new();
        put_lenenc_bytes(&mut out, b"def");
        assert_eq!(out, [0x03, b'd', b'e', b'f']);
        assert_eq!(Reader::new(&out).lenenc_bytes("s"), Ok(&b"def"[..]));
        let long = vec![7u8; 300];
        let mut out = Vec::new();
        put_lenenc_bytes(&mut out, &long);
        assert_eq!(out[..3], [0xfc, 0x2c, 0x01]);
        assert_eq!(out.len(), lenenc_bytes_len(300));
        assert_eq!(Reader::new(&out).lenenc_bytes("s"), Ok(&long[..]));

        assert_eq!(
            Reader::new(&[0x04, b'a', b'b', b'c']).lenenc_bytes("s"),
            Err(ProtocolError::Truncated {
                field: "s",
                needed_bytes: 4,
                have_bytes: 3
            })
        );
        let huge = [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, b'x'];
        assert_eq!(
            Reader::new(&huge).lenenc_bytes("s"),
            Err(ProtocolError::Truncated {
                field: "s",
                needed_bytes: u64::MAX,
                have_bytes: 1
            })
        );
    }

    // string<NUL> reads up to the terminator and consumes it; a missing NUL
    // and an embedded NUL on emit are typed errors.
    #[test]
    fn nul_string_parse_emit() {
        let bytes = b"root\0rest";
        let mut reader = Reader::new(bytes);
        assert_eq!(reader.nul_bytes("user"), Ok(&b"root"[..]));
        assert_eq!(reader.rest(), b"rest");
        assert_eq!(
            Reader::new(b"root").nul_bytes("user"),
            Err(ProtocolError::MissingNul {
                field: "user",
                have_bytes: 4
            })
        );
        let mut out = Vec::new();
        put_nul_bytes(&mut out, b"root", "user").expect("no NUL inside");
        assert_eq!(out, b"root\0");
        assert_eq!(
            put_nul_bytes(&mut out, b"ro\0ot", "user"),
            Err(ProtocolError::NulInString { field: "user" })
        );
        assert_eq!(Reader::new(b"\0").nul_bytes("e"), Ok(&b""[..]));
    }

    // Fixed-width integers are little-endian both ways; short input and
    // trailing bytes are typed errors.
    #[test]
    fn fixed_ints_little_endian() {
        let bytes = [
            0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
            0x0f, 0x10, 0x11, 0x12,
        ];
        let mut reader = Reader::new(&bytes);
        assert_eq!(reader.u8("a"), Ok(0x01));
        assert_eq!(reader.u16("b"), Ok(0x0302));
        assert_eq!(reader.u24("c"), Ok(0x06_0504));
        assert_eq!(reader.u32("d"), Ok(0x0a09_0807));
        assert_eq!(reader.u64("e"), Ok(0x1211_100f_0e0d_0c0b));
        assert!(reader.is_empty());
        let mut out = Vec::new();
        put_u8(&mut out, 0x01);
        put_u16(&mut out, 0x0302);
        put_u24(&mut out, 0x06_0504);
        put_u32(&mut out, 0x0a09_0807);
        put_u64(&mut out, 0x1211_100f_0e0d_0c0b);
        assert_eq!(out, bytes);

        assert_eq!(
            Reader::new(&[1, 2, 3]).u32("id"),
            Err(ProtocolError::Truncated {
                field: "id",
                needed_bytes: 4,
                have_bytes: 3
            })
        );
        let mut reader = Reader::new(&[1, 2, 3]);
        reader.u16("x").expect("two bytes present");
        assert_eq!(
            reader.finish("COM_X"),
            Err(ProtocolError::TrailingBytes {
                what: "COM_X",
                trailing_bytes: 1
            })
        );
    }
}
