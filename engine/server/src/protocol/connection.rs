//! The connection phase as a state machine over payloads: no socket, clock
//! or randomness inside. The caller frames packets with `PacketCodec`
//! (which keeps the sequence ids running: greeting 0, response 1, switch 2,
//! ...), supplies the scramble from its RNG, and looks accounts up through a
//! `CredentialStore`.
//!
//! ```text
//!   greeting ──> AwaitingResponse ──SSLRequest──> Err(TlsNotSupported)
//!                      │
//!                      ├─ client used the account's plugin ──> verify
//!                      └─ otherwise ──> AuthSwitchRequest ──> AwaitingSwitchResponse ──> verify
//!   verify: native ok ──> Authenticated
//!           caching_sha2 digest ok ──> Authenticated { fast_auth_success }
//!           caching_sha2 without digest ──> Err(FullAuthenticationUnsupported)
//!           otherwise ──> Err(AccessDenied)
//! ```
//!
//! On `Authenticated` the caller sends FAST_AUTH_SUCCESS if asked, then
//! selects `database` (ER_BAD_DB_ERROR if it does not exist) and sends OK.
//! On any error it sends `ErrPacket::emit_protocol_error` and closes.
//!
//! Unknown users walk the same path as known ones (switch included, with
//! the default plugin) and are denied at verification, so the exchange does
//! not tell which user names exist.

use super::auth::{AuthPlugin, CredentialStore, Scramble, StoredCredential};
use super::error::ProtocolError;
use super::flags::{charset, CapabilityFlags, StatusFlags};
use super::handshake::{AuthSwitchRequest, ClientHandshake, HandshakeResponse41, HandshakeV10};
use super::wire;

/// What the server announces in its greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerGreeting {
    /// Must not contain NUL. Clients parse the leading "8.0.x" to pick features.
    pub server_version: String,
    pub capabilities: CapabilityFlags,
    /// Plugin named in the greeting; the scramble answers it.
    pub default_auth_plugin: AuthPlugin,
    /// Collation id announced (low 8 bits are sent).
    pub charset: u16,
}

impl Default for ServerGreeting {
    fn default() -> Self {
        Self {
            server_version: "8.0.36-floe".to_owned(),
            capabilities: CapabilityFlags::SERVER_DEFAULT,
            default_auth_plugin: AuthPlugin::CachingSha2Password,
            charset: charset::UTF8MB4_0900_AI_CI,
        }
    }
}

/// A client that passed authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedClient {
    pub user: String,
    /// Default database from CLIENT_CONNECT_WITH_DB; the session must check
    /// it exists before sending OK.
    pub database: Option<String>,
    /// Client's and server's capabilities intersected.
    pub capabilities: CapabilityFlags,
    /// Collation id the client asked for.
    pub charset: u8,
    pub client_max_packet_bytes: u32,
    pub plugin: AuthPlugin,
    /// Connection attributes, as text (invalid UTF-8 replaced).
    pub connect_attributes: Vec<(String, String)>,
}

/// What to do after feeding a packet to `ConnectionPhase::on_packet`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeStep {
    /// Send this AuthSwitchRequest and feed the client's answer back in.
    SwitchPlugin(AuthSwitchRequest),
    /// Done. If `fast_auth_success`, send `handshake::FAST_AUTH_SUCCESS`
    /// first; then accept the database and send OK (or ERR).
    Authenticated {
        client: AuthenticatedClient,
        fast_auth_success: bool,
    },
}

#[derive(Debug)]
enum State {
    AwaitingResponse,
    AwaitingSwitchResponse(PendingClient),
    Finished,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::AwaitingResponse => "awaiting HandshakeResponse41",
            State::AwaitingSwitchResponse(_) => "awaiting AuthSwitchResponse",
            State::Finished => "finished",
        }
    }
}

/// A client between its response and the end of authentication.
#[derive(Debug)]
struct PendingClient {
    client: AuthenticatedClient,
    credential: Option<StoredCredential>,
}

/// Connection phase of one connection.
#[derive(Debug)]
pub struct ConnectionPhase {
    greeting: ServerGreeting,
    connection_id: u32,
    scramble: Scramble,
    state: State,
}

impl ConnectionPhase {
    pub fn new(greeting: ServerGreeting, connection_id: u32, scramble: Scramble) -> Self {
        Self {
            greeting,
            connection_id,
            scramble,
            state: State::AwaitingResponse,
        }
    }

    /// The greeting's payload (sequence id 0). Fails only if the configured
    /// server version contains a NUL.
    pub fn emit_greeting(&self, out: &mut Vec<u8>) -> Result<(), ProtocolError> {
        HandshakeV10 {
            server_version: self.greeting.server_version.as_bytes(),
            connection_id: self.connection_id,
            scramble: self.scramble,
            capabilities: self.greeting.capabilities,
            charset: self.greeting.charset.to_le_bytes()[0],
            status: StatusFlags::AUTOCOMMIT,
            auth_plugin_name: Some(self.greeting.default_auth_plugin.name().as_bytes()),
        }
        .emit(out)
    }

    /// Feed the next client payload. After an error or `Authenticated`, any
    /// further packet is `UnexpectedPacket`.
    pub fn on_packet(
        &mut self,
        payload: &[u8],
        store: &dyn CredentialStore,
    ) -> Result<HandshakeStep, ProtocolError> {
        let state = std::mem::replace(&mut self.state, State::Finished);
        let step = match state {
            State::AwaitingResponse => self.on_response(payload, store),
            State::AwaitingSwitchResponse(pending) => self.verify(pending, payload),
            State::Finished => Err(ProtocolError::UnexpectedPacket {
                state: state.name(),
            }),
        };
        if let Err(error) = &step {
            // Refused clients are routine; the caller sends the ERR.
            log::debug!(
                "connection {}: handshake refused: {error}",
                self.connection_id
            );
        }
        step
    }

    fn on_response(
        &mut self,
        payload: &[u8],
        store: &dyn CredentialStore,
    ) -> Result<HandshakeStep, ProtocolError> {
        let response = match ClientHandshake::parse(payload)? {
            ClientHandshake::SslRequest { .. } => return Err(ProtocolError::TlsNotSupported),
            ClientHandshake::Response(response) => response,
        };
        let client = self.authenticated_client(&response)?;
        let credential = store.credential(&client.user);
        let account_plugin = credential.map_or(self.greeting.default_auth_plugin, |c| c.plugin());
        let client_plugin = match response.auth_plugin_name {
            Some(name) => AuthPlugin::from_name(name),
            // Without CLIENT_PLUGIN_AUTH the response is native-password style.
            None => Some(AuthPlugin::MysqlNativePassword),
        };
        let pending = PendingClient {
            client: AuthenticatedClient {
                plugin: account_plugin,
                ..client
            },
            credential,
        };
        if client_plugin == Some(account_plugin) {
            return self.verify(pending, response.auth_response);
        }
        if !response.capabilities.contains(CapabilityFlags::PLUGIN_AUTH) {
            return Err(ProtocolError::AuthSwitchUnsupported {
                user: pending.client.user,
                plugin: account_plugin.name(),
            });
        }
        self.state = State::AwaitingSwitchResponse(pending);
        Ok(HandshakeStep::SwitchPlugin(AuthSwitchRequest {
            plugin: account_plugin,
            scramble: self.scramble,
        }))
    }

    fn authenticated_client(
        &self,
        response: &HandshakeResponse41<'_>,
    ) -> Result<AuthenticatedClient, ProtocolError> {
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        Ok(AuthenticatedClient {
            user: wire::utf8(response.username, "username")?.to_owned(),
            database: response
                .database
                .filter(|database| !database.is_empty())
                .map(|database| wire::utf8(database, "database").map(str::to_owned))
                .transpose()?,
            capabilities: response.capabilities & self.greeting.capabilities,
            charset: response.charset,
            client_max_packet_bytes: response.max_packet_bytes,
            plugin: self.greeting.default_auth_plugin,
            connect_attributes: response
                .connect_attributes
                .iter()
                .map(|(key, value)| (text(key), text(value)))
                .collect(),
        })
    }

    fn verify(
        &mut self,
        pending: PendingClient,
        auth_response: &[u8],
    ) -> Result<HandshakeStep, ProtocolError> {
        let PendingClient { client, credential } = pending;
        let denied = |client: AuthenticatedClient| ProtocolError::AccessDenied {
            user: client.user,
            host: String::new(),
            using_password: !auth_response.is_empty(),
        };
        let fast_auth_success = match credential {
            None => return Err(denied(client)),
            Some(StoredCredential::NativePassword(hash)) => {
                if !hash.verify(&self.scramble, auth_response) {
                    return Err(denied(client));
                }
                false
            }
            Some(StoredCredential::CachingSha2Password(None)) => {
                return Err(ProtocolError::FullAuthenticationUnsupported { user: client.user })
            }
            Some(StoredCredential::CachingSha2Password(Some(digest))) => {
                if !digest.verify(&self.scramble, auth_response) {
                    return Err(denied(client));
                }
                true
            }
        };
        Ok(HandshakeStep::Authenticated {
            client,
            fast_auth_success,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::auth::{
        caching_sha2_response, native_password_response, NativePasswordHash, Sha2PasswordDigest,
    };
    use crate::protocol::codes;
    use crate::protocol::handshake::FAST_AUTH_SUCCESS;
    use crate::protocol::packet::{Decoded, MaxAllowedPacket, PacketCodec};
    use crate::protocol::response::{ErrPacket, OkPacket};
    use std::collections::HashMap;

    /// Accounts in a map: a real `CredentialStore`, the dictionary's stand-in
    /// until the dictionary exists.
    struct Accounts(HashMap<&'static str, StoredCredential>);

    impl CredentialStore for Accounts {
        fn credential(&self, user: &str) -> Option<StoredCredential> {
            self.0.get(user).copied()
        }
    }

    fn accounts() -> Accounts {
        Accounts(HashMap::from([
            (
                "native",
                StoredCredential::NativePassword(NativePasswordHash::from_password(b"pw1")),
            ),
            (
                "sha2",
                StoredCredential::CachingSha2Password(Some(Sha2PasswordDigest::from_password(
                    b"pw2",
                ))),
            ),
            ("uncached", StoredCredential::CachingSha2Password(None)),
        ]))
    }

    fn scramble() -> Scramble {
        Scramble::from_random(std::array::from_fn(|i| (i * 37) as u8))
    }

    fn phase() -> ConnectionPhase {
        ConnectionPhase::new(ServerGreeting::default(), 42, scramble())
    }

    fn response_payload(
        user: &str,
        plugin: AuthPlugin,
        auth: &[u8],
        database: Option<&str>,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        HandshakeResponse41 {
            capabilities: CapabilityFlags::SERVER_DEFAULT | CapabilityFlags::LOCAL_FILES,
            max_packet_bytes: 1 << 24,
            charset: 45,
            username: user.as_bytes(),
            auth_response: auth,
            database: database.map(str::as_bytes),
            auth_plugin_name: Some(plugin.name().as_bytes()),
            connect_attributes: vec![(b"_client_name", b"test")],
            zstd_compression_level: None,
        }
        .emit(&mut out)
        .expect("encodable");
        out
    }

    // The full caching_sha2 fast path over framed bytes: greeting, response,
    // fast_auth_success and OK carry sequence ids 0..=3, and the client's
    // negotiated settings come out.
    #[test]
    fn caching_sha2_fast_path_end_to_end() {
        let mut server = PacketCodec::new(MaxAllowedPacket::DEFAULT);
        let mut phase = phase();
        let mut wire = Vec::new();
        let start = server.begin_packet(&mut wire);
        phase.emit_greeting(&mut wire).expect("valid greeting");
        server.end_packet(&mut wire, start);
        assert_eq!(wire[3], 0);
        let greeting = HandshakeV10::parse(&wire[4..]).expect("greeting parses");
        assert_eq!(greeting.connection_id, 42);
        assert_eq!(
            greeting.auth_plugin_name,
            Some(&b"caching_sha2_password"[..])
        );
        assert_eq!(greeting.scramble, scramble());

        // The client answers with sequence id 1.
        let auth = caching_sha2_response(b"pw2", &greeting.scramble);
        let payload =
            response_payload("sha2", AuthPlugin::CachingSha2Password, &auth, Some("shop"));
        let mut client_wire = Vec::new();
        let mut client = PacketCodec::new(MaxAllowedPacket::DEFAULT);
        client.write_packet(&mut Vec::new(), b""); // the greeting had id 0
        client.write_packet(&mut client_wire, &payload);
        let Ok(Decoded::Packet { payload, .. }) = server.decode(&client_wire) else {
            panic!("response should decode");
        };
        let step = phase
            .on_packet(&payload, &accounts())
            .expect("authenticates");
        let HandshakeStep::Authenticated {
            client,
            fast_auth_success,
        } = step
        else {
            panic!("expected Authenticated, got {step:?}");
        };
        assert!(fast_auth_success);
        assert_eq!(client.user, "sha2");
        assert_eq!(client.database.as_deref(), Some("shop"));
        assert_eq!(client.plugin, AuthPlugin::CachingSha2Password);
        assert_eq!(client.charset, 45);
        assert!(!client.capabilities.contains(CapabilityFlags::LOCAL_FILES));
        assert!(client.capabilities.contains(CapabilityFlags::DEPRECATE_EOF));
        assert_eq!(
            client.connect_attributes,
            [("_client_name".into(), "test".into())]
        );

        let mut wire = Vec::new();
        server.write_packet(&mut wire, &FAST_AUTH_SUCCESS);
        let mut ok = Vec::new();
        OkPacket {
            status: StatusFlags::AUTOCOMMIT,
            ..OkPacket::default()
        }
        .emit(client.capabilities, &mut ok);
        server.write_packet(&mut wire, &ok);
        assert_eq!(
            wire,
            [2, 0, 0, 2, 0x01, 0x03, 7, 0, 0, 3, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00]
        );
        assert_eq!(
            phase.on_packet(b"\x0e", &accounts()),
            Err(ProtocolError::UnexpectedPacket { state: "finished" })
        );
    }

    // A native account reached with the caching_sha2 default gets an
    // AuthSwitchRequest, then the native answer authenticates.
    #[test]
    fn switch_to_native_password() {
        let mut phase = phase();
        let payload = response_payload("native", AuthPlugin::CachingSha2Password, &[1; 32], None);
        let step = phase.on_packet(&payload, &accounts()).expect("switch");
        assert_eq!(
            step,
            HandshakeStep::SwitchPlugin(AuthSwitchRequest {
                plugin: AuthPlugin::MysqlNativePassword,
                scramble: scramble()
            })
        );
        let answer = native_password_response(b"pw1", &scramble());
        let step = phase
            .on_packet(&answer, &accounts())
            .expect("authenticates");
        assert!(matches!(
            step,
            HandshakeStep::Authenticated {
                fast_auth_success: false,
                ref client
            } if client.user == "native" && client.plugin == AuthPlugin::MysqlNativePassword
        ));
    }

    // Native directly (client already used the account's plugin), and wrong
    // passwords on both plugins, are answered with ER_ACCESS_DENIED_ERROR.
    #[test]
    fn wrong_passwords_are_denied() {
        let answer = native_password_response(b"pw1", &scramble());
        let payload = response_payload("native", AuthPlugin::MysqlNativePassword, &answer, None);
        assert!(matches!(
            phase().on_packet(&payload, &accounts()),
            Ok(HandshakeStep::Authenticated { .. })
        ));
        let wrong = native_password_response(b"nope", &scramble());
        let payload = response_payload("native", AuthPlugin::MysqlNativePassword, &wrong, None);
        let error = phase()
            .on_packet(&payload, &accounts())
            .expect_err("denied");
        assert_eq!(
            error,
            ProtocolError::AccessDenied {
                user: "native".into(),
                host: String::new(),
                using_password: true
            }
        );
        assert_eq!(error.mysql_error(), codes::ER_ACCESS_DENIED_ERROR);
        let wrong = caching_sha2_response(b"nope", &scramble());
        let payload = response_payload("sha2", AuthPlugin::CachingSha2Password, &wrong, None);
        assert!(matches!(
            phase().on_packet(&payload, &accounts()),
            Err(ProtocolError::AccessDenied { .. })
        ));
        // Empty response: no password-less access, ever.
        let payload = response_payload("sha2", AuthPlugin::CachingSha2Password, b"", None);
        assert_eq!(
            phase().on_packet(&payload, &accounts()),
            Err(ProtocolError::AccessDenied {
                user: "sha2".into(),
                host: String::new(),
                using_password: false
            })
        );
    }

    // An unknown user is switched like a known one and denied only at the
    // end, so the exchange does not reveal which names exist.
    #[test]
    fn unknown_user_looks_like_a_wrong_password() {
        let mut phase = phase();
        let payload = response_payload("ghost", AuthPlugin::MysqlNativePassword, &[1; 20], None);
        assert!(matches!(
            phase.on_packet(&payload, &accounts()),
            Ok(HandshakeStep::SwitchPlugin(AuthSwitchRequest {
                plugin: AuthPlugin::CachingSha2Password,
                ..
            }))
        ));
        assert_eq!(
            phase.on_packet(&[2; 32], &accounts()),
            Err(ProtocolError::AccessDenied {
                user: "ghost".into(),
                host: String::new(),
                using_password: true
            })
        );
    }

    // caching_sha2 without a cached digest needs full authentication, which
    // is refused with ER_NOT_SUPPORTED_AUTH_MODE and a message that says why.
    #[test]
    fn full_authentication_is_refused_clearly() {
        let payload = response_payload("uncached", AuthPlugin::CachingSha2Password, &[3; 32], None);
        let error = phase()
            .on_packet(&payload, &accounts())
            .expect_err("refused");
        assert_eq!(
            error,
            ProtocolError::FullAuthenticationUnsupported {
                user: "uncached".into()
            }
        );
        assert_eq!(error.mysql_error(), codes::ER_NOT_SUPPORTED_AUTH_MODE);
        let mut out = Vec::new();
        ErrPacket::emit_protocol_error(&error, CapabilityFlags::PROTOCOL_41, &mut out);
        let err = ErrPacket::parse(&out, CapabilityFlags::PROTOCOL_41).expect("ERR");
        assert!(err.message.contains("needs TLS or RSA"), "{}", err.message);
    }

    // An SSLRequest is answered with TlsNotSupported; garbage and a client
    // that cannot switch plugins get typed errors.
    #[test]
    fn ssl_garbage_and_old_clients() {
        let mut ssl = Vec::new();
        wire::put_u32(
            &mut ssl,
            (CapabilityFlags::SERVER_DEFAULT | CapabilityFlags::SSL).bits(),
        );
        ssl.extend_from_slice(&[0, 0, 0, 1, 255]);
        ssl.extend_from_slice(&[0; 23]);
        assert_eq!(
            phase().on_packet(&ssl, &accounts()),
            Err(ProtocolError::TlsNotSupported)
        );
        assert!(phase().on_packet(b"\xff\xff\xff", &accounts()).is_err());
        assert!(phase().on_packet(b"", &accounts()).is_err());

        // A client without CLIENT_PLUGIN_AUTH speaks native only.
        let mut old = Vec::new();
        HandshakeResponse41 {
            capabilities: CapabilityFlags::PROTOCOL_41 | CapabilityFlags::SECURE_CONNECTION,
            max_packet_bytes: 1 << 24,
            charset: 8,
            username: b"sha2",
            auth_response: &[1; 20],
            database: None,
            auth_plugin_name: None,
            connect_attributes: vec![],
            zstd_compression_level: None,
        }
        .emit(&mut old)
        .expect("encodable");
        assert_eq!(
            phase().on_packet(&old, &accounts()),
            Err(ProtocolError::AuthSwitchUnsupported {
                user: "sha2".into(),
                plugin: "caching_sha2_password"
            })
        );
    }
}
