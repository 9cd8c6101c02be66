//! System variables a session answers for `SELECT @@x`, `SHOW VARIABLES`
//! and `SET`: MySQL's names and the values Floe runs with. A name not in
//! this list is MySQL's 1193. Values a session sets are kept per session;
//! only those with an effect here (autocommit, isolation, lock wait
//! timeout, max_execution_time, time_zone) change behaviour, the rest are remembered
//! for clients that read them back. SET GLOBAL takes max_execution_time
//! and time_zone (new sessions start from them; not persisted, as MySQL's
//! SET GLOBAL) and is refused (1235) for the rest.

/// (name, default as text, numeric?). Sorted by name.
pub const VARIABLES: &[(&str, &str, bool)] = &[
    ("auto_increment_increment", "1", true),
    ("auto_increment_offset", "1", true),
    ("autocommit", "1", true),
    ("character_set_client", "utf8mb4", false),
    ("character_set_connection", "utf8mb4", false),
    ("character_set_database", "utf8mb4", false),
    ("character_set_filesystem", "binary", false),
    ("character_set_results", "utf8mb4", false),
    ("character_set_server", "utf8mb4", false),
    ("character_set_system", "utf8mb3", false),
    ("collation_connection", "utf8mb4_0900_ai_ci", false),
    ("collation_database", "utf8mb4_0900_ai_ci", false),
    ("collation_server", "utf8mb4_0900_ai_ci", false),
    ("cte_max_recursion_depth", "1000", true),
    ("default_storage_engine", "InnoDB", false),
    ("div_precision_increment", "4", true),
    ("foreign_key_checks", "1", true),
    ("group_concat_max_len", "1024", true),
    ("have_ssl", "DISABLED", false),
    ("init_connect", "", false),
    ("innodb_lock_wait_timeout", "50", true),
    ("interactive_timeout", "28800", true),
    ("license", "Apache-2.0", false),
    ("lower_case_table_names", "1", true),
    ("max_allowed_packet", "67108864", true),
    ("max_connections", "151", true),
    ("max_execution_time", "0", true),
    ("net_buffer_length", "16384", true),
    ("net_read_timeout", "30", true),
    ("net_write_timeout", "60", true),
    ("performance_schema", "0", true),
    ("query_cache_size", "0", true),
    ("query_cache_type", "OFF", false),
    ("session_track_gtids", "OFF", false),
    ("sql_auto_is_null", "0", true),
    (
        "sql_mode",
        "STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION",
        false,
    ),
    ("sql_safe_updates", "0", true),
    ("sql_select_limit", "18446744073709551615", true),
    ("storage_engine", "InnoDB", false),
    ("system_time_zone", "UTC", false),
    ("time_zone", "SYSTEM", false),
    ("transaction_isolation", "REPEATABLE-READ", false),
    ("transaction_read_only", "0", true),
    ("tx_isolation", "REPEATABLE-READ", false),
    ("tx_read_only", "0", true),
    ("unique_checks", "1", true),
    ("version", "8.0.36-floe", false),
    ("version_comment", "Floe", false),
    ("version_compile_machine", "x86_64", false),
    ("version_compile_os", "Linux", false),
    ("wait_timeout", "28800", true),
];

/// The variables SET GLOBAL takes.
pub const GLOBAL_VARIABLES: &[&str] = &["max_execution_time", "time_zone"];

/// The entry for `name` (lower case), if MySQL's name is known here.
pub fn lookup(name: &str) -> Option<(&'static str, &'static str, bool)> {
    VARIABLES
        .binary_search_by(|(known, _, _)| known.cmp(&name))
        .ok()
        .and_then(|i| VARIABLES.get(i).copied())
}

/// `READ-COMMITTED` and friends, as `transaction_isolation` spells them.
pub fn isolation_name(isolation: floe_storage::trx::Isolation) -> &'static str {
    match isolation {
        floe_storage::trx::Isolation::ReadCommitted => "READ-COMMITTED",
        floe_storage::trx::Isolation::RepeatableRead => "REPEATABLE-READ",
    }
}

/// Parses an isolation level name; READ UNCOMMITTED runs as READ
/// COMMITTED and SERIALIZABLE as REPEATABLE READ (the storage engine has
/// those two).
pub fn parse_isolation(text: &str) -> Option<floe_storage::trx::Isolation> {
    use floe_storage::trx::Isolation;
    match text.to_ascii_uppercase().replace(' ', "-").as_str() {
        "READ-COMMITTED" | "READ-UNCOMMITTED" => Some(Isolation::ReadCommitted),
        "REPEATABLE-READ" | "SERIALIZABLE" => Some(Isolation::RepeatableRead),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The table is sorted (lookup is a binary search) and finds what
    // clients ask for on connect.
    #[test]
    fn sorted_and_found() {
        assert!(VARIABLES.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(lookup("version_comment").map(|v| v.1), Some("Floe"));
        assert!(lookup("no_such_variable").is_none());
        assert_eq!(
            parse_isolation("read committed"),
            Some(floe_storage::trx::Isolation::ReadCommitted)
        );
    }
}
