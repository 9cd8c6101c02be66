//! `Database`: what all sessions share. The transaction system (and the
//! engine under it), the dictionary, and the catalog cache: every table's
//! SQL metadata and open storage handle, loaded at open and changed by DDL.
//!
//! DDL is serialised by one mutex and is not transactional: the dictionary
//! makes each change durable at once (the session commits its open
//! transaction first, as MySQL's implicit commit does).

use std::collections::HashMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use floe_rt::sync::{Mutex, MutexGuard, RwLock};
use floe_storage::btr::tree::{Direction, Tree};
use floe_storage::dict::{DictError, Dictionary, NewTable, TableDef};
use floe_storage::srv::Engine;
use floe_storage::trx::{Isolation, LockRead, TrxConfig, TrxSystem};

use super::error::{trx_error, StatementError};
use crate::acl::Acl;
use crate::catalog::{decode_view, encode_view_options, TableMeta, ViewMeta};
use crate::row;

fn dict_error(error: DictError) -> StatementError {
    match error {
        DictError::SchemaExists { schema } => StatementError::DatabaseExists(schema),
        DictError::NoSuchSchema { schema } => StatementError::NoSuchDatabase(schema),
        DictError::TableExists { table, .. } => StatementError::TableExists(table),
        DictError::NoSuchTable { schema, table } => StatementError::NoSuchTable { schema, table },
        other => StatementError::Storage(other.to_string()),
    }
}

/// MySQL's lower_case_table_names=1: schema and table names are stored and
/// compared in lower case.
pub fn normalize_name(name: &str) -> String {
    name.to_lowercase()
}

/// What an ALTER's change made: the new definition, the trees it built
/// (freed if the ALTER fails), and the old trees it no longer uses (freed
/// once the new definition is durable).
pub struct Altered {
    pub def: TableDef,
    pub new_trees: Vec<Tree>,
    pub old_trees: Vec<Tree>,
    /// TRUNCATE starts AUTO_INCREMENT over.
    pub reset_auto_increment: bool,
}

impl Altered {
    /// Nothing changes (IF [NOT] EXISTS found what it looked for): the
    /// same definition, no trees.
    pub fn unchanged(meta: &TableMeta) -> Altered {
        Altered {
            def: meta.def.clone(),
            new_trees: Vec::new(),
            old_trees: Vec::new(),
            reset_auto_increment: false,
        }
    }
}

/// The names under `schema` in a map keyed by (schema, name), sorted.
fn names_in<T>(map: &RwLock<HashMap<(String, String), T>>, schema: &str) -> Vec<String> {
    let mut names: Vec<String> = map
        .read()
        .keys()
        .filter(|(s, _)| s == schema)
        .map(|(_, name)| name.clone())
        .collect();
    names.sort();
    names
}

pub struct Database {
    sys: Arc<TrxSystem>,
    dictionary: Dictionary,
    tables: RwLock<HashMap<(String, String), Arc<TableMeta>>>,
    views: RwLock<HashMap<(String, String), Arc<ViewMeta>>>,
    ddl: Mutex<()>,
    /// Accounts and grants as last read from `mysql.user` / `mysql.db`.
    acl: RwLock<Arc<Acl>>,
    /// Bumped at every change of `acl`: sessions compare it per statement.
    acl_version: AtomicU64,
    /// Serialises account statements (read, change, reload).
    accounts: Mutex<()>,
    /// What SHUTDOWN calls: the hosting process's orderly stop.
    shutdown_hook: Mutex<Option<ShutdownHook>>,
    started: std::time::Instant,
    /// SET GLOBAL values (of `vars::GLOBAL_VARIABLES`): each new session
    /// starts from them. Kept in memory, as MySQL keeps SET GLOBAL (SET
    /// PERSIST is what outlives a restart there).
    global_variables: RwLock<HashMap<String, crate::value::Value>>,
}

/// Asks the hosting process to stop (SQL `SHUTDOWN`).
pub type ShutdownHook = Box<dyn Fn() + Send + Sync>;

impl Database {
    /// The SET GLOBAL value of `name`, if one was set.
    pub fn global_variable(&self, name: &str) -> Option<crate::value::Value> {
        self.global_variables.read().get(name).cloned()
    }

    /// Every SET GLOBAL value, for a new session to start from.
    pub(super) fn global_variables(&self) -> Vec<(String, crate::value::Value)> {
        self.global_variables
            .read()
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect()
    }

    /// SET GLOBAL `name` (None: back to the default).
    pub(super) fn set_global_variable(&self, name: &str, value: Option<crate::value::Value>) {
        let mut globals = self.global_variables.write();
        match value {
            Some(value) => globals.insert(name.to_string(), value),
            None => globals.remove(name),
        };
    }

    /// Takes over an open engine: transactions (rolling back what a crash
    /// left open), the dictionary, and every table's metadata.
    pub fn open(engine: Engine, config: TrxConfig) -> Result<Arc<Database>, StatementError> {
        let sys = TrxSystem::open(engine, config).map_err(trx_error)?;
        let dictionary =
            Dictionary::open(sys.engine()).map_err(|e| StatementError::Storage(e.to_string()))?;
        let database = Database {
            sys,
            dictionary,
            tables: RwLock::new(HashMap::new()),
            views: RwLock::new(HashMap::new()),
            ddl: Mutex::new(()),
            acl: RwLock::new(Arc::new(Acl::default())),
            acl_version: AtomicU64::new(0),
            accounts: Mutex::new(()),
            shutdown_hook: Mutex::new(None),
            started: std::time::Instant::now(),
            global_variables: RwLock::new(HashMap::new()),
        };
        let mut tables = HashMap::new();
        let mut views = HashMap::new();
        for schema in database
            .dictionary
            .schemas(database.sys.engine())
            .map_err(dict_error)?
        {
            for def in database
                .dictionary
                .tables(database.sys.engine(), &schema)
                .map_err(dict_error)?
            {
                if let Some(view) = decode_view(&def) {
                    let view = view.map_err(|e| StatementError::Storage(e.to_string()))?;
                    views.insert((view.schema.clone(), view.name.clone()), Arc::new(view));
                    continue;
                }
                let meta = database.load(def)?;
                tables.insert((meta.schema.clone(), meta.name.clone()), meta);
            }
        }
        log::info!("sql: {} tables loaded", tables.len());
        *database.tables.write() = tables;
        *database.views.write() = views;
        let database = Arc::new(database);
        super::users::bootstrap(&database)?;
        Ok(database)
    }

    /// The accounts and grants in force.
    pub fn acl(&self) -> Arc<Acl> {
        Arc::clone(&self.acl.read())
    }

    pub(crate) fn acl_version(&self) -> u64 {
        self.acl_version.load(Ordering::Acquire)
    }

    pub(crate) fn set_acl(&self, acl: Acl) {
        *self.acl.write() = Arc::new(acl);
        self.acl_version.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn accounts_lock(&self) -> MutexGuard<'_, ()> {
        self.accounts.lock()
    }

    /// Seconds since open (SHOW STATUS' Uptime).
    pub fn uptime_s(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Where SQL `SHUTDOWN` leads (set by whoever hosts the server).
    pub fn set_shutdown_hook(&self, hook: ShutdownHook) {
        *self.shutdown_hook.lock() = Some(hook);
    }

    pub(crate) fn request_shutdown(&self) -> Result<(), StatementError> {
        match &*self.shutdown_hook.lock() {
            Some(hook) => {
                log::info!("sql: SHUTDOWN requested");
                hook();
                Ok(())
            }
            None => Err(StatementError::Unsupported(
                "SHUTDOWN: this server was started without a way to stop it from SQL".into(),
            )),
        }
    }

    /// Opens a table's metadata and sets its counters past the largest
    /// committed value.
    fn load(&self, def: TableDef) -> Result<Arc<TableMeta>, StatementError> {
        let meta =
            TableMeta::open(&self.sys, def).map_err(|e| StatementError::Storage(e.to_string()))?;
        let counter_column = if meta.hidden_row_id {
            Some(0)
        } else {
            meta.auto_increment_column
        };
        if let Some(column) = counter_column {
            let index = meta
                .indexes
                .iter()
                .position(|i| i.columns.first() == Some(&column));
            if let Some(index) = index {
                let mut trx = self.sys.begin(Isolation::RepeatableRead, true);
                let mut scan = if index == 0 {
                    meta.table.scan(
                        Bound::Unbounded,
                        Bound::Unbounded,
                        Direction::Backward,
                        LockRead::None,
                    )
                } else {
                    meta.table.scan_index(
                        index - 1,
                        Bound::Unbounded,
                        Bound::Unbounded,
                        Direction::Backward,
                        LockRead::None,
                    )
                };
                if let Some((_, bytes)) = scan.next(&mut trx).map_err(trx_error)? {
                    let values = row::decode(&bytes, &meta.types)
                        .map_err(|e| StatementError::Storage(e.to_string()))?;
                    let largest = match values.get(column) {
                        Some(crate::Value::Int(v)) => u64::try_from(*v).unwrap_or(0),
                        Some(crate::Value::UInt(v)) => *v,
                        _ => 0,
                    };
                    meta.observe_auto_increment(largest);
                }
                drop(scan);
                trx.commit().map_err(trx_error)?;
            }
        }
        Ok(meta)
    }

    pub fn trx_system(&self) -> &Arc<TrxSystem> {
        &self.sys
    }

    pub fn table(&self, schema: &str, table: &str) -> Option<Arc<TableMeta>> {
        self.tables
            .read()
            .get(&(normalize_name(schema), normalize_name(table)))
            .cloned()
    }

    pub fn schema_exists(&self, schema: &str) -> Result<bool, StatementError> {
        self.dictionary
            .schema_exists(self.sys.engine(), &normalize_name(schema))
            .map_err(dict_error)
    }

    pub fn schemas(&self) -> Result<Vec<String>, StatementError> {
        self.dictionary
            .schemas(self.sys.engine())
            .map_err(dict_error)
    }

    /// Table names of `schema`, sorted.
    pub fn table_names(&self, schema: &str) -> Vec<String> {
        names_in(&self.tables, &normalize_name(schema))
    }

    pub fn create_schema(&self, schema: &str) -> Result<(), StatementError> {
        let _ddl = self.ddl.lock();
        self.dictionary
            .create_schema(self.sys.engine(), &normalize_name(schema))
            .map_err(dict_error)
    }

    /// Drops a schema and its tables; returns how many tables went.
    pub fn drop_schema(
        &self,
        schema: &str,
        lock_wait: std::time::Duration,
    ) -> Result<u64, StatementError> {
        let schema = normalize_name(schema);
        if !self.schema_exists(&schema)? {
            return Err(StatementError::DropMissingDatabase(schema));
        }
        let names = self.table_names(&schema);
        for name in &names {
            self.drop_table(&schema, name, lock_wait)?;
        }
        for view in &names_in(&self.views, &schema) {
            self.drop_view(&schema, view)?;
        }
        let _ddl = self.ddl.lock();
        self.dictionary
            .drop_schema(self.sys.engine(), &schema)
            .map_err(dict_error)?;
        Ok(names.len() as u64)
    }

    pub fn create_table(&self, new: NewTable) -> Result<Arc<TableMeta>, StatementError> {
        let _ddl = self.ddl.lock();
        let def = self
            .dictionary
            .create_table(self.sys.engine(), new)
            .map_err(dict_error)?;
        let meta =
            TableMeta::open(&self.sys, def).map_err(|e| StatementError::Storage(e.to_string()))?;
        self.tables
            .write()
            .insert((meta.schema.clone(), meta.name.clone()), Arc::clone(&meta));
        Ok(meta)
    }

    /// Waits (up to `lock_wait`) for transactions using the table to end,
    /// then drops it.
    pub fn drop_table(
        &self,
        schema: &str,
        table: &str,
        lock_wait: std::time::Duration,
    ) -> Result<(), StatementError> {
        let (schema, table) = (normalize_name(schema), normalize_name(table));
        // The DDL mutex first: no ALTER of this table runs meanwhile, so
        // the definition looked up now is the current one.
        let _ddl = self.ddl.lock();
        let Some(meta) = self.table(&schema, &table) else {
            return Err(StatementError::UnknownTable { schema, table });
        };
        if !meta.mdl.acquire_for_drop(lock_wait) {
            return Err(StatementError::LockWaitTimeout);
        }
        // Purge must not reach the trees once their pages are freed.
        let index_ids: Vec<u64> = meta.def.indexes.iter().map(|i| i.index_id).collect();
        self.sys.forget_trees(&index_ids);
        if let Err(e) = self
            .dictionary
            .drop_table(self.sys.engine(), &schema, &table)
        {
            for index in &meta.def.indexes {
                self.sys.register_tree(index.tree());
            }
            meta.mdl.undrop();
            return Err(dict_error(e));
        }
        self.tables.write().remove(&(schema, table));
        Ok(())
    }

    /// ALTERs `schema.table` (blocking, as MySQL's ALGORITHM=COPY with
    /// LOCK=EXCLUSIVE): under the DDL mutex and the table's exclusive
    /// metadata lock (waiting up to `lock_wait` for open transactions),
    /// `change` makes the new definition, building any new trees; the
    /// dictionary record is then replaced (durably), the trees the new
    /// definition no longer names are freed, and the new metadata takes
    /// the old one's place. A crash before the record is replaced leaves
    /// the old table whole (new trees leak their pages); after it, the new
    /// one. `change` frees what it built when it fails itself.
    pub fn alter_table(
        &self,
        schema: &str,
        table: &str,
        lock_wait: std::time::Duration,
        change: impl FnOnce(&Engine, &TableMeta) -> Result<Altered, StatementError>,
    ) -> Result<Arc<TableMeta>, StatementError> {
        let (schema, table) = (normalize_name(schema), normalize_name(table));
        let _ddl = self.ddl.lock();
        let Some(meta) = self.table(&schema, &table) else {
            return Err(StatementError::NoSuchTable { schema, table });
        };
        if !meta.mdl.acquire_exclusive(lock_wait) {
            return Err(StatementError::LockWaitTimeout);
        }
        let engine = self.sys.engine();
        let outcome = (|| {
            let altered = change(engine, &meta)?;
            let free_new = |altered: &Altered| {
                for tree in &altered.new_trees {
                    if let Err(e) = tree.free_pages(engine.env()) {
                        log::warn!(
                            "freeing tree of index {} after a failed ALTER: {e}",
                            tree.index_id
                        );
                    }
                }
            };
            let opened = match TableMeta::open(&self.sys, altered.def.clone()) {
                Ok(opened) => opened,
                Err(e) => {
                    let ids: Vec<u64> = altered.new_trees.iter().map(|t| t.index_id).collect();
                    self.sys.forget_trees(&ids);
                    free_new(&altered);
                    return Err(StatementError::Storage(e.to_string()));
                }
            };
            let gone: Vec<u64> = altered.old_trees.iter().map(|t| t.index_id).collect();
            // Purge must not reach the old trees once their pages are freed.
            self.sys.forget_trees(&gone);
            if let Err(e) = self.dictionary.replace_table(engine, &altered.def) {
                for tree in &altered.old_trees {
                    self.sys.register_tree(*tree);
                }
                let ids: Vec<u64> = altered.new_trees.iter().map(|t| t.index_id).collect();
                self.sys.forget_trees(&ids);
                free_new(&altered);
                return Err(dict_error(e));
            }
            for tree in &altered.old_trees {
                // The record no longer names it: a failure here leaks pages.
                if let Err(e) = tree.free_pages(engine.env()) {
                    log::warn!("freeing tree of index {} after ALTER: {e}", tree.index_id);
                }
            }
            opened.observe_auto_increment(
                meta.next_auto_increment
                    .load(std::sync::atomic::Ordering::SeqCst)
                    .saturating_sub(1),
            );
            if altered.reset_auto_increment {
                opened
                    .next_auto_increment
                    .store(1, std::sync::atomic::Ordering::SeqCst);
            }
            Ok(opened)
        })();
        match outcome {
            Ok(opened) => {
                self.tables
                    .write()
                    .insert((schema, table), Arc::clone(&opened));
                meta.mdl.release_exclusive(true);
                Ok(opened)
            }
            Err(e) => {
                meta.mdl.release_exclusive(false);
                Err(e)
            }
        }
    }

    pub fn view(&self, schema: &str, name: &str) -> Option<Arc<ViewMeta>> {
        self.views
            .read()
            .get(&(normalize_name(schema), normalize_name(name)))
            .cloned()
    }

    /// The views of `schema`, sorted by name.
    pub fn views_of(&self, schema: &str) -> Vec<Arc<ViewMeta>> {
        let schema = normalize_name(schema);
        let mut views: Vec<Arc<ViewMeta>> = self
            .views
            .read()
            .values()
            .filter(|v| v.schema == schema)
            .cloned()
            .collect();
        views.sort_by(|a, b| a.name.cmp(&b.name));
        views
    }

    /// Stores a view (its SELECT's text); `replace` replaces an existing view.
    pub fn create_view(
        &self,
        schema: &str,
        name: &str,
        sql: &str,
        replace: bool,
    ) -> Result<(), StatementError> {
        let (schema, name) = (normalize_name(schema), normalize_name(name));
        let _ddl = self.ddl.lock();
        let key = (schema.clone(), name.clone());
        if replace && self.views.read().contains_key(&key) {
            self.dictionary
                .drop_table(self.sys.engine(), &schema, &name)
                .map_err(dict_error)?;
            self.views.write().remove(&key);
        }
        self.dictionary
            .create_table(
                self.sys.engine(),
                NewTable {
                    schema: schema.clone(),
                    name: name.clone(),
                    columns: Vec::new(),
                    indexes: Vec::new(),
                    options: encode_view_options(sql),
                },
            )
            .map_err(dict_error)?;
        self.views.write().insert(
            key,
            Arc::new(ViewMeta {
                schema,
                name,
                sql: sql.to_string(),
            }),
        );
        Ok(())
    }

    /// Drops a view; `NotView` when the name is a table, `UnknownTable`
    /// when it is neither.
    pub fn drop_view(&self, schema: &str, name: &str) -> Result<(), StatementError> {
        let (schema, name) = (normalize_name(schema), normalize_name(name));
        let _ddl = self.ddl.lock();
        let key = (schema.clone(), name.clone());
        if !self.views.read().contains_key(&key) {
            if self.table(&schema, &name).is_some() {
                return Err(StatementError::NotView { schema, name });
            }
            return Err(StatementError::UnknownTable {
                schema,
                table: name,
            });
        }
        self.dictionary
            .drop_table(self.sys.engine(), &schema, &name)
            .map_err(dict_error)?;
        self.views.write().remove(&key);
        Ok(())
    }

    /// Stops purge and shuts the engine down cleanly (a checkpoint). Every
    /// session must be gone: their transactions hold the system.
    pub fn shutdown(self: Arc<Self>) -> Result<(), String> {
        let database =
            Arc::try_unwrap(self).map_err(|_| "sessions still hold the database".to_string())?;
        let Database { sys, tables, .. } = database;
        // Table handles hold no reference to the system; drop them first.
        drop(tables);
        sys.shutdown().map_err(|e| format!("{e:?}"))
    }
}
