//! Accounts and privileges in memory: what `mysql.user` and `mysql.db` say,
//! in the shape the connection phase and each statement need.
//!
//! The tables are the truth (see `session::users`, which writes them and
//! rebuilds an `Acl` after each change); this module only answers
//! questions. An account is `'user'@'host'` where host is a pattern (`%`
//! and `_` as in LIKE, case-insensitive); a client matches the account
//! whose pattern is most specific, as MySQL sorts them (exact hosts before
//! patterns, longer literal prefixes first).
//!
//! Privileges are global (`ON *.*`, in `mysql.user`) or per database
//! (`ON db.*`, in `mysql.db`). Table- and column-level grants are not
//! modelled: GRANT refuses them. `localhost` matches a client on the
//! loopback address (the server listens on TCP only; MySQL would mean its
//! Unix socket).

use floe_server::protocol::{NativePasswordHash, Sha2PasswordDigest, StoredCredential};

/// A set of privileges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Privileges(u32);

/// Every privilege with its SQL name, in the order SHOW GRANTS lists them.
const NAMES: &[(&str, u32)] = &[
    ("SELECT", 1),
    ("INSERT", 1 << 1),
    ("UPDATE", 1 << 2),
    ("DELETE", 1 << 3),
    ("CREATE", 1 << 4),
    ("DROP", 1 << 5),
    ("RELOAD", 1 << 6),
    ("SHUTDOWN", 1 << 7),
    ("PROCESS", 1 << 8),
    ("INDEX", 1 << 9),
    ("ALTER", 1 << 10),
    ("SUPER", 1 << 11),
    ("CREATE VIEW", 1 << 12),
    ("SHOW VIEW", 1 << 13),
    ("CREATE USER", 1 << 14),
];

/// Privileges that only make sense `ON *.*`.
const GLOBAL_ONLY: u32 = (1 << 6) | (1 << 7) | (1 << 8) | (1 << 11) | (1 << 14);

impl Privileges {
    pub const NONE: Privileges = Privileges(0);
    pub const SELECT: Privileges = Privileges(1);
    pub const INSERT: Privileges = Privileges(1 << 1);
    pub const UPDATE: Privileges = Privileges(1 << 2);
    pub const DELETE: Privileges = Privileges(1 << 3);
    pub const CREATE: Privileges = Privileges(1 << 4);
    pub const DROP: Privileges = Privileges(1 << 5);
    pub const RELOAD: Privileges = Privileges(1 << 6);
    pub const SHUTDOWN: Privileges = Privileges(1 << 7);
    pub const PROCESS: Privileges = Privileges(1 << 8);
    pub const INDEX: Privileges = Privileges(1 << 9);
    pub const ALTER: Privileges = Privileges(1 << 10);
    pub const SUPER: Privileges = Privileges(1 << 11);
    pub const CREATE_VIEW: Privileges = Privileges(1 << 12);
    pub const CREATE_USER: Privileges = Privileges(1 << 14);

    /// `ALL [PRIVILEGES]` at the given level.
    pub fn all(global: bool) -> Privileges {
        let every = NAMES.iter().fold(0, |acc, (_, bit)| acc | bit);
        Privileges(if global { every } else { every & !GLOBAL_ONLY })
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn contains(self, other: Privileges) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn union(self, other: Privileges) -> Privileges {
        Privileges(self.0 | other.0)
    }

    pub fn minus(self, other: Privileges) -> Privileges {
        Privileges(self.0 & !other.0)
    }

    /// Global-only privileges among these (not grantable `ON db.*`).
    pub fn global_only(self) -> Privileges {
        Privileges(self.0 & GLOBAL_ONLY)
    }

    /// A privilege by its SQL name (`select`, `CREATE VIEW`), any case.
    pub fn by_name(name: &str) -> Option<Privileges> {
        let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
            .map(|(_, bit)| Privileges(*bit))
    }

    /// The stored and shown form: `ALL PRIVILEGES` when complete at its
    /// level, else the names joined by `, `; `USAGE` when empty.
    pub fn to_text(self, global: bool) -> String {
        if self.is_empty() {
            return "USAGE".to_string();
        }
        if self == Privileges::all(global) {
            return "ALL PRIVILEGES".to_string();
        }
        NAMES
            .iter()
            .filter(|(_, bit)| self.0 & bit != 0)
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Reads `to_text`'s form back.
    pub fn parse(text: &str, global: bool) -> Option<Privileges> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("USAGE") || text.is_empty() {
            return Some(Privileges::NONE);
        }
        if text.eq_ignore_ascii_case("ALL PRIVILEGES") || text.eq_ignore_ascii_case("ALL") {
            return Some(Privileges::all(global));
        }
        text.split(',')
            .map(Privileges::by_name)
            .try_fold(Privileges::NONE, |acc, p| p.map(|p| acc.union(p)))
    }

    /// The first privilege of the set, by name (for error messages).
    pub fn first_name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, bit)| self.0 & bit != 0)
            .map_or("USAGE", |(n, _)| n)
    }
}

/// The authentication plugins an account may use.
pub const NATIVE_PASSWORD: &str = "mysql_native_password";
pub const CACHING_SHA2_PASSWORD: &str = "caching_sha2_password";

/// Prefix of Floe's stored form of a caching_sha2_password secret:
/// SHA256(SHA256(password)) in hex. MySQL stores a salted SHA256-crypt
/// string instead, which only full authentication (TLS or RSA, not
/// supported yet) can use; Floe keeps what the fast path needs.
const SHA2_PREFIX: &str = "$floe-sha256x2$";

/// The stored `authentication_string` for `password` under `plugin`; an
/// empty password stores an empty string (MySQL's passwordless account).
pub fn authentication_string(plugin: &str, password: &str) -> Option<String> {
    if password.is_empty() {
        return Some(String::new());
    }
    match plugin {
        NATIVE_PASSWORD => Some(format!(
            "*{}",
            hex_upper(NativePasswordHash::from_password(password.as_bytes()).bytes())
        )),
        CACHING_SHA2_PASSWORD => Some(format!(
            "{SHA2_PREFIX}{}",
            hex_upper(Sha2PasswordDigest::from_password(password.as_bytes()).bytes())
        )),
        _ => None,
    }
}

/// What the connection phase verifies against, from the stored form. None:
/// the account cannot log in (no password set, or a form not understood).
pub fn credential(plugin: &str, stored: &str) -> Option<StoredCredential> {
    match plugin {
        NATIVE_PASSWORD => {
            let hex = stored.strip_prefix('*')?;
            Some(StoredCredential::NativePassword(
                NativePasswordHash::from_bytes(unhex(hex)?),
            ))
        }
        CACHING_SHA2_PASSWORD => {
            let hex = stored.strip_prefix(SHA2_PREFIX)?;
            Some(StoredCredential::CachingSha2Password(Some(
                Sha2PasswordDigest::from_bytes(unhex(hex)?),
            )))
        }
        _ => None,
    }
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(out)
}

/// One row of `mysql.user`.
#[derive(Debug, Clone)]
pub struct Account {
    pub user: String,
    pub host: String,
    pub plugin: String,
    pub authentication_string: String,
    pub global: Privileges,
    pub grant_option: bool,
}

/// One row of `mysql.db`.
#[derive(Debug, Clone)]
pub struct DbGrant {
    pub user: String,
    pub host: String,
    pub db: String,
    pub privileges: Privileges,
    pub grant_option: bool,
}

/// What one session may do: resolved once per account and ACL version.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    pub global: Privileges,
    pub grant_option: bool,
    /// (database, privileges), database names in lower case.
    pub databases: Vec<(String, Privileges)>,
}

impl Grants {
    /// Everything: sessions the server runs for itself.
    pub fn system() -> Grants {
        Grants {
            global: Privileges::all(true),
            grant_option: true,
            databases: Vec::new(),
        }
    }

    /// The privileges held on `db` (global ones included).
    pub fn on_database(&self, db: &str) -> Privileges {
        self.databases
            .iter()
            .filter(|(name, _)| name == db)
            .fold(self.global, |acc, (_, p)| acc.union(*p))
    }

    /// Whether any privilege at all reaches `db` (USE, SHOW DATABASES).
    pub fn sees_database(&self, db: &str) -> bool {
        !self.on_database(db).is_empty()
    }
}

/// The accounts and grants, as last loaded from the tables.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    /// Most specific host pattern first.
    accounts: Vec<Account>,
    db_grants: Vec<DbGrant>,
}

impl Acl {
    pub fn new(mut accounts: Vec<Account>, db_grants: Vec<DbGrant>) -> Acl {
        accounts.sort_by(|a, b| {
            host_rank(&a.host)
                .cmp(&host_rank(&b.host))
                .then_with(|| a.user.cmp(&b.user))
        });
        Acl {
            accounts,
            db_grants,
        }
    }

    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    /// The account a client `user` connecting from `client_host` logs in
    /// as: the first (most specific) whose host pattern matches.
    pub fn find_login(&self, user: &str, client_host: &str) -> Option<&Account> {
        self.accounts
            .iter()
            .find(|a| a.user == user && host_matches(&a.host, client_host))
    }

    /// The account named exactly `'user'@'host'` (host compared as written,
    /// case-insensitively, as MySQL does for host names).
    pub fn account(&self, user: &str, host: &str) -> Option<&Account> {
        self.accounts
            .iter()
            .find(|a| a.user == user && a.host.eq_ignore_ascii_case(host))
    }

    /// The grants of `'user'@'host'`; empty if the account is gone.
    pub fn grants(&self, user: &str, host: &str) -> Grants {
        let Some(account) = self.account(user, host) else {
            return Grants::default();
        };
        Grants {
            global: account.global,
            grant_option: account.grant_option,
            databases: self
                .db_grants
                .iter()
                .filter(|g| g.user == user && g.host.eq_ignore_ascii_case(host))
                .map(|g| (g.db.clone(), g.privileges))
                .collect(),
        }
    }

    pub fn db_grants(&self, user: &str, host: &str) -> impl Iterator<Item = &DbGrant> {
        let host = host.to_string();
        let user = user.to_string();
        self.db_grants
            .iter()
            .filter(move |g| g.user == user && g.host.eq_ignore_ascii_case(&host))
    }
}

/// Sort key of a host pattern: literal hosts first, then patterns by how
/// much literal text precedes the first wildcard (longer first); `%` last.
fn host_rank(host: &str) -> (u8, usize) {
    match host.find(['%', '_']) {
        None => (0, 0),
        Some(position) => (1, usize::MAX - position),
    }
}

/// Whether `client` matches the host `pattern` (`%`, `_`, any case).
/// `localhost` also matches the loopback addresses.
pub fn host_matches(pattern: &str, client: &str) -> bool {
    if pattern.eq_ignore_ascii_case("localhost") {
        return matches!(client, "127.0.0.1" | "::1" | "localhost")
            || client.eq_ignore_ascii_case("localhost");
    }
    let pattern: Vec<char> = pattern.to_lowercase().chars().collect();
    let client: Vec<char> = client.to_lowercase().chars().collect();
    like(&pattern, &client)
}

fn like(pattern: &[char], text: &[char]) -> bool {
    // Iterative wildcard match with backtracking to the last `%`.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('%') => {
                star = Some((p, t));
                p += 1;
            }
            Some(c) if *c == '_' || *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|c| *c == '%')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privilege_text_round_trips() {
        for global in [true, false] {
            let all = Privileges::all(global);
            assert_eq!(all.to_text(global), "ALL PRIVILEGES");
            assert_eq!(Privileges::parse("ALL PRIVILEGES", global), Some(all));
        }
        let some = Privileges::SELECT.union(Privileges::CREATE_VIEW);
        assert_eq!(some.to_text(false), "SELECT, CREATE VIEW");
        assert_eq!(Privileges::parse("SELECT, CREATE VIEW", false), Some(some));
        assert_eq!(Privileges::parse("USAGE", true), Some(Privileges::NONE));
        assert_eq!(Privileges::parse("SELECT, FLY", true), None);
        assert!(!Privileges::all(false).contains(Privileges::CREATE_USER));
        assert!(Privileges::all(true).contains(Privileges::CREATE_USER));
    }

    #[test]
    fn host_patterns_match_like_mysql() {
        assert!(host_matches("%", "10.0.2.2"));
        assert!(host_matches("10.0.%", "10.0.2.2"));
        assert!(!host_matches("10.1.%", "10.0.2.2"));
        assert!(host_matches("10.0.2._", "10.0.2.2"));
        assert!(!host_matches("10.0.2._", "10.0.2.22"));
        assert!(host_matches("localhost", "127.0.0.1"));
        assert!(!host_matches("localhost", "10.0.2.2"));
        assert!(host_matches("%.%.%.2", "10.0.2.2"));
        assert!(host_matches("", ""));
        assert!(!host_matches("", "x"));
    }

    fn account(user: &str, host: &str, password: &str) -> Account {
        Account {
            user: user.into(),
            host: host.into(),
            plugin: NATIVE_PASSWORD.into(),
            authentication_string: authentication_string(NATIVE_PASSWORD, password)
                .unwrap_or_default(),
            global: Privileges::NONE,
            grant_option: false,
        }
    }

    #[test]
    fn the_most_specific_host_wins() {
        let acl = Acl::new(
            vec![
                account("bob", "%", "a"),
                account("bob", "10.0.%", "b"),
                account("bob", "10.0.2.2", "c"),
            ],
            vec![DbGrant {
                user: "bob".into(),
                host: "10.0.%".into(),
                db: "shop".into(),
                privileges: Privileges::SELECT,
                grant_option: false,
            }],
        );
        let host_of = |client| acl.find_login("bob", client).map(|a| a.host.clone());
        assert_eq!(host_of("10.0.2.2").as_deref(), Some("10.0.2.2"));
        assert_eq!(host_of("10.0.9.9").as_deref(), Some("10.0.%"));
        assert_eq!(host_of("192.168.1.1").as_deref(), Some("%"));
        assert!(acl.find_login("alice", "10.0.2.2").is_none());
        let grants = acl.grants("bob", "10.0.%");
        assert!(grants.on_database("shop").contains(Privileges::SELECT));
        assert!(!grants.sees_database("other"));
        assert!(!acl.grants("bob", "%").sees_database("shop"));
    }

    #[test]
    fn stored_secrets_verify_like_the_wire_would() {
        for plugin in [NATIVE_PASSWORD, CACHING_SHA2_PASSWORD] {
            let stored = authentication_string(plugin, "s3cret").unwrap_or_default();
            let credential = credential(plugin, &stored);
            let expected = match plugin {
                NATIVE_PASSWORD => {
                    StoredCredential::NativePassword(NativePasswordHash::from_password(b"s3cret"))
                }
                _ => StoredCredential::CachingSha2Password(Some(
                    Sha2PasswordDigest::from_password(b"s3cret"),
                )),
            };
            assert_eq!(credential, Some(expected));
        }
        // MySQL's PASSWORD('password'), as mysqldump would write it.
        assert_eq!(
            authentication_string(NATIVE_PASSWORD, "password").as_deref(),
            Some("*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19")
        );
        assert_eq!(credential(NATIVE_PASSWORD, ""), None);
        assert_eq!(credential(NATIVE_PASSWORD, "*XYZ"), None);
        assert_eq!(credential("sha256_password", "x"), None);
    }
}
