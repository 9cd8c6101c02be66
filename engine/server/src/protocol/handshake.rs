//! Connection-phase packets.
//!
//! Initial Handshake v10 (server, sequence id 0):
//! `0x0a | server_version string<NUL> | connection_id int<4> |
//! auth_plugin_data_part_1 string[8] | 0x00 | capabilities low int<2> |
//! charset int<1> | status int<2> | capabilities high int<2> |
//! auth_plugin_data_len int<1> (0 without CLIENT_PLUGIN_AUTH) | reserved
//! string[10] (zeros) | auth_plugin_data_part_2 (max(13, len - 8) bytes: the
//! last 12 scramble bytes and a NUL) | auth_plugin_name string<NUL> (with
//! CLIENT_PLUGIN_AUTH)`.
//!
//! HandshakeResponse41 (client): `capabilities int<4> | max_packet int<4> |
//! charset int<1> | filler string[23] | username string<NUL> | auth_response
//! (string<lenenc> with PLUGIN_AUTH_LENENC_CLIENT_DATA, else int<1> length +
//! bytes with SECURE_CONNECTION, else string<NUL>) | database string<NUL>
//! (CONNECT_WITH_DB) | auth_plugin_name string<NUL> (PLUGIN_AUTH) |
//! connection attributes (CONNECT_ATTRS): int<lenenc> total length, then
//! key/value string<lenenc> pairs | zstd level int<1>
//! (ZSTD_COMPRESSION_ALGORITHM)`. Fields after the auth response may be
//! missing at the very end of the packet, as older clients omit them.
//!
//! SSLRequest: the first 32 bytes of a HandshakeResponse41 alone, with
//! CLIENT_SSL set. AuthSwitchRequest: `0xfe | plugin string<NUL> | plugin
//! data string<EOF>`. AuthMoreData: `0x01 | data string<EOF>`.

use super::auth::{AuthPlugin, Scramble, SCRAMBLE_BYTES};
use super::error::ProtocolError;
use super::flags::{CapabilityFlags, StatusFlags};
use super::wire::{self, Reader};

pub const PROTOCOL_VERSION: u8 = 10;
const SSL_REQUEST_BYTES: usize = 32;
const RESPONSE_FILLER_BYTES: usize = 23;
/// MySQL's limit on connection attributes sent by a client.
pub const CONNECT_ATTRIBUTES_BYTES_MAX: u64 = 64 << 10;
const AUTH_SWITCH_HEADER: u8 = 0xfe;
const AUTH_MORE_DATA_HEADER: u8 = 0x01;

/// AuthMoreData telling a caching_sha2_password client its fast path passed.
pub const FAST_AUTH_SUCCESS: [u8; 2] = [AUTH_MORE_DATA_HEADER, 0x03];
/// AuthMoreData asking a caching_sha2_password client for full
/// authentication (not sent by this server yet; defined for completeness).
pub const PERFORM_FULL_AUTHENTICATION: [u8; 2] = [AUTH_MORE_DATA_HEADER, 0x04];

/// The server's greeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeV10<'a> {
    pub server_version: &'a [u8],
    pub connection_id: u32,
    pub scramble: Scramble,
    pub capabilities: CapabilityFlags,
    /// Low 8 bits of the server's default collation id.
    pub charset: u8,
    pub status: StatusFlags,
    /// `None` without CLIENT_PLUGIN_AUTH.
    pub auth_plugin_name: Option<&'a [u8]>,
}

impl<'a> HandshakeV10<'a> {
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), ProtocolError> {
        let start = out.len();
        let result = self.emit_fields(out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn emit_fields(&self, out: &mut Vec<u8>) -> Result<(), ProtocolError> {
        let [capabilities_low_0, capabilities_low_1, capabilities_high_0, capabilities_high_1] =
            self.capabilities.bits().to_le_bytes();
        let (part_1, part_2) = self.scramble.bytes().split_at(8);
        out.push(PROTOCOL_VERSION);
        wire::put_nul_bytes(out, self.server_version, "server version")?;
        wire::put_u32(out, self.connection_id);
        out.extend_from_slice(part_1);
        out.push(0);
        out.extend_from_slice(&[capabilities_low_0, capabilities_low_1, self.charset]);
        wire::put_u16(out, self.status.bits());
        out.extend_from_slice(&[capabilities_high_0, capabilities_high_1]);
        let plugin_auth = self.capabilities.contains(CapabilityFlags::PLUGIN_AUTH);
        out.push(if plugin_auth {
            SCRAMBLE_BYTES as u8 + 1
        } else {
            0
        });
        out.extend_from_slice(&[0; 10]);
        if self
            .capabilities
            .contains(CapabilityFlags::SECURE_CONNECTION)
        {
            wire::put_nul_bytes(out, part_2, "scramble")?;
        }
        if plugin_auth {
            let name = self.auth_plugin_name.unwrap_or_default();
            wire::put_nul_bytes(out, name, "auth plugin name")?;
        }
        Ok(())
    }

    /// Parse a greeting (tests and tools). Only 20-byte scrambles, the only
    /// kind MySQL sends, are accepted.
    pub fn parse(payload: &'a [u8]) -> Result<Self, ProtocolError> {
        let mut reader = Reader::new(payload);
        let protocol_version = reader.u8("protocol version")?;
        if protocol_version != PROTOCOL_VERSION {
            return Err(ProtocolError::BadLenencPrefix {
                field: "protocol version",
                prefix: protocol_version,
            });
        }
        let server_version = reader.nul_bytes("server version")?;
        let connection_id = reader.u32("connection id")?;
        let part_1: [u8; 8] = reader.array("auth_plugin_data_part_1")?;
        reader.u8("filler")?;
        let [low_0, low_1] = reader.array("capability flags")?;
        let charset = reader.u8("character set")?;
        let status = StatusFlags::from_bits_retain(reader.u16("status flags")?);
        let [high_0, high_1] = reader.array("capability flags")?;
        let capabilities =
            CapabilityFlags::from_bits_retain(u32::from_le_bytes([low_0, low_1, high_0, high_1]));
        reader.u8("auth_plugin_data_len")?;
        reader.take(10, "reserved")?;
        let part_2: [u8; 12] = reader.array("auth_plugin_data_part_2")?;
        reader.u8("auth_plugin_data_part_2 terminator")?;
        let auth_plugin_name = if capabilities.contains(CapabilityFlags::PLUGIN_AUTH) {
            Some(reader.nul_bytes("auth plugin name")?)
        } else {
            None
        };
        reader.finish("HandshakeV10")?;
        let mut scramble = [0; SCRAMBLE_BYTES];
        scramble[..8].copy_from_slice(&part_1);
        scramble[8..].copy_from_slice(&part_2);
        Ok(HandshakeV10 {
            server_version,
            connection_id,
            scramble: Scramble::from_bytes(scramble),
            capabilities,
            charset,
            status,
            auth_plugin_name,
        })
    }
}

/// What the client sent after the greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientHandshake<'a> {
    /// The client wants TLS before sending its credentials.
    SslRequest {
        capabilities: CapabilityFlags,
        max_packet_bytes: u32,
        charset: u8,
    },
    Response(HandshakeResponse41<'a>),
}

/// The client's credentials and settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeResponse41<'a> {
    /// As the client sent them; intersect with the server's to negotiate.
    pub capabilities: CapabilityFlags,
    pub max_packet_bytes: u32,
    pub charset: u8,
    pub username: &'a [u8],
    pub auth_response: &'a [u8],
    pub database: Option<&'a [u8]>,
    pub auth_plugin_name: Option<&'a [u8]>,
    pub connect_attributes: Vec<(&'a [u8], &'a [u8])>,
    pub zstd_compression_level: Option<u8>,
}

impl<'a> ClientHandshake<'a> {
    pub fn parse(payload: &'a [u8]) -> Result<Self, ProtocolError> {
        let mut reader = Reader::new(payload);
        // A pre-4.1 client sends a 2-byte capability field; check the
        // PROTOCOL_41 bit in it before reading the rest as 4.1 layout.
        let low_capabilities = u32::from(u16::from_le_bytes(
            payload
                .first_chunk::<2>()
                .copied()
                .ok_or(ProtocolError::Truncated {
                    field: "client capabilities",
                    needed_bytes: 2,
                    have_bytes: payload.len(),
                })?,
        ));
        if low_capabilities & CapabilityFlags::PROTOCOL_41.bits() == 0 {
            return Err(ProtocolError::ClientTooOld {
                capabilities: low_capabilities,
            });
        }
        let capabilities = CapabilityFlags::from_bits_retain(reader.u32("client capabilities")?);
        let max_packet_bytes = reader.u32("client max packet size")?;
        let charset = reader.u8("client character set")?;
        reader.take(RESPONSE_FILLER_BYTES, "handshake response filler")?;
        if payload.len() == SSL_REQUEST_BYTES && capabilities.contains(CapabilityFlags::SSL) {
            return Ok(ClientHandshake::SslRequest {
                capabilities,
                max_packet_bytes,
                charset,
            });
        }
        let username = reader.nul_bytes("username")?;
        let auth_response =
            if capabilities.contains(CapabilityFlags::PLUGIN_AUTH_LENENC_CLIENT_DATA) {
                reader.lenenc_bytes("auth response")?
            } else if capabilities.contains(CapabilityFlags::SECURE_CONNECTION) {
                let length = reader.u8("auth response length")?;
                reader.take(usize::from(length), "auth response")?
            } else {
                reader.nul_bytes("auth response")?
            };
        let database =
            if capabilities.contains(CapabilityFlags::CONNECT_WITH_DB) && !reader.is_empty() {
                Some(reader.nul_bytes("database")?)
            } else {
                None
            };
        let auth_plugin_name =
            if capabilities.contains(CapabilityFlags::PLUGIN_AUTH) && !reader.is_empty() {
                Some(reader.nul_bytes("auth plugin name")?)
            } else {
                None
            };
        let mut connect_attributes = Vec::new();
        if capabilities.contains(CapabilityFlags::CONNECT_ATTRS) && !reader.is_empty() {
            let total_bytes = reader.lenenc_int("connection attributes length")?;
            if total_bytes > CONNECT_ATTRIBUTES_BYTES_MAX {
                return Err(ProtocolError::PacketTooLarge {
                    payload_bytes: total_bytes,
                    max_allowed_packet_bytes: CONNECT_ATTRIBUTES_BYTES_MAX as u32,
                });
            }
            let mut attributes =
                Reader::new(reader.take(total_bytes as usize, "connection attributes")?);
            while !attributes.is_empty() {
                let key = attributes.lenenc_bytes("connection attribute key")?;
                let value = attributes.lenenc_bytes("connection attribute value")?;
                connect_attributes.push((key, value));
            }
        }
        let zstd_compression_level = if capabilities
            .contains(CapabilityFlags::ZSTD_COMPRESSION_ALGORITHM)
            && !reader.is_empty()
        {
            Some(reader.u8("zstd compression level")?)
        } else {
            None
        };
        reader.finish("HandshakeResponse41")?;
        Ok(ClientHandshake::Response(HandshakeResponse41 {
            capabilities,
            max_packet_bytes,
            charset,
            username,
            auth_response,
            database,
            auth_plugin_name,
            connect_attributes,
            zstd_compression_level,
        }))
    }
}

impl HandshakeResponse41<'_> {
    /// Encode as a client would (tests, fuzz seeds, tools). The database is
    /// written whenever CONNECT_WITH_DB is set (empty if `None`); the plugin
    /// name and zstd level when their capability is set and they are present.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<(), ProtocolError> {
        let caps = self.capabilities;
        wire::put_u32(out, caps.bits());
        wire::put_u32(out, self.max_packet_bytes);
        out.push(self.charset);
        out.extend_from_slice(&[0; RESPONSE_FILLER_BYTES]);
        wire::put_nul_bytes(out, self.username, "username")?;
        if caps.contains(CapabilityFlags::PLUGIN_AUTH_LENENC_CLIENT_DATA) {
            wire::put_lenenc_bytes(out, self.auth_response);
        } else if caps.contains(CapabilityFlags::SECURE_CONNECTION) {
            let length = u8::try_from(self.auth_response.len()).map_err(|_| {
                ProtocolError::FieldTooLong {
                    field: "auth response",
                    length_bytes: self.auth_response.len(),
                    max_bytes: usize::from(u8::MAX),
                }
            })?;
            out.push(length);
            out.extend_from_slice(self.auth_response);
        } else {
            wire::put_nul_bytes(out, self.auth_response, "auth response")?;
        }
        if caps.contains(CapabilityFlags::CONNECT_WITH_DB) {
            // The flag promises the field: send it even when empty.
            let database = self.database.unwrap_or_default();
            wire::put_nul_bytes(out, database, "database")?;
        }
        if let (true, Some(name)) = (
            caps.contains(CapabilityFlags::PLUGIN_AUTH),
            self.auth_plugin_name,
        ) {
            wire::put_nul_bytes(out, name, "auth plugin name")?;
        }
        if caps.contains(CapabilityFlags::CONNECT_ATTRS) {
            let mut attributes = Vec::new();
            for (key, value) in &self.connect_attributes {
                wire::put_lenenc_bytes(&mut attributes, key);
                wire::put_lenenc_bytes(&mut attributes, value);
            }
            wire::put_lenenc_bytes(out, &attributes);
        }
        if let (true, Some(level)) = (
            caps.contains(CapabilityFlags::ZSTD_COMPRESSION_ALGORITHM),
            self.zstd_compression_level,
        ) {
            out.push(level);
        }
        Ok(())
    }
}

/// AuthSwitchRequest: asks the client to answer the scramble with `plugin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthSwitchRequest {
    pub plugin: AuthPlugin,
    pub scramble: Scramble,
}

impl AuthSwitchRequest {
    /// Both plugins take the 20-byte scramble followed by a NUL.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(AUTH_SWITCH_HEADER);
        out.extend_from_slice(self.plugin.name().as_bytes());
        out.push(0);
        out.extend_from_slice(self.scramble.bytes());
        out.push(0);
    }

    pub fn parse(payload: &[u8]) -> Result<Self, ProtocolError> {
        let mut reader = Reader::new(payload);
        let header = reader.u8("AuthSwitchRequest header")?;
        if header != AUTH_SWITCH_HEADER {
            return Err(ProtocolError::BadLenencPrefix {
                field: "AuthSwitchRequest header",
                prefix: header,
            });
        }
        let name = reader.nul_bytes("AuthSwitchRequest plugin")?;
        let plugin = AuthPlugin::from_name(name).ok_or(ProtocolError::UnexpectedPacket {
            state: "AuthSwitchRequest for an unknown plugin",
        })?;
        let scramble = reader.array("AuthSwitchRequest scramble")?;
        reader.u8("AuthSwitchRequest terminator")?;
        reader.finish("AuthSwitchRequest")?;
        Ok(AuthSwitchRequest {
            plugin,
            scramble: Scramble::from_bytes(scramble),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        text.split_whitespace()
            .map(|byte| u8::from_str_radix(byte, 16).expect("hex byte"))
            .collect()
    }

    // The documentation's HandshakeV10 example (server 5.5.2-m2, no
    // CLIENT_PLUGIN_AUTH), parsed and re-emitted byte for byte.
    #[test]
    fn handshake_v10_documented_example() {
        let payload = hex(concat!(
            "0a 35 2e 35 2e 32 2d 6d 32 00 0b 00 00 00 64 76 48 40 49 2d 43 4a 00 ff f7 08 02 00 ",
            "00 00 00 00 00 00 00 00 00 00 00 00 00 2a 34 64 7c 63 5a 77 6b 34 5e 5d 3a 00"
        ));
        let greeting = HandshakeV10::parse(&payload).expect("valid greeting");
        assert_eq!(greeting.server_version, b"5.5.2-m2");
        assert_eq!(greeting.connection_id, 11);
        assert_eq!(greeting.capabilities.bits(), 0xf7ff);
        assert_eq!(greeting.charset, 8);
        assert_eq!(greeting.status, StatusFlags::AUTOCOMMIT);
        assert_eq!(greeting.scramble.bytes(), b"dvH@I-CJ*4d|cZwk4^]:");
        assert_eq!(greeting.auth_plugin_name, None);
        let mut out = Vec::new();
        greeting.emit(&mut out).expect("no NUL in fields");
        assert_eq!(out, payload);
    }

    // Our greeting with CLIENT_PLUGIN_AUTH: fixed bytes for a fixed scramble,
    // and it parses back.
    #[test]
    fn handshake_v10_with_plugin_fixed_bytes() {
        let greeting = HandshakeV10 {
            server_version: b"8.0.36-floe",
            connection_id: 0x0102_0304,
            scramble: Scramble::from_bytes(*b"abcdefghijklmnopqrst"),
            capabilities: CapabilityFlags::SERVER_DEFAULT,
            charset: 255,
            status: StatusFlags::AUTOCOMMIT,
            auth_plugin_name: Some(b"caching_sha2_password"),
        };
        let mut out = Vec::new();
        greeting.emit(&mut out).expect("no NUL in fields");
        let expected = [
            &[0x0a][..],
            b"8.0.36-floe\0",
            &[0x04, 0x03, 0x02, 0x01],
            b"abcdefgh\0",
            &[0x0f, 0xb6, 0xff, 0x02, 0x00, 0x3f, 0x09, 0x15],
            &[0; 10],
            b"ijklmnopqrst\0",
            b"caching_sha2_password\0",
        ]
        .concat();
        assert_eq!(out, expected);
        assert_eq!(HandshakeV10::parse(&out), Ok(greeting));
        let bad = HandshakeV10 {
            server_version: b"8.0\0evil",
            ..greeting
        };
        let mut out = vec![1, 2];
        assert_eq!(
            bad.emit(&mut out),
            Err(ProtocolError::NulInString {
                field: "server version"
            })
        );
        assert_eq!(out, [1, 2], "a failed greeting appends nothing");
    }

    // The documentation's HandshakeResponse41 example (user "pam", database
    // "test", mysql_native_password, 1-byte auth length), both ways.
    #[test]
    fn handshake_response_documented_example() {
        let payload = hex(concat!(
            "8d a6 0f 00 00 00 00 01 08 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 ",
            "00 00 00 00 00 70 61 6d 00 14 ab 09 ee f6 bc b1 32 3e 61 14 38 65 c0 99 1d 95 7d ",
            "75 d4 47 74 65 73 74 00 6d 79 73 71 6c 5f 6e 61 74 69 76 65 5f 70 61 73 73 77 6f ",
            "72 64 00"
        ));
        let ClientHandshake::Response(response) =
            ClientHandshake::parse(&payload).expect("valid response")
        else {
            panic!("not an SSLRequest");
        };
        assert_eq!(response.capabilities.bits(), 0x000f_a68d);
        assert_eq!(response.max_packet_bytes, 16 << 20);
        assert_eq!(response.charset, 8);
        assert_eq!(response.username, b"pam");
        assert_eq!(response.auth_response.len(), 20);
        assert_eq!(response.database, Some(&b"test"[..]));
        assert_eq!(
            response.auth_plugin_name,
            Some(&b"mysql_native_password"[..])
        );
        let mut out = Vec::new();
        response.emit(&mut out).expect("encodable");
        assert_eq!(out, payload);
    }

    // The documentation's 5.6.6-m9 response with connection attributes
    // (PLUGIN_AUTH, CONNECT_ATTRS), both ways.
    #[test]
    fn handshake_response_with_attributes_documented_example() {
        let payload = hex(concat!(
            "85 a2 1e 00 00 00 00 40 08 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 ",
            "00 00 00 00 00 72 6f 6f 74 00 14 22 50 79 a2 12 d4 e8 82 e5 b3 f4 1a 97 75 6b c8 ",
            "be db 9f 80 6d 79 73 71 6c 5f 6e 61 74 69 76 65 5f 70 61 73 73 77 6f 72 64 00 61 ",
            "03 5f 6f 73 09 64 65 62 69 61 6e 36 2e 30 0c 5f 63 6c 69 65 6e 74 5f 6e 61 6d 65 ",
            "08 6c 69 62 6d 79 73 71 6c 04 5f 70 69 64 05 32 32 33 34 34 0f 5f 63 6c 69 65 6e ",
            "74 5f 76 65 72 73 69 6f 6e 08 35 2e 36 2e 36 2d 6d 39 09 5f 70 6c 61 74 66 6f 72 ",
            "6d 06 78 38 36 5f 36 34 03 66 6f 6f 03 62 61 72"
        ));
        let ClientHandshake::Response(response) =
            ClientHandshake::parse(&payload).expect("valid response")
        else {
            panic!("not an SSLRequest");
        };
        assert_eq!(response.username, b"root");
        assert_eq!(response.max_packet_bytes, 1 << 30);
        assert_eq!(response.database, None);
        let attributes: Vec<(&[u8], &[u8])> = vec![
            (b"_os", b"debian6.0"),
            (b"_client_name", b"libmysql"),
            (b"_pid", b"22344"),
            (b"_client_version", b"5.6.6-m9"),
            (b"_platform", b"x86_64"),
            (b"foo", b"bar"),
        ];
        assert_eq!(response.connect_attributes, attributes);
        let mut out = Vec::new();
        response.emit(&mut out).expect("encodable");
        assert_eq!(out, payload);
    }

    // The documentation's SSLRequest is recognised; a 4.0-style response is
    // refused; every truncation of a valid response is a typed error.
    #[test]
    fn ssl_request_old_clients_and_truncation() {
        let ssl = hex(concat!(
            "05 ae 03 00 00 00 00 01 08 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 ",
            "00 00 00 00 00"
        ));
        assert_eq!(
            ClientHandshake::parse(&ssl),
            Ok(ClientHandshake::SslRequest {
                capabilities: CapabilityFlags::from_bits_retain(0x0003_ae05),
                max_packet_bytes: 16 << 20,
                charset: 8
            })
        );
        assert_eq!(
            ClientHandshake::parse(&[0x85, 0x00, 0x00, 0x00]),
            Err(ProtocolError::ClientTooOld { capabilities: 0x85 })
        );
        let response = HandshakeResponse41 {
            capabilities: CapabilityFlags::SERVER_DEFAULT,
            max_packet_bytes: 1 << 24,
            charset: 255,
            username: b"app",
            auth_response: &[9; 32],
            database: Some(b"shop"),
            auth_plugin_name: Some(b"caching_sha2_password"),
            connect_attributes: vec![(b"_client_name", b"test")],
            zstd_compression_level: None,
        };
        let mut payload = Vec::new();
        response.emit(&mut payload).expect("encodable");
        assert_eq!(
            ClientHandshake::parse(&payload),
            Ok(ClientHandshake::Response(response.clone()))
        );
        // Cuts that end inside a field are errors; cuts at the end of an
        // optional trailing field parse as a response without it.
        let mut accepted_cuts = 0;
        for cut in 0..payload.len() {
            if ClientHandshake::parse(&payload[..cut]).is_ok() {
                accepted_cuts += 1;
            }
        }
        // After the auth response, after the database, after the plugin name.
        assert_eq!(accepted_cuts, 3);
        let long_auth = [1; 256];
        let one_byte_length = HandshakeResponse41 {
            capabilities: CapabilityFlags::PROTOCOL_41 | CapabilityFlags::SECURE_CONNECTION,
            auth_response: &long_auth,
            ..response.clone()
        };
        assert!(matches!(
            one_byte_length.emit(&mut Vec::new()),
            Err(ProtocolError::FieldTooLong {
                length_bytes: 256,
                ..
            })
        ));
        let mut trailing = payload.clone();
        trailing.push(0);
        assert!(ClientHandshake::parse(&trailing).is_err());
    }

    // AuthSwitchRequest and the fast_auth_success AuthMoreData, fixed bytes.
    #[test]
    fn auth_switch_fixed_bytes() {
        let request = AuthSwitchRequest {
            plugin: AuthPlugin::MysqlNativePassword,
            scramble: Scramble::from_bytes(*b"abcdefghijklmnopqrst"),
        };
        let mut out = Vec::new();
        request.emit(&mut out);
        let expected = [
            &[0xfe][..],
            b"mysql_native_password\0abcdefghijklmnopqrst\0",
        ]
        .concat();
        assert_eq!(out, expected);
        assert_eq!(AuthSwitchRequest::parse(&out), Ok(request));
        assert_eq!(FAST_AUTH_SUCCESS, [0x01, 0x03]);
    }
}
