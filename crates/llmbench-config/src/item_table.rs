//! A task's items, stored compactly: every item's id and variables encoded back to back in
//! one buffer, variable names interned, an item decoded into an [`Item`] only when asked for.
//!
//! An [`Item`] holds a `BTreeMap` whose smallest node is about half a KiB: a million items of
//! two short variables took over 500 MB that way. Here an item costs its text, a byte or two
//! per length, and 8 bytes of offset: a sweep's memory no longer grows by a `BTreeMap` per
//! item. The encoding is private to this file and trivially small (LEB128 lengths), so it is
//! written by hand rather than taken from a serialization crate.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use llmbench_core::Item;

/// Appends `n` as LEB128.
fn put_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Reads a LEB128 length at `*at`, moving past it.
fn get_len(data: &[u8], at: &mut usize) -> usize {
    let mut n = 0usize;
    let mut shift = 0;
    loop {
        let byte = data[*at];
        *at += 1;
        n |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return n;
        }
        shift += 7;
    }
}

/// Reads a length-prefixed string at `*at`, moving past it.
fn get_str<'a>(data: &'a [u8], at: &mut usize) -> &'a str {
    let len = get_len(data, at);
    let bytes = &data[*at..*at + len];
    *at += len;
    // Written from `&str` by `push` only.
    std::str::from_utf8(bytes).expect("encoded from a str")
}

/// Items in insertion order; see the module doc.
#[derive(Default, Clone)]
pub(crate) struct ItemTable {
    /// Variable names, each once; an item refers to a name by its index.
    names: Vec<String>,
    index: HashMap<String, usize>,
    /// Per item: id (length, bytes), number of variables, then each variable (name index,
    /// value length, value bytes), in name order.
    data: Vec<u8>,
    /// Where each item starts in `data`.
    starts: Vec<u64>,
}

impl ItemTable {
    pub(crate) fn len(&self) -> usize {
        self.starts.len()
    }

    /// Adds an item (its variables in name order, as a `BTreeMap` iterates).
    pub(crate) fn push<'a>(
        &mut self,
        id: &str,
        vars: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
    ) {
        self.starts.push(self.data.len() as u64);
        put_len(&mut self.data, id.len());
        self.data.extend_from_slice(id.as_bytes());
        put_len(&mut self.data, vars.len());
        for (position, (name, value)) in vars.enumerate() {
            // Items of a file mostly have the same variables, in the same (name) order: the
            // name at this position is checked before the index is hashed.
            let at_position = self.names.get(position).is_some_and(|n| n == name);
            let n = match at_position
                .then_some(position)
                .or_else(|| self.index.get(name).copied())
            {
                Some(n) => n,
                None => {
                    self.names.push(name.to_owned());
                    self.index.insert(name.to_owned(), self.names.len() - 1);
                    self.names.len() - 1
                }
            };
            put_len(&mut self.data, n);
            put_len(&mut self.data, value.len());
            self.data.extend_from_slice(value.as_bytes());
        }
    }

    /// Adds `item`.
    pub(crate) fn push_item(&mut self, item: &Item) {
        self.push(
            &item.id,
            item.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
    }

    /// The items at `indices` (of this table), in that order.
    pub(crate) fn select(&self, indices: &[usize]) -> ItemTable {
        let mut out = ItemTable {
            names: self.names.clone(),
            index: self.index.clone(),
            data: Vec::new(),
            starts: Vec::with_capacity(indices.len()),
        };
        for &i in indices {
            let range = self.range(i);
            out.starts.push(out.data.len() as u64);
            out.data.extend_from_slice(&self.data[range]);
        }
        out.data.shrink_to_fit();
        out
    }

    fn range(&self, i: usize) -> std::ops::Range<usize> {
        let start = self.starts[i] as usize;
        let end = self
            .starts
            .get(i + 1)
            .map_or(self.data.len(), |&e| e as usize);
        start..end
    }

    /// The id of item `i`.
    pub(crate) fn id(&self, i: usize) -> &str {
        let mut at = self.starts[i] as usize;
        get_str(&self.data, &mut at)
    }

    /// Item `i`'s variables: (name, value), in name order.
    pub(crate) fn vars(&self, i: usize) -> impl Iterator<Item = (&str, &str)> + '_ {
        let mut at = self.starts[i] as usize;
        let _id = get_str(&self.data, &mut at);
        let count = get_len(&self.data, &mut at);
        (0..count).map(move |_| {
            let name = get_len(&self.data, &mut at);
            let value = get_str(&self.data, &mut at);
            (self.names[name].as_str(), value)
        })
    }

    /// The value of variable `name` of item `i`.
    pub(crate) fn var(&self, i: usize, name: &str) -> Option<&str> {
        self.var_at(i, *self.index.get(name)?)
    }

    /// The value of the variable whose name has index `n` (in `names`) for item `i`. The
    /// strings before it are skipped, not read: only the value returned is checked as UTF-8
    /// (the check before each run reads one or two variables of every item this way).
    fn var_at(&self, i: usize, n: usize) -> Option<&str> {
        let data = &self.data;
        let mut at = self.starts[i] as usize;
        let skip = |at: &mut usize| {
            let len = get_len(data, at);
            *at += len;
        };
        skip(&mut at);
        let count = get_len(data, &mut at);
        for _ in 0..count {
            if get_len(data, &mut at) == n {
                return Some(get_str(data, &mut at));
            }
            skip(&mut at);
        }
        None
    }

    /// Item `i`, decoded.
    pub(crate) fn get(&self, i: usize) -> Item {
        Item {
            id: self.id(i).to_owned(),
            vars: self
                .vars(i)
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        self.data.shrink_to_fit();
        self.starts.shrink_to_fit();
    }
}

/// Where a task's items were defined, for messages: `items.jsonl:12` (a file's line),
/// `configs/x.toml:20:11` (an inline item), or the task's place for its implicit item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Places {
    /// One described place per item.
    Listed(Vec<String>),
    /// A file (as shown) and each item's line in it.
    File { path: String, lines: Vec<u32> },
}

impl Places {
    fn get(&self, i: usize) -> Option<String> {
        match self {
            Places::Listed(places) => places.get(i).cloned(),
            Places::File { path, lines } => lines.get(i).map(|line| format!("{path}:{line}")),
        }
    }
}

/// A template variable's name as [`Items`] know it ([`Items::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name {
    /// `{{ id }}`: the item's id.
    Id,
    /// One of the items' variables (by its index among their names).
    Var(usize),
    /// A name no item has.
    Unknown,
}

/// A task's items ([`crate::TaskConfig::items`]): shared, so that cloning a task does not
/// copy them; each decoded into an [`Item`] only when asked for ([`Items::get`]).
#[derive(Clone)]
pub struct Items(Arc<Inner>);

struct Inner {
    table: ItemTable,
    places: Places,
    /// Every item decoded, for [`llmbench_core::Task::items`], made on its first call only:
    /// the runner never asks for it.
    all: OnceLock<Box<[Item]>>,
}

impl Items {
    pub(crate) fn new(mut table: ItemTable, places: Places) -> Self {
        table.shrink_to_fit();
        Self(Arc::new(Inner {
            table,
            places,
            all: OnceLock::new(),
        }))
    }

    /// How many items the task runs.
    pub fn len(&self) -> usize {
        self.0.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The item at `index`, decoded (panics when out of range, as slice indexing does).
    pub fn get(&self, index: usize) -> Item {
        self.0.table.get(index)
    }

    /// What `{{ name }}` renders to for item `index` (its id for `{{ id }}`, else the
    /// variable), read in place without decoding the item.
    pub fn value(&self, index: usize, name: &str) -> Option<&str> {
        self.value_of(index, self.name(name))
    }

    /// `name` looked up once, for reading it from many items ([`Items::value_of`]).
    pub fn name(&self, name: &str) -> Name {
        match name {
            crate::template::ID => Name::Id,
            name => self
                .0
                .table
                .index
                .get(name)
                .map_or(Name::Unknown, |&n| Name::Var(n)),
        }
    }

    /// [`Items::value`] for a name looked up with [`Items::name`].
    pub fn value_of(&self, index: usize, name: Name) -> Option<&str> {
        let table = &self.0.table;
        match name {
            Name::Id => Some(table.id(index)),
            Name::Var(n) => table.var_at(index, n),
            Name::Unknown => None,
        }
    }

    /// The length in bytes of `template` rendered for item `index`
    /// ([`crate::rendered_len`]), without decoding the item.
    pub fn rendered_len(&self, index: usize, template: &str) -> usize {
        crate::template::rendered_len_with(template, |name| self.value(index, name))
    }

    /// The id of the item at `index`, without decoding its variables.
    pub fn id(&self, index: usize) -> &str {
        self.0.table.id(index)
    }

    /// Every item in order, each decoded as the iterator reaches it.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Item> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Where the item at `index` was defined (`items.jsonl:12`), for messages; `None` when
    /// out of range.
    pub fn place(&self, index: usize) -> Option<String> {
        self.0.places.get(index)
    }

    /// Every item decoded, kept from the first call on (what [`llmbench_core::Task::items`]
    /// returns): costly for a large task; prefer [`Items::get`].
    pub fn all(&self) -> &[Item] {
        self.0
            .all
            .get_or_init(|| self.iter().collect::<Vec<_>>().into_boxed_slice())
    }
}

impl std::fmt::Debug for Items {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Items")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl PartialEq for Items {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self.0.places == other.0.places
            && (0..self.len()).all(|i| self.get(i) == other.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip_and_select() {
        let mut table = ItemTable::default();
        let long = "x".repeat(300);
        let items = [
            Item {
                id: "a".into(),
                vars: BTreeMap::from([("q".into(), "one".into()), ("z".into(), long.clone())]),
            },
            Item {
                id: "é-b".into(),
                vars: BTreeMap::new(),
            },
            Item {
                id: String::new(),
                vars: BTreeMap::from([("z".into(), String::new())]),
            },
        ];
        for item in &items {
            table.push_item(item);
        }
        assert_eq!(table.len(), 3);
        for (i, item) in items.iter().enumerate() {
            assert_eq!(table.get(i), *item);
            assert_eq!(table.id(i), item.id);
        }
        assert_eq!(table.var(0, "z"), Some(long.as_str()));
        assert_eq!(table.var(1, "z"), None);
        assert_eq!(table.var(2, "z"), Some(""));
        assert_eq!(table.var(0, "nope"), None);
        let picked = table.select(&[2, 0]);
        assert_eq!(picked.get(0), items[2]);
        assert_eq!(picked.get(1), items[0]);
        let all = Items::new(
            picked,
            Places::File {
                path: "i.jsonl".into(),
                lines: vec![3, 1],
            },
        );
        assert_eq!(all.place(1).as_deref(), Some("i.jsonl:1"));
        assert_eq!(all.place(2), None);
        assert_eq!(all.all(), [items[2].clone(), items[0].clone()]);
        // A template's rendered length, counted without decoding the item.
        for template in ["{{ q }}/{{z}} {{id}} {{ nope }}", "plain", "{{z}"] {
            for i in 0..all.len() {
                assert_eq!(
                    all.rendered_len(i, template),
                    crate::render_item(template, &all.get(i)).len(),
                    "{template} {i}"
                );
            }
        }
    }
}
