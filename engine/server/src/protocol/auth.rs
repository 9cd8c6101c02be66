//! Password verification for the two authentication plugins we speak.
//! Stored credentials are never passwords, only the digests the plugins'
//! challenge-response needs:
//!
//! - `mysql_native_password`: we store `SHA1(SHA1(password))` (what MySQL
//!   shows as `*HEX` in `mysql.user`). The client sends
//!   `SHA1(password) XOR SHA1(scramble || SHA1(SHA1(password)))`; we undo
//!   the XOR with the stored digest and check that SHA1 of the result is the
//!   stored digest.
//! - `caching_sha2_password`, fast path only: we store
//!   `SHA256(SHA256(password))`, the value MySQL keeps in its in-memory
//!   cache after a full authentication. The client sends `SHA256(password)
//!   XOR SHA256(SHA256(SHA256(password)) || scramble)`; same check with
//!   SHA-256. Without a stored digest, MySQL would run "full
//!   authentication", which sends the password itself and so needs TLS or
//!   an RSA key exchange. We support neither yet, so that case is refused
//!   with `FullAuthenticationUnsupported` instead of ever seeing a password.
//!
//! Empty passwords are not supported: an empty auth response is always
//! denied, so there is no anonymous or password-less access.

use sha1::{Digest, Sha1};
use sha2::Sha256;

pub const SCRAMBLE_BYTES: usize = 20;

/// The 20-byte challenge of one handshake.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Scramble([u8; SCRAMBLE_BYTES]);

impl Scramble {
    /// Build from 20 bytes of the caller's random number generator. Bytes
    /// are folded into 1..=127 without `$`, as MySQL does: the second part
    /// is sent NUL-terminated, and some clients treat the scramble as text.
    pub fn from_random(random: [u8; SCRAMBLE_BYTES]) -> Self {
        Self(random.map(|byte| match byte & 0x7f {
            0 | b'$' => (byte & 0x7f) + 1,
            folded => folded,
        }))
    }

    /// As received (for parsing a server greeting in tests and tools).
    pub fn from_bytes(bytes: [u8; SCRAMBLE_BYTES]) -> Self {
        Self(bytes)
    }

    pub fn bytes(&self) -> &[u8; SCRAMBLE_BYTES] {
        &self.0
    }
}

impl std::fmt::Debug for Scramble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A scramble is a one-time challenge; printing it is harmless and
        // helps when comparing captures.
        write!(f, "Scramble({:02x?})", self.0)
    }
}

/// The authentication plugins this server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthPlugin {
    MysqlNativePassword,
    CachingSha2Password,
}

impl AuthPlugin {
    pub const fn name(self) -> &'static str {
        match self {
            AuthPlugin::MysqlNativePassword => "mysql_native_password",
            AuthPlugin::CachingSha2Password => "caching_sha2_password",
        }
    }

    pub fn from_name(name: &[u8]) -> Option<Self> {
        match name {
            b"mysql_native_password" => Some(AuthPlugin::MysqlNativePassword),
            b"caching_sha2_password" => Some(AuthPlugin::CachingSha2Password),
            _ => None,
        }
    }
}

/// `SHA1(SHA1(password))`, the stored form for `mysql_native_password`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct NativePasswordHash([u8; 20]);

impl NativePasswordHash {
    pub fn from_password(password: &[u8]) -> Self {
        Self(Sha1::digest(Sha1::digest(password)).into())
    }

    pub fn from_bytes(bytes: [u8; 20]) -> Self {
        Self(bytes)
    }

    pub fn bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// Whether `response` proves knowledge of the password for `scramble`.
    pub fn verify(&self, scramble: &Scramble, response: &[u8]) -> bool {
        let Ok(response) = <[u8; 20]>::try_from(response) else {
            return false;
        };
        let mask: [u8; 20] = Sha1::new()
            .chain_update(scramble.bytes())
            .chain_update(self.0)
            .finalize()
            .into();
        let stage1 = xor(response, mask);
        let candidate: [u8; 20] = Sha1::digest(stage1).into();
        constant_time_eq(&candidate, &self.0)
    }
}

/// `SHA256(SHA256(password))`, the stored form for `caching_sha2_password`'s
/// fast path.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Sha2PasswordDigest([u8; 32]);

impl Sha2PasswordDigest {
    pub fn from_password(password: &[u8]) -> Self {
        Self(Sha256::digest(Sha256::digest(password)).into())
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether `response` proves knowledge of the password for `scramble`.
    pub fn verify(&self, scramble: &Scramble, response: &[u8]) -> bool {
        let Ok(response) = <[u8; 32]>::try_from(response) else {
            return false;
        };
        let mask: [u8; 32] = Sha256::new()
            .chain_update(self.0)
            .chain_update(scramble.bytes())
            .finalize()
            .into();
        let stage1 = xor(response, mask);
        let candidate: [u8; 32] = Sha256::digest(stage1).into();
        constant_time_eq(&candidate, &self.0)
    }
}

// Digests are secrets-derived; keep them out of logs.
impl std::fmt::Debug for NativePasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NativePasswordHash(..)")
    }
}

impl std::fmt::Debug for Sha2PasswordDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sha2PasswordDigest(..)")
    }
}

/// What the server keeps for one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredCredential {
    NativePassword(NativePasswordHash),
    /// `None`: no cached digest, so only full authentication could work,
    /// which needs TLS or RSA (not supported yet).
    CachingSha2Password(Option<Sha2PasswordDigest>),
}

impl StoredCredential {
    pub fn plugin(&self) -> AuthPlugin {
        match self {
            StoredCredential::NativePassword(_) => AuthPlugin::MysqlNativePassword,
            StoredCredential::CachingSha2Password(_) => AuthPlugin::CachingSha2Password,
        }
    }
}

/// Where the connection phase looks accounts up; the dictionary implements
/// it. Host-based accounts (`user@host`) are not modelled yet.
pub trait CredentialStore {
    fn credential(&self, user: &str) -> Option<StoredCredential>;
}

/// The client's side of `mysql_native_password`: what a client sends.
pub fn native_password_response(password: &[u8], scramble: &Scramble) -> [u8; 20] {
    let stage1: [u8; 20] = Sha1::digest(password).into();
    let stage2 = Sha1::digest(stage1);
    let mask: [u8; 20] = Sha1::new()
        .chain_update(scramble.bytes())
        .chain_update(stage2)
        .finalize()
        .into();
    xor(stage1, mask)
}

/// The client's side of `caching_sha2_password`'s fast path.
pub fn caching_sha2_response(password: &[u8], scramble: &Scramble) -> [u8; 32] {
    let stage1: [u8; 32] = Sha256::digest(password).into();
    let stage2 = Sha256::digest(stage1);
    let mask: [u8; 32] = Sha256::new()
        .chain_update(stage2)
        .chain_update(scramble.bytes())
        .finalize()
        .into();
    xor(stage1, mask)
}

fn xor<const N: usize>(a: [u8; N], b: [u8; N]) -> [u8; N] {
    let mut out = a;
    for (out_byte, b_byte) in out.iter_mut().zip(b) {
        *out_byte ^= b_byte;
    }
    out
}

/// Equality whose time does not depend on where the inputs differ.
fn constant_time_eq<const N: usize>(a: &[u8; N], b: &[u8; N]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex<const N: usize>(text: &str) -> [u8; N] {
        let bytes: Vec<u8> = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
            .collect();
        bytes.try_into().expect("length")
    }

    fn scramble() -> Scramble {
        Scramble::from_bytes(std::array::from_fn(|i| i as u8 + 1))
    }

    // SHA1(SHA1(password)) equals MySQL's well-known PASSWORD() values.
    #[test]
    fn native_hash_matches_mysql_password_function() {
        assert_eq!(
            NativePasswordHash::from_password(b"password").bytes(),
            &hex::<20>("2470c0c06dee42fd1618bb99005adca2ec9d1e19")
        );
        assert_eq!(
            NativePasswordHash::from_password(b"secret").bytes(),
            &hex::<20>("14e65567abdb5135d0cfd9a70b3032c179a49ee7")
        );
    }

    // A native response computed independently (Python hashlib) for scramble
    // 01..14 and password "secret" verifies; any flipped bit, wrong length or
    // wrong password does not.
    #[test]
    fn native_verification_fixed_vector() {
        let expected = hex::<20>("b32bb3a583e1340c0a1108d58b1be49781ad8c2f");
        assert_eq!(native_password_response(b"secret", &scramble()), expected);
        let stored = NativePasswordHash::from_password(b"secret");
        assert!(stored.verify(&scramble(), &expected));
        for bit in 0..160 {
            let mut tampered = expected;
            tampered[bit / 8] ^= 1 << (bit % 8);
            assert!(!stored.verify(&scramble(), &tampered), "bit {bit}");
        }
        assert!(!stored.verify(&scramble(), &expected[..19]));
        assert!(!stored.verify(&scramble(), b""));
        let other = native_password_response(b"Secret", &scramble());
        assert!(!stored.verify(&scramble(), &other));
    }

    // The caching_sha2 fast path against an independently computed vector,
    // and refusals for a wrong password, scramble or length.
    #[test]
    fn caching_sha2_verification_fixed_vector() {
        let stored = Sha2PasswordDigest::from_password(b"secret");
        assert_eq!(
            stored.bytes(),
            &hex::<32>("3881219d087dd9c634373fd33dfa33a2cb6bfc6c520b64b8bb60ef2ceb534ae7")
        );
        let expected =
            hex::<32>("746ebe205d56a0707acb3e796e834e0dd7b1d61743b26bd5202c7a623230c7c9");
        assert_eq!(caching_sha2_response(b"secret", &scramble()), expected);
        assert!(stored.verify(&scramble(), &expected));
        let other_scramble = Scramble::from_bytes([7; 20]);
        assert!(!stored.verify(&other_scramble, &expected));
        assert!(!stored.verify(&scramble(), &caching_sha2_response(b"secreT", &scramble())));
        assert!(!stored.verify(&scramble(), &expected[..31]));
        assert!(!stored.verify(&scramble(), b""));
    }

    // Random bytes fold into 1..=127 without '$', so the scramble can be sent
    // NUL-terminated.
    #[test]
    fn scramble_has_no_nul_or_dollar() {
        let raw: [u8; 20] = std::array::from_fn(|i| [0x00, 0x80, b'$', 0xa4, 0xff][i % 5]);
        let scramble = Scramble::from_random(raw);
        assert_eq!(scramble.bytes()[..5], [0x01, 0x01, b'%', b'%', 0x7f]);
        assert!(scramble
            .bytes()
            .iter()
            .all(|&b| b != 0 && b != b'$' && b < 0x80));
        assert_eq!(
            format!("{:?}", NativePasswordHash::from_password(b"x")),
            "NativePasswordHash(..)"
        );
    }
}
