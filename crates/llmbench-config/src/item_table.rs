//! A task's items, stored compactly: every item's id and variables encoded back to back in
//! one buffer, variable names interned, an item decoded into an [`Item`] only when asked for.
//!
//! An [`Item`] holds a `BTreeMap` whose smallest node is about half a KiB: a million items of
//! two short variables took over 500 MB that way. Here an item costs its text, a byte or two
//! per length, and 8 bytes of offset: a sweep's memory no longer grows by a `BTreeMap` per
//! item. The encoding is private to this file and trivially small (LEB128 lengths), so it is
//! written by hand rather than taken from a serialization crate.
//!
//! A large task's encoded items (over [`SPILL_AT`]) go to an anonymous temporary file as they
//! are read, and are read back a window at a time ([`ItemTable`]): a sweep's memory then
//! holds 8 bytes per item, whatever the items' size.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

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

/// Skips a length-prefixed string at `*at`.
fn skip_str(data: &[u8], at: &mut usize) {
    let len = get_len(data, at);
    *at += len;
}

/// The encoded items a table keeps in memory before it moves them to a temporary file: a
/// task of up to about 80,000 typical items never touches the disk.
const SPILL_AT: usize = 8 << 20;

/// How much of the temporary file one read brings in: items are mostly read in order (the
/// plan's order, the checks before a run), so one read serves thousands of them.
const WINDOW: usize = 1 << 20;

/// How much of the temporary file a read out of order brings in.
const RANDOM_READ: usize = 16 << 10;

/// One encoded item (see [`ItemTable`]), and the table's variable names.
#[derive(Clone, Copy)]
pub(crate) struct Record<'a> {
    bytes: &'a [u8],
    names: &'a [String],
}

impl<'a> Record<'a> {
    /// The item's id.
    pub(crate) fn id(&self) -> &'a str {
        get_str(self.bytes, &mut 0)
    }

    /// The item's variables: (name, value), in name order.
    pub(crate) fn vars(&self) -> impl Iterator<Item = (&'a str, &'a str)> + use<'a> {
        let (data, names) = (self.bytes, self.names);
        let mut at = 0;
        skip_str(data, &mut at);
        let count = get_len(data, &mut at);
        (0..count).map(move |_| {
            let name = get_len(data, &mut at);
            let value = get_str(data, &mut at);
            (names[name].as_str(), value)
        })
    }

    /// The value of the variable whose name has index `n` among the table's names. The
    /// strings before it are skipped, not read: only the value returned is checked as UTF-8
    /// (the check before each run reads one or two variables of every item this way).
    pub(crate) fn var_at(&self, n: usize) -> Option<&'a str> {
        let data = self.bytes;
        let mut at = 0;
        skip_str(data, &mut at);
        let count = get_len(data, &mut at);
        for _ in 0..count {
            if get_len(data, &mut at) == n {
                return Some(get_str(data, &mut at));
            }
            skip_str(data, &mut at);
        }
        None
    }

    /// The item, decoded.
    pub(crate) fn to_item(self) -> Item {
        Item {
            id: self.id().to_owned(),
            vars: self
                .vars()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect::<BTreeMap<_, _>>(),
        }
    }
}

/// The part of a large table's encoded items that is on disk: an anonymous temporary file
/// (`tempfile::tempfile`, unlinked as soon as it is made, so nothing is left behind by a
/// killed process), and the last stretch of it read.
struct Spill {
    file: std::fs::File,
    /// (where in the file it starts, the bytes): the last [`WINDOW`] read.
    window: Mutex<(u64, Vec<u8>)>,
}

/// Items in insertion order; see the module doc.
///
/// A table holds its encoded items in memory up to [`SPILL_AT`] bytes; beyond that, they go
/// to a temporary file as they are added, and are read back a [`WINDOW`] at a time. A
/// million items of a short question each were 72 MB of memory for the whole of a sweep;
/// spilled, they are 8 bytes of offset each. If the file cannot be made or written (a full
/// or read-only temporary directory), the rest of the items stay in memory: slower to
/// nothing, larger, never wrong.
#[derive(Default)]
pub(crate) struct ItemTable {
    /// Variable names, each once; an item refers to a name by its index.
    names: Vec<String>,
    index: HashMap<String, usize>,
    /// Per item: id (length, bytes), number of variables, then each variable (name index,
    /// value length, value bytes), in name order. The items from `spilled` on (of the
    /// encoded whole): all of them while nothing was spilled.
    data: Vec<u8>,
    /// Where each item starts in the encoded whole.
    starts: Vec<u64>,
    /// The encoded items before `spilled` are in this file (never half an item).
    spill: Option<Spill>,
    spilled: u64,
    /// The file could not be written: keep everything else in memory.
    spill_failed: bool,
    /// [`SPILL_AT`], or less in tests (0 means [`SPILL_AT`]).
    spill_at: usize,
}

impl ItemTable {
    /// A table that spills once `bytes` are held (tests: the file's paths with few items).
    #[cfg(test)]
    pub(crate) fn spilling_at(bytes: usize) -> Self {
        Self {
            spill_at: bytes.max(1),
            ..Self::default()
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether part of the items is in the temporary file.
    #[cfg(test)]
    pub(crate) fn is_spilled(&self) -> bool {
        self.spilled > 0
    }

    /// Moves the items in memory to the temporary file (called between items only).
    fn spill_data(&mut self) {
        use std::os::unix::fs::FileExt;
        if self.data.is_empty() || self.spill_failed {
            return;
        }
        if self.spill.is_none() {
            match tempfile::tempfile() {
                Ok(file) => {
                    self.spill = Some(Spill {
                        file,
                        window: Mutex::new((0, Vec::new())),
                    });
                }
                Err(_) => {
                    self.spill_failed = true;
                    return;
                }
            }
        }
        let spill = self.spill.as_ref().expect("made above");
        match spill.file.write_all_at(&self.data, self.spilled) {
            Ok(()) => {
                self.spilled += self.data.len() as u64;
                self.data.clear();
            }
            // What was written past `spilled` is never read: those items stay in `data`.
            Err(_) => self.spill_failed = true,
        }
    }

    /// Starts an item: spills first when the items in memory have reached the limit.
    fn start_item(&mut self) {
        let limit = if self.spill_at == 0 {
            SPILL_AT
        } else {
            self.spill_at
        };
        if self.data.len() >= limit {
            self.spill_data();
        }
        self.starts.push(self.spilled + self.data.len() as u64);
    }

    /// Adds an item (its variables in name order, as a `BTreeMap` iterates).
    pub(crate) fn push<'a>(
        &mut self,
        id: &str,
        vars: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
    ) {
        self.start_item();
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
            starts: Vec::with_capacity(indices.len()),
            spill_at: self.spill_at,
            ..ItemTable::default()
        };
        for &i in indices {
            out.start_item();
            self.with_bytes(i, |bytes| out.data.extend_from_slice(bytes));
        }
        out.finish();
        out
    }

    /// Calls `f` with item `i`'s encoded bytes, from memory or from the temporary file.
    ///
    /// `f` runs while the file's window is locked: it must not read this table again.
    fn with_bytes<R>(&self, i: usize, f: impl FnOnce(&[u8]) -> R) -> R {
        let start = self.starts[i];
        let end = self
            .starts
            .get(i + 1)
            .copied()
            .unwrap_or(self.spilled + self.data.len() as u64);
        if start >= self.spilled {
            let at = |p: u64| (p - self.spilled) as usize;
            return f(&self.data[at(start)..at(end)]);
        }
        let spill = self
            .spill
            .as_ref()
            .expect("items before `spilled` are in the file");
        let mut window = spill.window.lock().unwrap_or_else(|e| e.into_inner());
        let (offset, bytes) = &mut *window;
        if !(*offset <= start && end <= *offset + bytes.len() as u64) {
            use std::os::unix::fs::FileExt;
            // Reading on from the window's end is reading in order: a whole window. Any other
            // item (a random read) brings in a little, not a whole window per item.
            let ahead = if start == *offset + bytes.len() as u64 {
                WINDOW
            } else {
                RANDOM_READ
            };
            let want = (end - start).max(ahead as u64).min(self.spilled - start);
            bytes.resize(want as usize, 0);
            *offset = start;
            if let Err(e) = spill.file.read_exact_at(bytes, start) {
                // The file was written by this process and is reachable by no other name:
                // failing to read it back is the machine failing (an I/O error of the
                // temporary directory's disk), not anything a config or a user did.
                panic!("cannot read back the task's items from their temporary file: {e}");
            }
        }
        let from = (start - *offset) as usize;
        f(&bytes[from..from + (end - start) as usize])
    }

    /// Calls `f` with item `i`, read in place (not decoded). `f` must not read this table.
    pub(crate) fn with_record<R>(&self, i: usize, f: impl FnOnce(Record<'_>) -> R) -> R {
        self.with_bytes(i, |bytes| {
            f(Record {
                bytes,
                names: &self.names,
            })
        })
    }

    /// The id of item `i`.
    pub(crate) fn id(&self, i: usize) -> String {
        self.with_record(i, |r| r.id().to_owned())
    }

    /// The value of variable `name` of item `i`.
    #[cfg(test)]
    pub(crate) fn var(&self, i: usize, name: &str) -> Option<String> {
        let n = *self.index.get(name)?;
        self.with_record(i, |r| r.var_at(n).map(str::to_owned))
    }

    /// The index of variable `name` among the table's names.
    pub(crate) fn name_index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Item `i`, decoded.
    pub(crate) fn get(&self, i: usize) -> Item {
        self.with_record(i, |r| r.to_item())
    }

    /// The table is complete: what is left in memory goes to the file when the table
    /// spilled, and spare capacity is released.
    pub(crate) fn finish(&mut self) {
        if self.spill.is_some() {
            self.spill_data();
        }
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

/// An item of [`Items`] read in place ([`Items::view`]): its id and values borrowed from
/// where the items are kept, nothing decoded but what is asked for.
#[derive(Clone, Copy)]
pub struct ItemView<'a> {
    record: Record<'a>,
    items: &'a Items,
}

impl std::fmt::Debug for ItemView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemView")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

impl<'a> ItemView<'a> {
    pub fn id(&self) -> &'a str {
        self.record.id()
    }

    /// The value of a name looked up with [`Items::name`].
    pub fn value_of(&self, name: Name) -> Option<&'a str> {
        match name {
            Name::Id => Some(self.record.id()),
            Name::Var(n) => self.record.var_at(n),
            Name::Unknown => None,
        }
    }

    /// What `{{ name }}` renders to for this item.
    pub fn value(&self, name: &str) -> Option<&'a str> {
        self.value_of(self.items.name(name))
    }

    /// The length in bytes of `template` rendered for this item ([`crate::rendered_len`]).
    pub fn rendered_len(&self, template: &str) -> usize {
        crate::template::rendered_len_with(template, |name| self.value(name))
    }
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
        table.finish();
        Self(Arc::new(Inner {
            table,
            places,
            all: OnceLock::new(),
        }))
    }

    /// No items: what a task's items are replaced with once a sweep no longer needs them
    /// (their offsets, 12 bytes an item, sat beside the end-of-run report's per-sample
    /// arrays at the peak of a large sweep's memory).
    pub fn empty() -> Self {
        Self::new(ItemTable::default(), Places::Listed(Vec::new()))
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

    /// Calls `f` with the item at `index` read in place, not decoded: what the checks
    /// before a run use to read one or two values of every item. `f` must not read these
    /// items again (a large task's items are read from a temporary file under a lock).
    pub fn view<R>(&self, index: usize, f: impl FnOnce(ItemView<'_>) -> R) -> R {
        self.0.table.with_record(index, |record| {
            f(ItemView {
                record,
                items: self,
            })
        })
    }

    /// `name` looked up once, for reading it from many items ([`ItemView::value_of`]).
    pub fn name(&self, name: &str) -> Name {
        match name {
            crate::template::ID => Name::Id,
            name => self
                .0
                .table
                .name_index(name)
                .map_or(Name::Unknown, Name::Var),
        }
    }

    /// The id of the item at `index`, without decoding its variables.
    pub fn id(&self, index: usize) -> String {
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
        // In memory, spilled item by item, and spilled every few items.
        for spill_at in [None, Some(1), Some(40)] {
            round_trip_and_select(spill_at);
        }
    }

    fn round_trip_and_select(spill_at: Option<usize>) {
        let mut table = spill_at.map_or_else(ItemTable::default, ItemTable::spilling_at);
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
        assert_eq!(table.is_spilled(), spill_at.is_some());
        for (i, item) in items.iter().enumerate() {
            assert_eq!(table.get(i), *item);
            assert_eq!(table.id(i), item.id);
        }
        assert_eq!(table.var(0, "z"), Some(long.clone()));
        assert_eq!(table.var(1, "z"), None);
        assert_eq!(table.var(2, "z").as_deref(), Some(""));
        assert_eq!(table.var(0, "nope"), None);
        let picked = table.select(&[2, 0]);
        assert_eq!(picked.is_spilled(), spill_at == Some(1));
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
                    all.view(i, |item| item.rendered_len(template)),
                    crate::render_item(template, &all.get(i)).len(),
                    "{template} {i}"
                );
            }
        }
    }

    /// A spilled table read back in any order: every item whole, whichever window of the
    /// file was read last, and nothing left in memory once it is complete.
    #[test]
    fn a_spilled_table_reads_back_every_item_in_any_order() {
        let mut table = ItemTable::spilling_at(4096);
        let item = |i: usize| Item {
            id: format!("q{i}"),
            vars: BTreeMap::from([
                ("n".into(), i.to_string()),
                // Some items longer than the window, the others short.
                (
                    "text".into(),
                    "é".repeat(if i == 5 || i == 4_321 { WINDOW } else { i % 50 }),
                ),
            ]),
        };
        let n = 5_000;
        for i in 0..n {
            table.push_item(&item(i));
        }
        let items = Items::new(table, Places::Listed(Vec::new()));
        assert!(items.0.table.is_spilled());
        assert!(items.0.table.data.is_empty());
        let mut order: Vec<usize> = (0..n).collect();
        // A fixed shuffle (no random crate needed): a multiplicative permutation of 0..n.
        order.sort_by_key(|&i| (i * 7_919) % n);
        for &i in order.iter().chain(&(0..n).collect::<Vec<_>>()) {
            assert_eq!(items.get(i), item(i), "item {i}");
            let n_name = items.name("n");
            items.view(i, |v| {
                assert_eq!(v.id(), format!("q{i}"));
                assert_eq!(v.value_of(n_name), Some(i.to_string().as_str()));
            });
        }
    }
}
