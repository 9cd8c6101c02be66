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

    /// The weights of `bytes`, in order. Weights of text are folded code points;
    /// bytes that are not UTF-8 weigh 0x110000 + byte, above every code point.
    /// Comparison and index keys both use this, so they cannot disagree.
    pub fn weights(self, bytes: &[u8]) -> Weights<'_> {
        Weights {
            collation: self,
            rest: bytes,
        }
    }

    /// Calls `sink` with each weight of `bytes`, in order.
    pub fn for_each_weight(self, bytes: &[u8], sink: impl FnMut(u32)) {
        self.weights(bytes).for_each(sink);
    }

    /// Compares without allocating: weight by weight, shorter first (NO PAD).
    pub fn compare(self, left: &[u8], right: &[u8]) -> Ordering {
        if self.is_binary() {
            return left.cmp(right);
        }
        self.weights(left).cmp(self.weights(right))
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

/// Iterator over the weights of a string under a collation.
#[derive(Debug, Clone)]
pub struct Weights<'a> {
    collation: Collation,
    rest: &'a [u8],
}

impl Iterator for Weights<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let (&first, tail) = self.rest.split_first()?;
        if self.collation.is_binary() || first.is_ascii() {
            self.rest = tail;
            return Some(if self.collation.is_binary() {
                u32::from(first)
            } else {
                fold(char::from(first))
            });
        }
        // One UTF-8 character, or one stray byte when the sequence is invalid: the
        // same split `for_each_char` makes.
        let width = match first {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => 0,
        };
        let decoded = self
            .rest
            .get(..width)
            .and_then(|sequence| std::str::from_utf8(sequence).ok())
            .and_then(|text| text.chars().next());
        match decoded {
            Some(ch) => {
                self.rest = self.rest.get(width..).unwrap_or(&[]);
                Some(fold(ch))
            }
            None => {
                self.rest = tail;
                Some(0x11_0000 + u32::from(first))
            }
        }
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
