//! The data dictionary: schemas, tables, their columns and indexes, kept in
//! a B+tree of the system space (its root in the space header's slot 0) and
//! changed through mini-transactions like any data, so DDL survives a crash.
//!
//! Keys: `b'S' | schema` for a schema, `b'T' | schema | 0x00 | table` for a
//! table. Names arrive already normalised by the SQL layer (MySQL's case
//! rules are its business); the dictionary compares bytes.
//!
//! A table record (the value), all LE, strings as `bytes u16 | UTF-8`:
//! ```text
//! version u8 (1) | table_id u64 | schema str | name str
//! | column_count u16 | column* | index_count u16 | index* | options bytes (u32 length)
//! column: name str | type_code u8 | flags u16 | length u32 | scale u8
//!         | default_present u8 | default bytes (u32 length, when present)
//! index:  name str | index_id u64 | root page u32 | kind u8 (1 primary,
//!         2 unique, 3 non-unique) | key_column_count u16 | column position u16*
//! ```
//! Type codes and flags belong to the SQL layer; the dictionary keeps them.
//!
//! Creating a table creates its trees in one mtr and then inserts its record
//! in another: a crash between the two leaks the new pages but never leaves
//! a table whose trees are missing. (Transactional DDL arrives with undo.)

use crate::btr::tree::{Direction, Tree, TreeError};
use crate::fil::{PageId, PageNo};
use crate::fsp::{self, FspError};
use crate::mtr::{Mtr, MtrError};
use crate::srv::{Engine, SYSTEM_SPACE};
use std::ops::Bound;

/// The space header's root slot of the dictionary tree.
pub const DICT_ROOT_SLOT: usize = 0;
pub const DICT_INDEX_ID: u64 = 0;
const RECORD_VERSION: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum DictError {
    #[error("schema '{schema}' already exists")]
    SchemaExists { schema: String },
    #[error("schema '{schema}' does not exist")]
    NoSuchSchema { schema: String },
    #[error("table '{schema}.{table}' already exists")]
    TableExists { schema: String, table: String },
    #[error("table '{schema}.{table}' does not exist")]
    NoSuchTable { schema: String, table: String },
    #[error("dictionary record for '{key}': {what}")]
    Corrupt { key: String, what: String },
    #[error("dictionary record version {found}; this build reads {known}")]
    UnknownVersion { found: u8, known: u8 },
    #[error("name '{name}' is longer than {max} bytes")]
    NameTooLong { name: String, max: usize },
    #[error("table definition too large for a dictionary record ({bytes} bytes)")]
    TooLarge { bytes: usize },
    // Boxed: the lower layers' errors are large and DDL errors are rare.
    #[error(transparent)]
    Tree(Box<TreeError>),
    #[error(transparent)]
    Mtr(Box<MtrError>),
    #[error(transparent)]
    Fsp(Box<FspError>),
}

impl From<TreeError> for DictError {
    fn from(e: TreeError) -> Self {
        DictError::Tree(Box::new(e))
    }
}

impl From<MtrError> for DictError {
    fn from(e: MtrError) -> Self {
        DictError::Mtr(Box::new(e))
    }
}

impl From<FspError> for DictError {
    fn from(e: FspError) -> Self {
        DictError::Fsp(Box::new(e))
    }
}

/// Longest schema, table, column or index name (MySQL allows 64 characters).
pub const MAX_NAME_BYTES: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnDef {
    pub name: String,
    pub type_code: u8,
    pub flags: u16,
    pub length: u32,
    pub scale: u8,
    pub default: Option<Vec<u8>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexKind {
    Primary = 1,
    Unique = 2,
    NonUnique = 3,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexDef {
    pub name: String,
    pub index_id: u64,
    pub root: PageNo,
    pub kind: IndexKind,
    /// Positions in `TableDef::columns` of the key's columns, in key order.
    pub columns: Vec<u16>,
}

impl IndexDef {
    pub fn tree(&self) -> Tree {
        Tree {
            index_id: self.index_id,
            root: PageId {
                space: SYSTEM_SPACE,
                page: self.root,
            },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDef {
    pub table_id: u64,
    pub schema: String,
    pub name: String,
    pub columns: Vec<ColumnDef>,
    /// The first is the clustered (primary) index.
    pub indexes: Vec<IndexDef>,
    /// Opaque to storage (AUTO_INCREMENT state, comments...).
    pub options: Vec<u8>,
}

/// What `create_table` needs: indexes without ids and roots yet.
#[derive(Clone, Debug)]
pub struct NewTable {
    pub schema: String,
    pub name: String,
    pub columns: Vec<ColumnDef>,
    pub indexes: Vec<(String, IndexKind, Vec<u16>)>,
    pub options: Vec<u8>,
}

fn schema_key(schema: &str) -> Vec<u8> {
    let mut key = vec![b'S'];
    key.extend_from_slice(schema.as_bytes());
    key
}

fn table_key(schema: &str, table: &str) -> Vec<u8> {
    let mut key = vec![b'T'];
    key.extend_from_slice(schema.as_bytes());
    key.push(0);
    key.extend_from_slice(table.as_bytes());
    key
}

fn check_name(name: &str) -> Result<(), DictError> {
    if name.len() > MAX_NAME_BYTES || name.as_bytes().contains(&0) {
        return Err(DictError::NameTooLong {
            name: name.to_string(),
            max: MAX_NAME_BYTES,
        });
    }
    Ok(())
}

struct Writer(Vec<u8>);
impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v)
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes())
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes())
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes())
    }
    fn str(&mut self, s: &str) {
        self.u16(s.len() as u16);
        self.0.extend_from_slice(s.as_bytes())
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    key: &'a str,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DictError> {
        let Some((head, tail)) = self.bytes.split_at_checked(n) else {
            return Err(DictError::Corrupt {
                key: self.key.to_string(),
                what: format!("truncated in {what}"),
            });
        };
        self.bytes = tail;
        Ok(head)
    }
    fn u8(&mut self, what: &str) -> Result<u8, DictError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, DictError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, what: &str) -> Result<u32, DictError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self, what: &str) -> Result<u64, DictError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn str(&mut self, what: &str) -> Result<String, DictError> {
        let n = usize::from(self.u16(what)?);
        let b = self.take(n, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| DictError::Corrupt {
            key: self.key.to_string(),
            what: format!("{what} is not UTF-8"),
        })
    }
    fn bytes(&mut self, what: &str) -> Result<Vec<u8>, DictError> {
        let n = self.u32(what)? as usize;
        Ok(self.take(n, what)?.to_vec())
    }
}

impl TableDef {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(256));
        w.u8(RECORD_VERSION);
        w.u64(self.table_id);
        w.str(&self.schema);
        w.str(&self.name);
        w.u16(self.columns.len() as u16);
        for c in &self.columns {
            w.str(&c.name);
            w.u8(c.type_code);
            w.u16(c.flags);
            w.u32(c.length);
            w.u8(c.scale);
            match &c.default {
                Some(d) => {
                    w.u8(1);
                    w.bytes(d)
                }
                None => w.u8(0),
            }
        }
        w.u16(self.indexes.len() as u16);
        for i in &self.indexes {
            w.str(&i.name);
            w.u64(i.index_id);
            w.u32(i.root.0);
            w.u8(i.kind as u8);
            w.u16(i.columns.len() as u16);
            for &c in &i.columns {
                w.u16(c);
            }
        }
        w.bytes(&self.options);
        w.0
    }

    pub fn decode(bytes: &[u8], key: &str) -> Result<Self, DictError> {
        let mut r = Reader { bytes, key };
        let version = r.u8("version")?;
        if version != RECORD_VERSION {
            return Err(DictError::UnknownVersion {
                found: version,
                known: RECORD_VERSION,
            });
        }
        let table_id = r.u64("table id")?;
        let schema = r.str("schema")?;
        let name = r.str("name")?;
        let column_count = r.u16("column count")?;
        let mut columns = Vec::with_capacity(usize::from(column_count));
        for _ in 0..column_count {
            let name = r.str("column name")?;
            let type_code = r.u8("column type")?;
            let flags = r.u16("column flags")?;
            let length = r.u32("column length")?;
            let scale = r.u8("column scale")?;
            let default = match r.u8("default flag")? {
                0 => None,
                1 => Some(r.bytes("default")?),
                other => {
                    return Err(DictError::Corrupt {
                        key: key.to_string(),
                        what: format!("default flag {other}"),
                    })
                }
            };
            columns.push(ColumnDef {
                name,
                type_code,
                flags,
                length,
                scale,
                default,
            });
        }
        let index_count = r.u16("index count")?;
        let mut indexes = Vec::with_capacity(usize::from(index_count));
        for _ in 0..index_count {
            let name = r.str("index name")?;
            let index_id = r.u64("index id")?;
            let root = PageNo(r.u32("index root")?);
            let kind = match r.u8("index kind")? {
                1 => IndexKind::Primary,
                2 => IndexKind::Unique,
                3 => IndexKind::NonUnique,
                other => {
                    return Err(DictError::Corrupt {
                        key: key.to_string(),
                        what: format!("index kind {other}"),
                    })
                }
            };
            let key_count = r.u16("index column count")?;
            let mut key_columns = Vec::with_capacity(usize::from(key_count));
            for _ in 0..key_count {
                let position = r.u16("index column")?;
                if usize::from(position) >= columns.len() {
                    return Err(DictError::Corrupt {
                        key: key.to_string(),
                        what: format!("index {name} names column {position} of {}", columns.len()),
                    });
                }
                key_columns.push(position);
            }
            indexes.push(IndexDef {
                name,
                index_id,
                root,
                kind,
                columns: key_columns,
            });
        }
        let options = r.bytes("options")?;
        if !r.bytes.is_empty() {
            return Err(DictError::Corrupt {
                key: key.to_string(),
                what: format!("{} trailing bytes", r.bytes.len()),
            });
        }
        Ok(TableDef {
            table_id,
            schema,
            name,
            columns,
            indexes,
            options,
        })
    }

    pub fn primary(&self) -> Option<&IndexDef> {
        self.indexes
            .first()
            .filter(|i| i.kind == IndexKind::Primary)
    }
}

/// The dictionary of an open engine.
pub struct Dictionary {
    tree: Tree,
}

impl Dictionary {
    /// Creates the dictionary tree in a new database (inside `mtr`).
    pub fn bootstrap(mtr: &mut Mtr<'_>) -> Result<(), DictError> {
        let tree = Tree::create(mtr, SYSTEM_SPACE, DICT_INDEX_ID)?;
        fsp::set_root(mtr, SYSTEM_SPACE, DICT_ROOT_SLOT, tree.root.page)?;
        Ok(())
    }

    pub fn open(engine: &Engine) -> Result<Self, DictError> {
        let mut mtr = Mtr::start(engine.pool(), engine.log());
        let page = fsp::root(&mut mtr, SYSTEM_SPACE, DICT_ROOT_SLOT)?;
        mtr.commit()?;
        Ok(Self {
            tree: Tree {
                index_id: DICT_INDEX_ID,
                root: PageId {
                    space: SYSTEM_SPACE,
                    page,
                },
            },
        })
    }

    fn durable(engine: &Engine, lsn: crate::fil::Lsn) -> Result<(), DictError> {
        // DDL is always made durable, whatever the commit flush policy.
        engine
            .log()
            .write_up_to(lsn)
            .map_err(|e| DictError::from(MtrError::Redo(e)))
    }

    pub fn create_schema(&self, engine: &Engine, schema: &str) -> Result<(), DictError> {
        check_name(schema)?;
        match self
            .tree
            .insert(engine.env(), &schema_key(schema), &[RECORD_VERSION])
        {
            Ok(lsn) => Self::durable(engine, lsn),
            Err(TreeError::Duplicate { .. }) => Err(DictError::SchemaExists {
                schema: schema.to_string(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    pub fn schema_exists(&self, engine: &Engine, schema: &str) -> Result<bool, DictError> {
        Ok(self
            .tree
            .get(engine.env(), &schema_key(schema), |_| ())?
            .is_some())
    }

    pub fn schemas(&self, engine: &Engine) -> Result<Vec<String>, DictError> {
        let mut cursor = self.tree.scan(
            engine.env(),
            Bound::Included(vec![b'S']),
            Bound::Excluded(vec![b'T']),
            Direction::Forward,
        );
        let mut names = Vec::new();
        while let Some((key, _)) = cursor.next()? {
            names.push(String::from_utf8_lossy(&key[1..]).into_owned());
        }
        Ok(names)
    }

    /// Drops an empty schema (the caller drops its tables first).
    pub fn drop_schema(&self, engine: &Engine, schema: &str) -> Result<(), DictError> {
        match self.tree.delete(engine.env(), &schema_key(schema))? {
            Some(lsn) => Self::durable(engine, lsn),
            None => Err(DictError::NoSuchSchema {
                schema: schema.to_string(),
            }),
        }
    }

    pub fn table(
        &self,
        engine: &Engine,
        schema: &str,
        table: &str,
    ) -> Result<Option<TableDef>, DictError> {
        let key = table_key(schema, table);
        let label = format!("{schema}.{table}");
        match self
            .tree
            .get(engine.env(), &key, |bytes| TableDef::decode(bytes, &label))?
        {
            Some(def) => Ok(Some(def?)),
            None => Ok(None),
        }
    }

    pub fn tables(&self, engine: &Engine, schema: &str) -> Result<Vec<TableDef>, DictError> {
        let mut lower = table_key(schema, "");
        lower.pop();
        lower.push(0);
        let mut upper = lower.clone();
        upper.pop();
        upper.push(1);
        let mut cursor = self.tree.scan(
            engine.env(),
            Bound::Included(lower),
            Bound::Excluded(upper),
            Direction::Forward,
        );
        let mut tables = Vec::new();
        while let Some((key, value)) = cursor.next()? {
            let label = String::from_utf8_lossy(&key[1..]).into_owned();
            tables.push(TableDef::decode(&value, &label)?);
        }
        Ok(tables)
    }

    /// Creates a table: ids and empty trees for each index, then its record.
    pub fn create_table(&self, engine: &Engine, new: NewTable) -> Result<TableDef, DictError> {
        check_name(&new.schema)?;
        check_name(&new.name)?;
        for c in &new.columns {
            check_name(&c.name)?;
        }
        if !self.schema_exists(engine, &new.schema)? {
            return Err(DictError::NoSuchSchema { schema: new.schema });
        }
        if self.table(engine, &new.schema, &new.name)?.is_some() {
            return Err(DictError::TableExists {
                schema: new.schema,
                table: new.name,
            });
        }
        let mut mtr = Mtr::start(engine.pool(), engine.log());
        let table_id = fsp::allocate_index_id(&mut mtr, SYSTEM_SPACE)?;
        let mut indexes = Vec::with_capacity(new.indexes.len());
        for (name, kind, columns) in new.indexes {
            check_name(&name)?;
            let index_id = fsp::allocate_index_id(&mut mtr, SYSTEM_SPACE)?;
            let tree = Tree::create(&mut mtr, SYSTEM_SPACE, index_id)?;
            indexes.push(IndexDef {
                name,
                index_id,
                root: tree.root.page,
                kind,
                columns,
            });
        }
        mtr.commit()?;
        let def = TableDef {
            table_id,
            schema: new.schema,
            name: new.name,
            columns: new.columns,
            indexes,
            options: new.options,
        };
        let record = def.encode();
        if record.len() + MAX_NAME_BYTES * 2 > crate::btr::node::MAX_RECORD_BYTES {
            return Err(DictError::TooLarge {
                bytes: record.len(),
            });
        }
        match self
            .tree
            .insert(engine.env(), &table_key(&def.schema, &def.name), &record)
        {
            Ok(lsn) => Self::durable(engine, lsn)?,
            Err(TreeError::Duplicate { .. }) => {
                return Err(DictError::TableExists {
                    schema: def.schema,
                    table: def.name,
                });
            }
            Err(e) => return Err(e.into()),
        }
        Ok(def)
    }

    /// Replaces a table's record (ALTER TABLE); ids of the table stay.
    pub fn replace_table(&self, engine: &Engine, def: &TableDef) -> Result<(), DictError> {
        match self.tree.update(
            engine.env(),
            &table_key(&def.schema, &def.name),
            &def.encode(),
        )? {
            Some(lsn) => Self::durable(engine, lsn),
            None => Err(DictError::NoSuchTable {
                schema: def.schema.clone(),
                table: def.name.clone(),
            }),
        }
    }

    /// Removes a table's record, then frees its trees' pages. A crash
    /// while freeing leaks the rest of the pages, never a live table's.
    pub fn drop_table(
        &self,
        engine: &Engine,
        schema: &str,
        table: &str,
    ) -> Result<TableDef, DictError> {
        let Some(def) = self.table(engine, schema, table)? else {
            return Err(DictError::NoSuchTable {
                schema: schema.to_string(),
                table: table.to_string(),
            });
        };
        match self.tree.delete(engine.env(), &table_key(schema, table))? {
            Some(lsn) => Self::durable(engine, lsn)?,
            None => {
                return Err(DictError::NoSuchTable {
                    schema: schema.to_string(),
                    table: table.to_string(),
                })
            }
        }
        for index in &def.indexes {
            index.tree().free_pages(engine.env())?;
        }
        Ok(def)
    }
}

#[cfg(test)]
mod tests;
