//! Accounts in the dictionary: CREATE / DROP / ALTER USER, SET PASSWORD,
//! GRANT / REVOKE, SHOW GRANTS, FLUSH PRIVILEGES, the first start's root
//! account, and the privilege checks every statement passes.
//!
//! Storage: `mysql.user` (one row per `'user'@'host'`: plugin, stored
//! secret, global privileges) and `mysql.db` (database-level grants) are
//! ordinary tables, created at open when missing and written through SQL by
//! a system session, one transaction per account statement (so CREATE USER
//! a, b is atomic, as in MySQL 8). After each change the in-memory `Acl` is
//! rebuilt from the tables and its version bumped; a session re-reads its
//! grants when the version moved (one atomic load per statement, no lock).
//! Direct DML on the tables takes effect at FLUSH PRIVILEGES, as in MySQL.
//! The columns are Floe's, not MySQL's `Select_priv`-style layout:
//! `Privileges` holds the list as SHOW GRANTS prints it.
//!
//! sqlparser 0.64 parses GRANT and REVOKE but not MySQL's account
//! statements (`CREATE USER 'u'@'h' IDENTIFIED BY ...`) nor `SHOW GRANTS
//! FOR`, so those are parsed here from its tokens; they must come one per
//! query (in a multi-statement batch they are a syntax error).
//!
//! Checks: a statement's target table needs the statement's privilege
//! (INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER) on its database;
//! every other table a statement names needs SELECT there (checked where
//! names are resolved, so joins and subqueries are covered). USE and SHOW
//! need some privilege on the database. Account statements need CREATE
//! USER, except changing one's own password. Knowingly different from
//! MySQL: no table- or column-level grants, no roles, an account without a
//! password cannot log in, and `localhost` means the loopback address.

use std::sync::Arc;

use floe_server::protocol::ColumnDefinition;
use floe_server::protocol::Value as Wire;
use floe_server::{Interrupt, SqlError, Summary};
use sqlparser::dialect::MySqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, Tokenizer};

use super::ddl::quote_text;
use super::*;
use crate::acl::{self, Account, Acl, DbGrant, Grants, Privileges};

/// `'user'@'host'`; the host defaults to `%`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName {
    pub user: String,
    pub host: String,
}

impl std::fmt::Display for UserName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "'{}'@'{}'", self.user, self.host)
    }
}

/// `IDENTIFIED [WITH plugin] [BY 'password' | AS 'stored']`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    plugin: Option<String>,
    secret: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Secret {
    Password(String),
    Stored(String),
}

/// The account statements sqlparser does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountStatement {
    CreateUser {
        if_not_exists: bool,
        users: Vec<(UserName, Option<Auth>)>,
    },
    DropUser {
        if_exists: bool,
        users: Vec<UserName>,
    },
    AlterUser {
        if_exists: bool,
        users: Vec<(UserName, Option<Auth>)>,
    },
    /// `SET PASSWORD [FOR user] = 'password'`; None: the current user.
    SetPassword {
        user: Option<UserName>,
        password: String,
    },
    /// None: the current user.
    ShowGrants { user: Option<UserName> },
    /// `SHUTDOWN`: an orderly stop of the server.
    Shutdown,
    /// GRANT / REVOKE (sqlparser lacks MySQL's privilege names).
    Grant(GrantStatement),
}

/// `GRANT privileges ON level TO users [WITH GRANT OPTION]` or
/// `REVOKE [privileges | GRANT OPTION] ON level FROM users`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantStatement {
    revoke: bool,
    /// None: ALL [PRIVILEGES] (its meaning depends on the level).
    privileges: Option<Privileges>,
    /// GRANT: WITH GRANT OPTION; REVOKE: GRANT OPTION is revoked.
    grant_option: bool,
    /// None: `*.*`; Some(None): `*` (the current database); Some(Some(db)).
    level: Option<Option<String>>,
    users: Vec<UserName>,
}

fn syntax(message: impl std::fmt::Display) -> StatementError {
    StatementError::Parse {
        message: message.to_string(),
    }
}

/// Tokens of one statement, without whitespace, comments or trailing `;`.
struct Tokens {
    tokens: Vec<Token>,
    at: usize,
}

impl Tokens {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn keyword(&mut self, word: &str) -> bool {
        match self.peek() {
            Some(Token::Word(w))
                if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word) =>
            {
                self.at += 1;
                true
            }
            _ => false,
        }
    }

    fn expect_keyword(&mut self, word: &str) -> Result<()> {
        if self.keyword(word) {
            Ok(())
        } else {
            Err(syntax(format!(
                "expected {word}, found {}",
                self.peek()
                    .map_or("end of statement".to_string(), Token::to_string)
            )))
        }
    }

    fn done(&self) -> bool {
        self.at >= self.tokens.len()
    }

    fn expect_end(&self) -> Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(token) => Err(syntax(format!("unexpected '{token}' at the end"))),
        }
    }

    fn string(&mut self) -> Result<String> {
        match self.next() {
            Some(Token::SingleQuotedString(s) | Token::DoubleQuotedString(s)) => Ok(s),
            other => Err(syntax(format!(
                "expected a quoted string, found {}",
                other.map_or("end of statement".to_string(), |t| t.to_string())
            ))),
        }
    }

    /// A name part: a quoted string or a (possibly backquoted) word.
    fn name_part(&mut self) -> Result<String> {
        match self.next() {
            Some(Token::SingleQuotedString(s) | Token::DoubleQuotedString(s)) => Ok(s),
            Some(Token::Word(w)) => Ok(w.value),
            other => Err(syntax(format!(
                "expected a user name, found {}",
                other.map_or("end of statement".to_string(), |t| t.to_string())
            ))),
        }
    }

    /// `user[@host]`, in any of MySQL's quotings; `bob@localhost`
    /// unquoted arrives as one word.
    fn user_name(&mut self) -> Result<UserName> {
        let unquoted = matches!(self.peek(), Some(Token::Word(w)) if w.quote_style.is_none());
        let first = self.name_part()?;
        if unquoted {
            // `bob@localhost` is one word; `bob@'host'` is `bob@` then a string.
            if let Some((user, host)) = first.split_once('@') {
                let host = if host.is_empty() {
                    self.name_part()?
                } else {
                    host.to_string()
                };
                return Ok(UserName {
                    user: user.to_string(),
                    host: host.to_lowercase(),
                });
            }
        }
        let host = if matches!(self.peek(), Some(Token::AtSign)) {
            self.at += 1;
            self.name_part()?.to_lowercase()
        } else {
            "%".to_string()
        };
        if first.is_empty() {
            return Err(syntax("anonymous accounts ('') are not supported"));
        }
        if first.chars().count() > 32 {
            return Err(StatementError::Server(SqlError {
                code: 1470,
                sql_state: *b"HY000",
                message: format!(
                    "String '{first}' is too long for user name (should be no longer than 32)"
                ),
            }));
        }
        if host.chars().count() > 255 {
            return Err(StatementError::Server(SqlError {
                code: 1470,
                sql_state: *b"HY000",
                message: format!(
                    "String '{host}' is too long for host name (should be no longer than 255)"
                ),
            }));
        }
        Ok(UserName { user: first, host })
    }

    /// `user [, user]...`
    fn user_names(&mut self) -> Result<Vec<UserName>> {
        let mut users = vec![self.user_name()?];
        while matches!(self.peek(), Some(Token::Comma)) {
            self.at += 1;
            users.push(self.user_name()?);
        }
        Ok(users)
    }

    fn auth(&mut self) -> Result<Option<Auth>> {
        if !self.keyword("IDENTIFIED") {
            return Ok(None);
        }
        let plugin = if self.keyword("WITH") {
            Some(self.name_part()?.to_lowercase())
        } else {
            None
        };
        let secret = if self.keyword("BY") {
            Some(Secret::Password(self.string()?))
        } else if self.keyword("AS") {
            Some(Secret::Stored(self.string()?))
        } else if plugin.is_none() {
            return Err(syntax("IDENTIFIED needs BY 'password' or WITH plugin"));
        } else {
            None
        };
        Ok(Some(Auth { plugin, secret }))
    }

    fn users_with_auth(&mut self) -> Result<Vec<(UserName, Option<Auth>)>> {
        let mut users = Vec::new();
        loop {
            let user = self.user_name()?;
            let auth = self.auth()?;
            users.push((user, auth));
            if !matches!(self.peek(), Some(Token::Comma)) {
                return Ok(users);
            }
            self.at += 1;
        }
    }

    /// After GRANT / REVOKE.
    fn grant(&mut self, revoke: bool) -> Result<GrantStatement> {
        let mut privileges = Some(Privileges::NONE);
        let mut grant_option = false;
        loop {
            let mut words = Vec::new();
            while let Some(Token::Word(w)) = self.peek() {
                if w.quote_style.is_some() || w.value.eq_ignore_ascii_case("ON") {
                    break;
                }
                words.push(w.value.to_uppercase());
                self.at += 1;
            }
            if matches!(self.peek(), Some(Token::LParen)) {
                return Err(StatementError::Unsupported(
                    "column privileges; grant ON db.* or *.*".into(),
                ));
            }
            match words.join(" ").as_str() {
                "" => return Err(syntax("expected a privilege")),
                "ALL" | "ALL PRIVILEGES" => privileges = None,
                "GRANT OPTION" if revoke => grant_option = true,
                "USAGE" => {}
                name => {
                    let privilege = Privileges::by_name(name)
                        .ok_or_else(|| StatementError::Unsupported(format!("privilege {name}")))?;
                    privileges = privileges.map(|p| p.union(privilege));
                }
            }
            if !matches!(self.peek(), Some(Token::Comma)) {
                break;
            }
            self.at += 1;
        }
        self.expect_keyword("ON")?;
        // Optional object type keyword.
        self.keyword("TABLE");
        let first = match self.next() {
            Some(Token::Mul) => None,
            Some(Token::Word(w)) => Some(w.value),
            other => {
                return Err(syntax(format!(
                    "expected *.*, db.* or a table after ON, found {}",
                    other.map_or("end of statement".to_string(), |t| t.to_string())
                )))
            }
        };
        let level = if matches!(self.peek(), Some(Token::Period)) {
            self.at += 1;
            let second = match self.next() {
                Some(Token::Mul) => None,
                Some(Token::Word(w)) => Some(w.value),
                _ => return Err(syntax("expected * or a table name after the dot")),
            };
            match (first, second) {
                (None, None) => None,
                (Some(db), None) => Some(Some(normalize_name(&db))),
                (db, Some(table)) => {
                    return Err(StatementError::Unsupported(format!(
                        "table-level privileges (ON {}.{table}); grant ON db.* or *.*",
                        db.unwrap_or_else(|| "*".into())
                    )))
                }
            }
        } else {
            match first {
                None => Some(None),
                Some(table) => {
                    return Err(StatementError::Unsupported(format!(
                        "table-level privileges (ON {table}); grant ON db.* or *.*"
                    )))
                }
            }
        };
        self.expect_keyword(if revoke { "FROM" } else { "TO" })?;
        let users = self.user_names()?;
        if !revoke && self.keyword("WITH") {
            self.expect_keyword("GRANT")?;
            self.expect_keyword("OPTION")?;
            grant_option = true;
        }
        Ok(GrantStatement {
            revoke,
            privileges,
            grant_option,
            level,
            users,
        })
    }

    fn if_exists(&mut self, not: bool) -> Result<bool> {
        if !self.keyword("IF") {
            return Ok(false);
        }
        if not {
            self.expect_keyword("NOT")?;
        }
        self.expect_keyword("EXISTS")?;
        Ok(true)
    }
}

/// Parses `sql` if it is one of the account statements sqlparser lacks.
pub fn parse_account_statement(sql: &str) -> Result<Option<AccountStatement>> {
    // Cheap test first: every statement passes here.
    let head = sql.trim_start();
    let starts = |w: &str| head.len() >= w.len() && head[..w.len()].eq_ignore_ascii_case(w);
    if !(starts("CREATE")
        || starts("DROP")
        || starts("ALTER")
        || starts("SET")
        || starts("SHOW")
        || starts("SHUTDOWN")
        || starts("GRANT")
        || starts("REVOKE"))
    {
        return Ok(None);
    }
    let Ok(raw) = Tokenizer::new(&MySqlDialect {}, sql).tokenize() else {
        return Ok(None); // sqlparser reports the error
    };
    let mut tokens: Vec<Token> = raw
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    while matches!(tokens.last(), Some(Token::SemiColon)) {
        tokens.pop();
    }
    if tokens.iter().any(|t| matches!(t, Token::SemiColon)) {
        return Ok(None);
    }
    let mut t = Tokens { tokens, at: 0 };
    let statement = if t.keyword("CREATE") {
        if !t.keyword("USER") {
            return Ok(None);
        }
        let if_not_exists = t.if_exists(true)?;
        AccountStatement::CreateUser {
            if_not_exists,
            users: t.users_with_auth()?,
        }
    } else if t.keyword("DROP") {
        if !t.keyword("USER") {
            return Ok(None);
        }
        let if_exists = t.if_exists(false)?;
        AccountStatement::DropUser {
            if_exists,
            users: t.user_names()?,
        }
    } else if t.keyword("ALTER") {
        if !t.keyword("USER") {
            return Ok(None);
        }
        let if_exists = t.if_exists(false)?;
        AccountStatement::AlterUser {
            if_exists,
            users: t.users_with_auth()?,
        }
    } else if t.keyword("SET") {
        if !t.keyword("PASSWORD") {
            return Ok(None);
        }
        let user = if t.keyword("FOR") {
            Some(t.user_name()?)
        } else {
            None
        };
        match t.next() {
            Some(Token::Eq) => {}
            _ => return Err(syntax("SET PASSWORD needs = 'password'")),
        }
        AccountStatement::SetPassword {
            user,
            password: t.string()?,
        }
    } else if t.keyword("SHOW") {
        if !t.keyword("GRANTS") {
            return Ok(None);
        }
        let user = if t.keyword("FOR") {
            let current = matches!(t.peek(), Some(Token::Word(w))
                if w.keyword == Keyword::CURRENT_USER || w.value.eq_ignore_ascii_case("CURRENT_USER"));
            if current {
                t.at += 1;
                if matches!(t.peek(), Some(Token::LParen)) {
                    t.at += 1;
                    match t.next() {
                        Some(Token::RParen) => {}
                        _ => return Err(syntax("expected ) after CURRENT_USER(")),
                    }
                }
                None
            } else {
                Some(t.user_name()?)
            }
        } else {
            None
        };
        AccountStatement::ShowGrants { user }
    } else if t.keyword("SHUTDOWN") {
        AccountStatement::Shutdown
    } else if t.keyword("GRANT") {
        AccountStatement::Grant(t.grant(false)?)
    } else if t.keyword("REVOKE") {
        AccountStatement::Grant(t.grant(true)?)
    } else {
        return Ok(None);
    };
    if !t.done() {
        t.expect_end()?;
    }
    Ok(Some(statement))
}

/// Rows of a system query, each value as text (NULL as None).
#[derive(Default)]
struct Collect {
    rows: Vec<Vec<Option<String>>>,
    affected: u64,
}

impl ResultSink for Collect {
    fn columns(&mut self, _: &[ColumnDefinition<'_>]) -> std::result::Result<(), SqlError> {
        Ok(())
    }

    fn row(&mut self, values: &[Wire<'_>]) -> std::result::Result<(), SqlError> {
        self.rows.push(
            values
                .iter()
                .map(|v| match v {
                    Wire::Null => None,
                    Wire::Int(i) => Some(i.to_string()),
                    Wire::UInt(u) => Some(u.to_string()),
                    Wire::Bytes(b) | Wire::Decimal(b) => Some(String::from_utf8_lossy(b).into()),
                    other => Some(format!("{other:?}")),
                })
                .collect(),
        );
        Ok(())
    }

    fn done(&mut self, summary: &Summary<'_>) -> std::result::Result<(), SqlError> {
        self.affected += summary.affected_rows;
        Ok(())
    }
}

/// A session the server runs for itself: every privilege, connection id 0.
fn system_session(db: &Arc<Database>) -> SqlSession {
    let mut session = SqlSession::new(Arc::clone(db), 0, "floe.system", Interrupt::new());
    session.system = true;
    session
}

impl SqlSession {
    /// Runs SQL as the system, returning its rows.
    fn system_sql(&mut self, sql: &str) -> Result<Collect> {
        let mut sink = Collect::default();
        self.execute(sql, false, &mut sink)?;
        Ok(sink)
    }
}

const USER_TABLE: &str = "CREATE TABLE IF NOT EXISTS mysql.user (\
    Host VARCHAR(255) NOT NULL, \
    User VARCHAR(32) NOT NULL, \
    plugin VARCHAR(64) NOT NULL DEFAULT 'caching_sha2_password', \
    authentication_string TEXT NOT NULL, \
    Privileges VARCHAR(255) NOT NULL DEFAULT 'USAGE', \
    Grant_priv CHAR(1) NOT NULL DEFAULT 'N', \
    PRIMARY KEY (Host, User))";

const DB_TABLE: &str = "CREATE TABLE IF NOT EXISTS mysql.db (\
    Host VARCHAR(255) NOT NULL, \
    Db VARCHAR(64) NOT NULL, \
    User VARCHAR(32) NOT NULL, \
    Privileges VARCHAR(255) NOT NULL DEFAULT 'USAGE', \
    Grant_priv CHAR(1) NOT NULL DEFAULT 'N', \
    PRIMARY KEY (Host, Db, User))";

/// Creates the account tables and `'root'@'%'` (with every privilege and
/// no password yet: nobody can log in as it until
/// `Database::set_root_password`) when missing, then loads the ACL.
pub(crate) fn bootstrap(db: &Arc<Database>) -> Result<()> {
    let mut system = system_session(db);
    system.system_sql("CREATE DATABASE IF NOT EXISTS mysql")?;
    system.system_sql(USER_TABLE)?;
    system.system_sql(DB_TABLE)?;
    let _accounts = db.accounts_lock();
    let users = system.system_sql("SELECT COUNT(*) FROM mysql.user")?;
    if users
        .rows
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .as_deref()
        == Some("0")
    {
        system.system_sql(&format!(
            "INSERT INTO mysql.user (Host, User, plugin, authentication_string, Privileges, Grant_priv) \
             VALUES ('%', 'root', {}, '', 'ALL PRIVILEGES', 'Y')",
            quote_text(acl::CACHING_SHA2_PASSWORD)
        ))?;
        log::info!("sql: created account 'root'@'%' (no password yet)");
    }
    reload(db, &mut system)
}

/// Reads the account tables into a fresh `Acl`.
fn reload(db: &Database, system: &mut SqlSession) -> Result<()> {
    let users = system.system_sql(
        "SELECT Host, User, plugin, authentication_string, Privileges, Grant_priv FROM mysql.user",
    )?;
    let mut accounts = Vec::new();
    for row in users.rows {
        let text = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        let privileges = text(4);
        accounts.push(Account {
            host: text(0),
            user: text(1),
            plugin: text(2),
            authentication_string: text(3),
            global: Privileges::parse(&privileges, true).unwrap_or_else(|| {
                log::warn!(
                    "mysql.user: unreadable Privileges '{privileges}' for '{}'@'{}': none granted",
                    text(1),
                    text(0)
                );
                Privileges::NONE
            }),
            grant_option: text(5).eq_ignore_ascii_case("Y"),
        });
    }
    let grants =
        system.system_sql("SELECT Host, Db, User, Privileges, Grant_priv FROM mysql.db")?;
    let mut db_grants = Vec::new();
    for row in grants.rows {
        let text = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        let privileges = text(3);
        db_grants.push(DbGrant {
            host: text(0),
            db: normalize_name(&text(1)),
            user: text(2),
            privileges: Privileges::parse(&privileges, false).unwrap_or_else(|| {
                log::warn!(
                    "mysql.db: unreadable Privileges '{privileges}' for '{}'@'{}': none granted",
                    text(2),
                    text(0)
                );
                Privileges::NONE
            }),
            grant_option: text(4).eq_ignore_ascii_case("Y"),
        });
    }
    db.set_acl(Acl::new(accounts, db_grants));
    Ok(())
}

fn operation_failed(operation: &str, users: &[&UserName]) -> StatementError {
    let names: Vec<String> = users.iter().map(|u| u.to_string()).collect();
    StatementError::Server(SqlError {
        code: 1396,
        sql_state: *b"HY000",
        message: format!("Operation {operation} failed for {}", names.join(",")),
    })
}

fn denied_global(privilege: &str) -> StatementError {
    StatementError::Server(SqlError {
        code: 1227,
        sql_state: *b"42000",
        message: format!(
            "Access denied; you need (at least one of) the {privilege} privilege(s) for this operation"
        ),
    })
}

/// The stored (plugin, authentication_string) for an `IDENTIFIED` clause.
fn stored_auth(auth: Option<&Auth>, current_plugin: Option<&str>) -> Result<(String, String)> {
    let plugin = auth
        .and_then(|a| a.plugin.clone())
        .or_else(|| current_plugin.map(str::to_string))
        .unwrap_or_else(|| acl::CACHING_SHA2_PASSWORD.to_string());
    if plugin != acl::NATIVE_PASSWORD && plugin != acl::CACHING_SHA2_PASSWORD {
        return Err(StatementError::Server(SqlError {
            code: 1524,
            sql_state: *b"HY000",
            message: format!("Plugin '{plugin}' is not loaded"),
        }));
    }
    let stored = match auth.and_then(|a| a.secret.as_ref()) {
        None => String::new(),
        Some(Secret::Password(password)) => {
            acl::authentication_string(&plugin, password).unwrap_or_default()
        }
        Some(Secret::Stored(stored)) => {
            if !stored.is_empty() && acl::credential(&plugin, stored).is_none() {
                return Err(StatementError::Server(SqlError {
                    code: 1827,
                    sql_state: *b"HY000",
                    message: format!(
                        "The password hash doesn't have the expected format for {plugin}"
                    ),
                }));
            }
            stored.clone()
        }
    };
    Ok((plugin, stored))
}

impl SqlSession {
    /// This session's account is `'user'@'host'` (the host pattern that
    /// matched at login).
    pub fn set_account_host(&mut self, host: &str) {
        self.account_host = host.to_string();
        self.grants = None;
    }

    /// The grants in force for this statement (re-read when the ACL
    /// changed since the last statement).
    pub(super) fn refresh_grants(&mut self) {
        if self.system {
            return;
        }
        let version = self.db.acl_version();
        if self.grants.as_ref().is_none_or(|(v, _)| *v != version) {
            let grants = self.db.acl().grants(&self.user, &self.account_host);
            self.grants = Some((version, grants));
        }
    }

    pub(super) fn current_grants(&self) -> Grants {
        if self.system {
            return Grants::system();
        }
        self.grants
            .as_ref()
            .map(|(_, g)| g.clone())
            .unwrap_or_default()
    }

    fn all_global(&self) -> bool {
        self.system
            || self
                .grants
                .as_ref()
                .is_some_and(|(_, g)| g.global == Privileges::all(true))
    }

    fn grants_on(&self, db: &str) -> Privileges {
        if self.all_global() {
            return Privileges::all(true);
        }
        self.grants
            .as_ref()
            .map_or(Privileges::NONE, |(_, g)| g.on_database(db))
    }

    pub(super) fn account_text(&self) -> String {
        format!("'{}'@'{}'", self.user, self.account_host)
    }

    /// `privilege` on table `schema.table` (1142 if missing).
    pub(super) fn require_table(
        &self,
        privilege: Privileges,
        schema: &str,
        table: &str,
    ) -> Result<()> {
        if self.grants_on(schema).contains(privilege) {
            return Ok(());
        }
        Err(StatementError::Server(SqlError {
            code: 1142,
            sql_state: *b"42000",
            message: format!(
                "{} command denied to user {} for table '{table}'",
                privilege.first_name(),
                self.account_text()
            ),
        }))
    }

    /// `privilege` on database `schema` (1044 if missing).
    pub(super) fn require_database(&self, privilege: Privileges, schema: &str) -> Result<()> {
        let held = self.grants_on(schema);
        if (privilege.is_empty() && !held.is_empty())
            || (!privilege.is_empty() && held.contains(privilege))
        {
            return Ok(());
        }
        Err(StatementError::Server(SqlError {
            code: 1044,
            sql_state: *b"42000",
            message: format!(
                "Access denied for user {} to database '{schema}'",
                self.account_text()
            ),
        }))
    }

    /// Whether this session may see database `schema` at all.
    pub(super) fn sees_database(&self, schema: &str) -> bool {
        !self.grants_on(schema).is_empty()
    }

    /// A global privilege (1227 if missing).
    pub(super) fn require_global(&self, privilege: Privileges) -> Result<()> {
        if self.all_global()
            || self
                .grants
                .as_ref()
                .is_some_and(|(_, g)| g.global.contains(privilege))
        {
            Ok(())
        } else {
            Err(denied_global(privilege.first_name()))
        }
    }

    /// Checks the statement's own target(s) against the statement's
    /// privilege and records them, so that name resolution asks only for
    /// SELECT on everything else.
    pub(super) fn authorize(&mut self, statement: &Statement) -> Result<()> {
        self.refresh_grants();
        self.authorized.clear();
        if self.all_global() {
            return Ok(());
        }
        let mut targets: Vec<(&ast::ObjectName, Privileges)> = Vec::new();
        match statement {
            Statement::Insert(insert) => {
                if let ast::TableObject::TableName(name) = &insert.table {
                    targets.push((name, Privileges::INSERT));
                    // REPLACE deletes what it replaces; ON DUPLICATE KEY
                    // UPDATE updates.
                    if insert.replace_into {
                        targets.push((name, Privileges::DELETE));
                    }
                    if insert.on.is_some() {
                        targets.push((name, Privileges::UPDATE));
                    }
                }
            }
            Statement::Update(update) => {
                if let ast::TableFactor::Table { name, .. } = &update.table.relation {
                    targets.push((name, Privileges::UPDATE));
                }
            }
            Statement::Delete(delete) => {
                let from = match &delete.from {
                    ast::FromTable::WithFromKeyword(t) | ast::FromTable::WithoutKeyword(t) => t,
                };
                for name in &delete.tables {
                    targets.push((name, Privileges::DELETE));
                }
                if delete.tables.is_empty() {
                    for table in from {
                        if let ast::TableFactor::Table { name, .. } = &table.relation {
                            targets.push((name, Privileges::DELETE));
                        }
                    }
                }
            }
            Statement::CreateTable(create) => targets.push((&create.name, Privileges::CREATE)),
            Statement::CreateIndex(create) => targets.push((&create.table_name, Privileges::INDEX)),
            Statement::AlterTable(alter) => targets.push((&alter.name, Privileges::ALTER)),
            Statement::Truncate(truncate) => {
                for target in &truncate.table_names {
                    targets.push((&target.name, Privileges::DROP));
                }
            }
            Statement::CreateView(view) => targets.push((&view.name, Privileges::CREATE_VIEW)),
            Statement::Drop {
                object_type: ast::ObjectType::Index,
                table: Some(table),
                ..
            } => targets.push((table, Privileges::INDEX)),
            Statement::Drop {
                object_type, names, ..
            } => match object_type {
                ast::ObjectType::Schema | ast::ObjectType::Database => {
                    for name in names {
                        let schema = normalize_name(&ident_name(name)?.join("."));
                        self.require_database(Privileges::DROP, &schema)?;
                    }
                }
                _ => {
                    for name in names {
                        targets.push((name, Privileges::DROP));
                    }
                }
            },
            Statement::CreateDatabase { db_name, .. } => {
                let schema = normalize_name(&ident_name(db_name)?.join("."));
                self.require_database(Privileges::CREATE, &schema)?;
            }
            Statement::Flush { .. } => self.require_global(Privileges::RELOAD)?,
            _ => {}
        }
        for (name, privilege) in targets {
            let (schema, table) = self.schema_and_table_unchecked(name)?;
            self.require_table(privilege, &schema, &table)?;
            self.authorized.push((schema, table));
        }
        Ok(())
    }

    /// Name resolution's check: a table that is not the statement's
    /// target needs SELECT.
    pub(super) fn authorize_read(&self, schema: &str, table: &str) -> Result<()> {
        if self.all_global()
            || self
                .authorized
                .iter()
                .any(|(s, t)| s == schema && t == table)
        {
            return Ok(());
        }
        self.require_table(Privileges::SELECT, schema, table)
    }

    /// Runs an account statement.
    pub(super) fn account_statement(
        &mut self,
        statement: AccountStatement,
        sink: &mut dyn ResultSink,
    ) -> Result<()> {
        self.warnings.clear();
        self.refresh_grants();
        match statement {
            AccountStatement::ShowGrants { user } => return self.show_grants(user, sink),
            AccountStatement::Grant(grant) => {
                self.commit_open()?;
                self.grant(grant)?;
            }
            AccountStatement::Shutdown => {
                self.require_global(Privileges::SHUTDOWN)?;
                self.commit_open()?;
                self.db.request_shutdown()?;
            }
            other => {
                self.commit_open()?;
                self.change_accounts(other)?;
            }
        }
        self.finish_ok(sink, 0)
    }

    fn finish_ok(&mut self, sink: &mut dyn ResultSink, affected_rows: u64) -> Result<()> {
        sink.done(&Summary {
            affected_rows,
            status: self.status_flags(),
            warning_count: u16::try_from(self.warnings.total_count()).unwrap_or(u16::MAX),
            ..Summary::default()
        })?;
        Ok(())
    }

    fn is_self(&self, user: &UserName) -> bool {
        user.user == self.user && user.host.eq_ignore_ascii_case(&self.account_host)
    }

    /// CREATE / DROP / ALTER USER, SET PASSWORD: one system transaction,
    /// then the ACL is rebuilt.
    fn change_accounts(&mut self, statement: AccountStatement) -> Result<()> {
        let own_password_only = match &statement {
            AccountStatement::SetPassword { user, .. } => {
                user.as_ref().is_none_or(|u| self.is_self(u))
            }
            AccountStatement::AlterUser { users, .. } => {
                users.len() == 1 && users.iter().all(|(u, _)| self.is_self(u))
            }
            _ => false,
        };
        if !own_password_only {
            self.require_global(Privileges::CREATE_USER)?;
        }
        let db = Arc::clone(&self.db);
        let _accounts = db.accounts_lock();
        let acl = db.acl();
        let mut system = system_session(&db);
        system.system_sql("BEGIN")?;
        let mut warnings = Vec::new();
        match statement {
            AccountStatement::CreateUser {
                if_not_exists,
                users,
            } => {
                let existing: Vec<&UserName> = users
                    .iter()
                    .map(|(u, _)| u)
                    .filter(|u| acl.account(&u.user, &u.host).is_some())
                    .collect();
                if !existing.is_empty() && !if_not_exists {
                    return Err(operation_failed("CREATE USER", &existing));
                }
                for (user, auth) in &users {
                    if existing.contains(&user) {
                        warnings.push((3163, format!("Authorization ID {user} already exists.")));
                        continue;
                    }
                    let (plugin, stored) = stored_auth(auth.as_ref(), None)?;
                    system.system_sql(&format!(
                        "INSERT INTO mysql.user (Host, User, plugin, authentication_string, Privileges, Grant_priv) \
                         VALUES ({}, {}, {}, {}, 'USAGE', 'N')",
                        quote_text(&user.host),
                        quote_text(&user.user),
                        quote_text(&plugin),
                        quote_text(&stored)
                    ))?;
                }
            }
            AccountStatement::DropUser { if_exists, users } => {
                let missing: Vec<&UserName> = users
                    .iter()
                    .filter(|u| acl.account(&u.user, &u.host).is_none())
                    .collect();
                if !missing.is_empty() && !if_exists {
                    return Err(operation_failed("DROP USER", &missing));
                }
                for user in &users {
                    if missing.contains(&user) {
                        warnings.push((3162, format!("Authorization ID {user} does not exist.")));
                        continue;
                    }
                    let key = format!(
                        "Host = {} AND User = {}",
                        quote_text(&user.host),
                        quote_text(&user.user)
                    );
                    system.system_sql(&format!("DELETE FROM mysql.user WHERE {key}"))?;
                    system.system_sql(&format!("DELETE FROM mysql.db WHERE {key}"))?;
                }
            }
            AccountStatement::AlterUser { if_exists, users } => {
                let missing: Vec<&UserName> = users
                    .iter()
                    .map(|(u, _)| u)
                    .filter(|u| acl.account(&u.user, &u.host).is_none())
                    .collect();
                if !missing.is_empty() && !if_exists {
                    return Err(operation_failed("ALTER USER", &missing));
                }
                for (user, auth) in &users {
                    let Some(account) = acl.account(&user.user, &user.host) else {
                        warnings.push((3162, format!("Authorization ID {user} does not exist.")));
                        continue;
                    };
                    if auth.is_none() {
                        continue;
                    }
                    let (plugin, stored) = stored_auth(auth.as_ref(), Some(&account.plugin))?;
                    self.store_secret(&mut system, user, &plugin, &stored)?;
                }
            }
            AccountStatement::SetPassword { user, password } => {
                let user = user.unwrap_or_else(|| UserName {
                    user: self.user.clone(),
                    host: self.account_host.clone(),
                });
                let Some(account) = acl.account(&user.user, &user.host) else {
                    return Err(StatementError::Server(SqlError {
                        code: 1133,
                        sql_state: *b"28000",
                        message: "Can't find any matching row in the user table".into(),
                    }));
                };
                let auth = Auth {
                    plugin: None,
                    secret: Some(Secret::Password(password)),
                };
                let (plugin, stored) = stored_auth(Some(&auth), Some(&account.plugin))?;
                self.store_secret(&mut system, &user, &plugin, &stored)?;
            }
            AccountStatement::ShowGrants { .. }
            | AccountStatement::Shutdown
            | AccountStatement::Grant(_) => {}
        }
        system.system_sql("COMMIT")?;
        reload(&db, &mut system)?;
        for (code, message) in warnings {
            self.warnings.push(code, message);
        }
        Ok(())
    }

    fn store_secret(
        &self,
        system: &mut SqlSession,
        user: &UserName,
        plugin: &str,
        stored: &str,
    ) -> Result<()> {
        system.system_sql(&format!(
            "UPDATE mysql.user SET plugin = {}, authentication_string = {} WHERE Host = {} AND User = {}",
            quote_text(plugin),
            quote_text(stored),
            quote_text(&user.host),
            quote_text(&user.user)
        ))?;
        Ok(())
    }

    /// GRANT / REVOKE of global or database privileges.
    fn grant(&mut self, statement: GrantStatement) -> Result<()> {
        let GrantStatement {
            revoke,
            privileges,
            grant_option: with_grant_option,
            level,
            users,
        } = statement;
        let database = match level {
            None => None,
            Some(Some(db)) => Some(db),
            Some(None) => Some(
                self.database
                    .clone()
                    .ok_or(StatementError::NoDatabaseSelected)?,
            ),
        };
        let global = database.is_none();
        let wanted = privileges.unwrap_or_else(|| Privileges::all(global));
        if !global && !wanted.global_only().is_empty() {
            return Err(StatementError::Server(SqlError {
                code: 1221,
                sql_state: *b"HY000",
                message: "Incorrect usage of DB GRANT and GLOBAL PRIVILEGES".into(),
            }));
        }
        // Granting needs GRANT OPTION and the privileges themselves, or
        // CREATE USER (MySQL lets the latter manage accounts, not grant;
        // Floe keeps one administrator privilege).
        let held = match &database {
            None => self.current_grants().global,
            Some(db) => self.grants_on(db),
        };
        let may = self.all_global()
            || self.require_global(Privileges::CREATE_USER).is_ok()
            || (self.current_grants().grant_option && held.contains(wanted));
        if !may {
            return Err(match &database {
                Some(db) => StatementError::Server(SqlError {
                    code: 1044,
                    sql_state: *b"42000",
                    message: format!(
                        "Access denied for user {} to database '{db}'",
                        self.account_text()
                    ),
                }),
                None => denied_global("GRANT OPTION"),
            });
        }
        self.commit_open()?;
        let db = Arc::clone(&self.db);
        let _accounts = db.accounts_lock();
        let acl = db.acl();
        let mut system = system_session(&db);
        system.system_sql("BEGIN")?;
        for user in &users {
            let Some(account) = acl.account(&user.user, &user.host) else {
                return Err(StatementError::Server(if revoke {
                    SqlError {
                        code: 1141,
                        sql_state: *b"42000",
                        message: format!(
                            "There is no such grant defined for user '{}' on host '{}'",
                            user.user, user.host
                        ),
                    }
                } else {
                    SqlError {
                        code: 1410,
                        sql_state: *b"42000",
                        message: "You are not allowed to create a user with GRANT".into(),
                    }
                }));
            };
            let key = format!(
                "Host = {} AND User = {}",
                quote_text(&user.host),
                quote_text(&user.user)
            );
            match &database {
                None => {
                    let (privileges, grant_option) = if revoke {
                        (
                            account.global.minus(wanted),
                            account.grant_option && !with_grant_option && privileges.is_some(),
                        )
                    } else {
                        (
                            account.global.union(wanted),
                            account.grant_option || with_grant_option,
                        )
                    };
                    system.system_sql(&format!(
                        "UPDATE mysql.user SET Privileges = {}, Grant_priv = {} WHERE {key}",
                        quote_text(&privileges.to_text(true)),
                        quote_text(if grant_option { "Y" } else { "N" })
                    ))?;
                }
                Some(name) => {
                    let existing = acl
                        .db_grants(&user.user, &user.host)
                        .find(|g| &g.db == name);
                    let current = existing.map_or(Privileges::NONE, |g| g.privileges);
                    let grant_option = existing.is_some_and(|g| g.grant_option);
                    if revoke && existing.is_none() {
                        return Err(StatementError::Server(SqlError {
                            code: 1141,
                            sql_state: *b"42000",
                            message: format!(
                                "There is no such grant defined for user '{}' on host '{}'",
                                user.user, user.host
                            ),
                        }));
                    }
                    let (privileges, grant_option) = if revoke {
                        (
                            current.minus(wanted),
                            grant_option && !with_grant_option && privileges.is_some(),
                        )
                    } else {
                        (current.union(wanted), grant_option || with_grant_option)
                    };
                    let db_key = format!("{key} AND Db = {}", quote_text(name));
                    if existing.is_some() {
                        if privileges.is_empty() && !grant_option {
                            system.system_sql(&format!("DELETE FROM mysql.db WHERE {db_key}"))?;
                        } else {
                            system.system_sql(&format!(
                                "UPDATE mysql.db SET Privileges = {}, Grant_priv = {} WHERE {db_key}",
                                quote_text(&privileges.to_text(false)),
                                quote_text(if grant_option { "Y" } else { "N" })
                            ))?;
                        }
                    } else {
                        system.system_sql(&format!(
                            "INSERT INTO mysql.db (Host, Db, User, Privileges, Grant_priv) VALUES ({}, {}, {}, {}, {})",
                            quote_text(&user.host),
                            quote_text(name),
                            quote_text(&user.user),
                            quote_text(&privileges.to_text(false)),
                            quote_text(if grant_option { "Y" } else { "N" })
                        ))?;
                    }
                }
            }
        }
        system.system_sql("COMMIT")?;
        reload(&db, &mut system)
    }

    /// FLUSH PRIVILEGES: re-read the account tables.
    pub(super) fn flush_privileges(&mut self) -> Result<()> {
        self.require_global(Privileges::RELOAD)?;
        let db = Arc::clone(&self.db);
        let _accounts = db.accounts_lock();
        let mut system = system_session(&db);
        reload(&db, &mut system)
    }

    fn show_grants(&mut self, user: Option<UserName>, sink: &mut dyn ResultSink) -> Result<()> {
        let user = match user {
            Some(user) if !self.is_self(&user) => {
                self.require_table(Privileges::SELECT, "mysql", "user")?;
                user
            }
            _ => UserName {
                user: self.user.clone(),
                host: self.account_host.clone(),
            },
        };
        let acl = self.db.acl();
        let Some(account) = acl.account(&user.user, &user.host) else {
            return Err(StatementError::Server(SqlError {
                code: 1141,
                sql_state: *b"42000",
                message: format!(
                    "There is no such grant defined for user '{}' on host '{}'",
                    user.user, user.host
                ),
            }));
        };
        let to = format!("`{}`@`{}`", user.user, user.host);
        let option = |g: bool| if g { " WITH GRANT OPTION" } else { "" };
        let mut rows = vec![vec![format!(
            "GRANT {} ON *.* TO {to}{}",
            account.global.to_text(true),
            option(account.grant_option)
        )]];
        let mut grants: Vec<&DbGrant> = acl.db_grants(&user.user, &user.host).collect();
        grants.sort_by(|a, b| a.db.cmp(&b.db));
        for grant in grants {
            rows.push(vec![format!(
                "GRANT {} ON `{}`.* TO {to}{}",
                grant.privileges.to_text(false),
                grant.db,
                option(grant.grant_option)
            )]);
        }
        let title = format!("Grants for {}@{}", user.user, user.host);
        self.text_rows(sink, &[title.as_str()], rows)
    }
}

impl Database {
    /// Whether `'root'@'%'` exists and has no password yet (first start).
    pub fn root_password_unset(&self) -> bool {
        self.acl()
            .account("root", "%")
            .is_some_and(|a| a.authentication_string.is_empty())
    }

    /// Whether `password` is root's password (to warn when the configured
    /// one is not the stored one).
    pub fn root_password_is(&self, password: &str) -> bool {
        self.acl().account("root", "%").is_some_and(|a| {
            acl::authentication_string(&a.plugin, password).as_deref()
                == Some(a.authentication_string.as_str())
        })
    }

    /// Sets `'root'@'%'`'s password (caching_sha2_password).
    pub fn set_root_password(self: &Arc<Self>, password: &str) -> Result<()> {
        if password.is_empty() {
            return Err(StatementError::Unsupported("an empty root password".into()));
        }
        let mut system = system_session(self);
        system.account_statement(
            AccountStatement::AlterUser {
                if_exists: false,
                users: vec![(
                    UserName {
                        user: "root".into(),
                        host: "%".into(),
                    },
                    Some(Auth {
                        plugin: Some(acl::CACHING_SHA2_PASSWORD.into()),
                        secret: Some(Secret::Password(password.into())),
                    }),
                )],
            },
            &mut Collect::default(),
        )
    }

    /// The login of `user` from `client_host`: the stored credential and
    /// the matched account's host pattern.
    pub fn login(
        &self,
        user: &str,
        client_host: &str,
    ) -> Option<(floe_server::protocol::StoredCredential, String)> {
        let acl = self.acl();
        let account = acl.find_login(user, client_host)?;
        Some((
            acl::credential(&account.plugin, &account.authentication_string)?,
            account.host.clone(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sql: &str) -> AccountStatement {
        match parse_account_statement(sql) {
            Ok(Some(statement)) => statement,
            other => panic!("{sql}: {other:?}"),
        }
    }

    fn user(user: &str, host: &str) -> UserName {
        UserName {
            user: user.into(),
            host: host.into(),
        }
    }

    #[test]
    fn account_statements_parse_in_mysql_quotings() {
        assert_eq!(
            parse("CREATE USER 'bob'@'%' IDENTIFIED BY 'pw';"),
            AccountStatement::CreateUser {
                if_not_exists: false,
                users: vec![(
                    user("bob", "%"),
                    Some(Auth {
                        plugin: None,
                        secret: Some(Secret::Password("pw".into()))
                    })
                )]
            }
        );
        assert_eq!(
            parse("create user if not exists `al`@`10.0.%` identified with mysql_native_password by \"x\", carol"),
            AccountStatement::CreateUser {
                if_not_exists: true,
                users: vec![
                    (
                        user("al", "10.0.%"),
                        Some(Auth {
                            plugin: Some("mysql_native_password".into()),
                            secret: Some(Secret::Password("x".into()))
                        })
                    ),
                    (user("carol", "%"), None)
                ]
            }
        );
        assert_eq!(
            parse("DROP USER IF EXISTS bob@LocalHost, 'x'"),
            AccountStatement::DropUser {
                if_exists: true,
                users: vec![user("bob", "localhost"), user("x", "%")]
            }
        );
        assert_eq!(
            parse("SET PASSWORD FOR 'bob'@'%' = 'n'"),
            AccountStatement::SetPassword {
                user: Some(user("bob", "%")),
                password: "n".into()
            }
        );
        assert_eq!(
            parse("SHOW GRANTS FOR CURRENT_USER()"),
            AccountStatement::ShowGrants { user: None }
        );
        assert_eq!(parse("shutdown"), AccountStatement::Shutdown);
        assert_eq!(
            parse(
                "GRANT SELECT, create view, SHOW VIEW ON `Shop`.* TO app@'10.%' WITH GRANT OPTION"
            ),
            AccountStatement::Grant(GrantStatement {
                revoke: false,
                privileges: Some(
                    Privileges::SELECT
                        .union(Privileges::CREATE_VIEW)
                        .union(Privileges::by_name("SHOW VIEW").unwrap_or_default())
                ),
                grant_option: true,
                level: Some(Some("shop".into())),
                users: vec![user("app", "10.%")],
            })
        );
        assert_eq!(
            parse("REVOKE ALL PRIVILEGES, GRANT OPTION ON *.* FROM a, b@h"),
            AccountStatement::Grant(GrantStatement {
                revoke: true,
                privileges: None,
                grant_option: true,
                level: None,
                users: vec![user("a", "%"), user("b", "h")],
            })
        );
        for other in [
            "SELECT 1",
            "CREATE TABLE t (a INT)",
            "SET x = 1",
            "SHOW TABLES",
            "DROP TABLE u",
        ] {
            assert!(
                matches!(parse_account_statement(other), Ok(None)),
                "{other}"
            );
        }
        for bad in [
            "CREATE USER",
            "CREATE USER ''@'%'",
            "CREATE USER bob IDENTIFIED",
            "DROP USER bob junk",
            "SET PASSWORD FOR bob 'x'",
            "GRANT FLY ON *.* TO a",
            "GRANT SELECT ON db.t TO a",
            "GRANT SELECT (c) ON db.* TO a",
            "GRANT SELECT ON *.* a",
            "REVOKE SELECT ON *.* TO a",
        ] {
            assert!(parse_account_statement(bad).is_err(), "{bad}");
        }
    }
}
