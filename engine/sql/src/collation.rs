//! Collations: how strings compare. Two today: `utf8mb4_0900_ai_ci` (Floe's
//! default; NO PAD, case-insensitive by simple Unicode lowercase folding; accent
//! folding is NOT done yet, so 'a' <> 'á' where MySQL says equal) and `binary`
//! (bytes, NO PAD). Comparison is defined by a weight sequence, and index keys
//! encode the same weights, so keys and comparisons cannot disagree.

use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Collation {
    /// MySQL 8's default: case-insensitive, NO PAD ('a' < 'a ').
    Utf8mb4_0900AiCi,
    /// Byte strings: BINARY, VARBINARY, BLOB and `_binary` literals.
    Binary,
}

impl Collation {
    /// The MySQL collation id sent in column definitions.
    pub fn id(self) -> u16 {
        match self {
            Collation::Utf8mb4_0900AiCi => 255,
            Collation::Binary => 63,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Collation::Utf8mb4_0900AiCi => "utf8mb4_0900_ai_ci",
            Collation::Binary => "binary",
        }
    }

    pub fn is_binary(self) -> bool {
        self == Collation::Binary
    }

    /// Bytes per character at most (for display lengths).
    pub fn max_bytes_per_char(self) -> u32 {
        match self {
            Collation::Utf8mb4_0900AiCi => 4,
            Collation::Binary => 1,
        }
    }

    /// The collation two operands are compared under: binary wins (MySQL's coercibility
    /// rules reduced to what Floe has).
    pub fn aggregate(self, other: Collation) -> Collation {
        if self.is_binary() || other.is_binary() {
            Collation::Binary
        } else {
            self
        }
    }

    /// Calls `sink` with each weight of `bytes`, in order. Weights of text are folded
    /// code points; bytes that are not UTF-8 weigh 0x110000 + byte, above every code point.
    pub fn for_each_weight(self, bytes: &[u8], mut sink: impl FnMut(u32)) {
        match self {
            Collation::Binary => bytes.iter().for_each(|&byte| sink(u32::from(byte))),
            Collation::Utf8mb4_0900AiCi => for_each_char(bytes, |item| match item {
                Ok(ch) => sink(fold(ch)),
                Err(byte) => sink(0x11_0000 + u32::from(byte)),
            }),
        }
    }

    pub fn compare(self, left: &[u8], right: &[u8]) -> Ordering {
        if self.is_binary() {
            return left.cmp(right);
        }
        let mut left_weights = Vec::with_capacity(left.len());
        self.for_each_weight(left, |w| left_weights.push(w));
        let mut right_weights = Vec::with_capacity(right.len());
        self.for_each_weight(right, |w| right_weights.push(w));
        left_weights.cmp(&right_weights)
    }

    /// Number of characters (bytes for binary; a stray non-UTF-8 byte counts as one).
    pub fn char_count(self, bytes: &[u8]) -> usize {
        match self {
            Collation::Binary => bytes.len(),
            Collation::Utf8mb4_0900AiCi => {
                let mut count = 0;
                for_each_char(bytes, |_| count += 1);
                count
            }
        }
    }

    /// Byte offsets where each character starts, plus the end.
    pub fn char_boundaries(self, bytes: &[u8]) -> Vec<usize> {
        let mut boundaries = Vec::with_capacity(bytes.len() + 1);
        match self {
            Collation::Binary => boundaries.extend(0..=bytes.len()),
            Collation::Utf8mb4_0900AiCi => {
                let mut offset = 0;
                boundaries.push(0);
                for_each_char(bytes, |item| {
                    offset += match item {
                        Ok(ch) => ch.len_utf8(),
                        Err(_) => 1,
                    };
                    boundaries.push(offset);
                });
            }
        }
        boundaries
    }
}

/// Case folding used by the ci collation: simple lowercase when it is one char.
pub(crate) fn fold(ch: char) -> u32 {
    if ch.is_ascii() {
        return u32::from(ch.to_ascii_lowercase());
    }
    let mut lower = ch.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(single), None) => u32::from(single),
        _ => u32::from(ch),
    }
}

/// Decodes UTF-8 leniently: each invalid byte is reported alone as `Err(byte)`.
pub(crate) fn for_each_char(mut bytes: &[u8], mut sink: impl FnMut(Result<char, u8>)) {
    while !bytes.is_empty() {
        match std::str::from_utf8(bytes) {
            Ok(text) => {
                text.chars().for_each(|ch| sink(Ok(ch)));
                return;
            }
            Err(error) => {
                let (valid, rest) = bytes.split_at(error.valid_up_to());
                // `valid` is UTF-8 by the error's contract.
                String::from_utf8_lossy(valid)
                    .chars()
                    .for_each(|ch| sink(Ok(ch)));
                let skip = error.error_len().unwrap_or(rest.len()).max(1);
                for &byte in rest.iter().take(skip) {
                    sink(Err(byte));
                }
                bytes = rest.get(skip..).unwrap_or(&[]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The default collation ignores case but not trailing spaces (NO PAD).
    #[test]
    fn ai_ci_is_case_insensitive_and_no_pad() {
        let c = Collation::Utf8mb4_0900AiCi;
        assert_eq!(c.compare(b"Hello", b"hELLO"), Ordering::Equal);
        assert_eq!(c.compare(b"a", b"a "), Ordering::Less);
        assert_eq!(c.compare(b"a", b"B"), Ordering::Less);
        assert_eq!(c.compare("Ä".as_bytes(), "ä".as_bytes()), Ordering::Equal);
    }

    // Binary compares bytes, so case matters.
    #[test]
    fn binary_compares_bytes() {
        assert_eq!(Collation::Binary.compare(b"a", b"A"), Ordering::Greater);
    }

    // Invalid UTF-8 is counted byte by byte and sorts above every character.
    #[test]
    fn invalid_utf8_is_counted_and_weighed() {
        let c = Collation::Utf8mb4_0900AiCi;
        assert_eq!(c.char_count(b"a\xffb"), 3);
        assert_eq!(c.char_boundaries("aé".as_bytes()), vec![0, 1, 3]);
        assert_eq!(
            c.compare(b"\xff", "\u{10FFFF}".as_bytes()),
            Ordering::Greater
        );
    }
}
