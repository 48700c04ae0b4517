//! A task's items: inline, from an items file or a named dataset; `id-field` and `fields`;
//! `limit`, `sample` and `seed`; duplicate ids.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::path::PathBuf;

use llmbench_core::FileContent;
use llmbench_core::Item;
use toml::Spanned;

use super::DatasetFile;
use super::checker::Validator;
use crate::dataset::{self, EachRecord, FileErrors, Format};
use crate::de_error::{self, backticked};
use crate::error::ConfigErrorKind;
use crate::files::{self, Limit};
use crate::item_table::ItemTable;
use crate::items::{self, FromRecords, Located, Mapping, Origins, Subset};
use crate::model::{SourceFile, SourceRole};
use crate::raw::RawItem;
use crate::template;

use ConfigErrorKind as K;

/// `fields = { variable = "field" }` as written.
pub(super) type RawFields = Spanned<crate::raw::Entries<Spanned<String>>>;

/// The source of a task's items, as written.
pub(super) struct ItemKeys {
    pub(super) inline: Option<Spanned<Vec<RawItem>>>,
    pub(super) file: Option<Spanned<String>>,
    pub(super) dataset: Option<Spanned<String>>,
    pub(super) id_field: Option<Spanned<String>>,
    pub(super) fields: Option<RawFields>,
    pub(super) limit: Option<Spanned<i64>>,
    pub(super) sample: Option<Spanned<i64>>,
    pub(super) seed: Option<Spanned<i64>>,
}

/// The items of `table` whose id an earlier item has: (index, index of the last item before
/// it with that id), in order.
///
/// A map of every id to its first index took about 50 bytes per item (50 MB at a million
/// items, at the peak of a large sweep's memory): this sorts 8-byte hashes of the ids
/// instead, then looks up exactly only the ids whose hash another id has (almost always
/// none but the duplicates).
fn duplicates(table: &ItemTable) -> Vec<(usize, usize)> {
    // Fixed keys: the same hashes in both passes (and on every run).
    let hash = |id: &str| {
        let mut hasher = std::hash::DefaultHasher::new();
        id.hash(&mut hasher);
        hasher.finish()
    };
    let mut hashes: Vec<u64> = (0..table.len())
        .map(|i| table.with_record(i, |r| hash(r.id())))
        .collect();
    hashes.sort_unstable();
    let mut shared: Vec<u64> = hashes
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    drop(hashes);
    shared.dedup();
    let mut found = Vec::new();
    if shared.is_empty() {
        return found;
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for i in 0..table.len() {
        let Some(id) = table.with_record(i, |r| {
            let id = r.id();
            shared
                .binary_search(&hash(id))
                .is_ok()
                .then(|| id.to_owned())
        }) else {
            continue;
        };
        if let Some(first) = seen.insert(id, i) {
            found.push((i, first));
        }
    }
    found
}

impl Validator<'_> {
    /// A task's items, all of them (for the template checks), and the indices of those it
    /// runs (`limit`, `sample`), in file order: `None` when it runs them all.
    pub(super) fn items(
        &mut self,
        at: &str,
        key: &Spanned<String>,
        keys: ItemKeys,
    ) -> (Located, Option<Vec<usize>>) {
        let ItemKeys {
            inline,
            file,
            dataset,
            id_field,
            fields,
            limit,
            sample,
            seed,
        } = keys;
        // At most one source: report the later keys of a pair.
        let mut conflict = false;
        for (later, later_name, earlier) in [
            (
                file.as_ref().map(Spanned::span),
                "items-file",
                inline.as_ref().map(|_| "items"),
            ),
            (
                dataset.as_ref().map(Spanned::span),
                "dataset",
                inline
                    .as_ref()
                    .map(|_| "items")
                    .or(file.as_ref().map(|_| "items-file")),
            ),
        ] {
            if let (Some(span), Some(earlier)) = (later, earlier) {
                self.sink
                    .error(
                        K::Conflict,
                        span,
                        format!("`{at}` has both `{earlier}` and `{later_name}`"),
                    )
                    .help("keep one of them");
                conflict = true;
            }
        }
        let subset = self.subset(at, limit.as_ref(), sample.as_ref(), seed.as_ref());
        let mapping = self.mapping(at, id_field.as_ref(), fields.as_ref());
        let from_file = file.is_some() || dataset.is_some();
        if !from_file {
            let keys: [(&str, Option<Range<usize>>); 5] = [
                ("id-field", id_field.as_ref().map(Spanned::span)),
                ("fields", fields.as_ref().map(Spanned::span)),
                ("limit", limit.as_ref().map(Spanned::span)),
                ("sample", sample.as_ref().map(Spanned::span)),
                ("seed", seed.as_ref().map(Spanned::span)),
            ];
            for (name, span) in keys {
                if let Some(span) = span {
                    self.sink
                        .error(
                            K::Conflict,
                            span,
                            format!("`{at}.{name}` applies only to `items-file` and `dataset`"),
                        )
                        .help("remove it, or read the items from a file");
                }
            }
        }
        if conflict {
            return (Located::empty(), None);
        }

        let located = if let Some(inline) = inline {
            if inline.get_ref().is_empty() {
                self.sink
                    .error(K::Item, inline.span(), format!("`{at}.items` is empty"))
                    .help("add items, or remove `items` for a single item without variables");
            }
            items::inline(&mut self.sink, &format!("{at}.items"), inline.into_inner())
        } else if let Some(file) = &file {
            self.non_empty(&format!("{at}.items-file"), file);
            let path = self.base.join(file.get_ref());
            self.items_file(
                path,
                file.span(),
                &mapping,
                (id_field.as_ref(), fields.as_ref()),
            )
        } else if let Some(name) = &dataset {
            match self.dataset(name) {
                Some(path) => self.items_file(
                    path,
                    name.span(),
                    &mapping,
                    (id_field.as_ref(), fields.as_ref()),
                ),
                None => Located::empty(),
            }
        } else {
            let mut table = crate::item_table::ItemTable::default();
            table.push_item(&Item {
                id: "default".to_owned(),
                vars: BTreeMap::new(),
            });
            Located {
                table,
                origins: Origins::Default,
            }
        };

        for (i, first) in duplicates(&located.table) {
            let id = located.table.id(i);
            let mut error = located.origin(i).error(
                &self.sink,
                K::Duplicate,
                format!("duplicate item id `{id}` in task `{}`", key.get_ref()),
            );
            if let Some(place) = located
                .origin(first)
                .describe(self.sink.path, self.sink.source)
            {
                error = error.with_help(format!("the first is at {place}"));
            }
            self.sink.push(error);
        }
        let selected = items::select(
            located.len(),
            |i, hasher| {
                located
                    .table
                    .with_record(i, |r| sha2::Digest::update(hasher, r.id()))
            },
            subset,
        );
        (located, selected)
    }
    /// `limit`, `sample` and `seed`.
    fn subset(
        &mut self,
        at: &str,
        limit: Option<&Spanned<i64>>,
        sample: Option<&Spanned<i64>>,
        seed: Option<&Spanned<i64>>,
    ) -> Subset {
        let max = i64::from(u32::MAX);
        let limit = limit.map(|l| (self.int(&format!("{at}.limit"), l, 1, max), l.span()));
        let sample = sample.map(|n| self.int(&format!("{at}.sample"), n, 1, max) as usize);
        let seed_value = seed.map_or(0, |s| {
            self.int(&format!("{at}.seed"), s, 0, i64::MAX) as u64
        });
        match (limit, sample) {
            (Some((_, span)), Some(_)) => {
                self.sink
                    .error(
                        K::Conflict,
                        span,
                        format!("`{at}` has both `limit` and `sample`"),
                    )
                    .help("`limit` runs the first N items, `sample` N drawn at random: keep one");
                Subset::All
            }
            (Some((n, _)), None) => {
                if let Some(seed) = seed {
                    self.sink
                        .error(
                            K::Conflict,
                            seed.span(),
                            format!("`{at}.seed` applies only to `sample`"),
                        )
                        .help("remove `seed`, or use `sample`");
                }
                Subset::Limit(n as usize)
            }
            (None, Some(n)) => Subset::Sample {
                n,
                seed: seed_value,
            },
            (None, None) => {
                if let Some(seed) = seed {
                    self.sink
                        .error(
                            K::Conflict,
                            seed.span(),
                            format!("`{at}.seed` applies only to `sample`"),
                        )
                        .help("remove `seed`, or add `sample = N`");
                }
                Subset::All
            }
        }
    }

    /// `id-field` and `fields`.
    fn mapping(
        &mut self,
        at: &str,
        id_field: Option<&Spanned<String>>,
        fields: Option<&RawFields>,
    ) -> Mapping {
        let id_field = id_field.map(|f| self.non_empty(&format!("{at}.id-field"), f));
        let mut mapping = Vec::new();
        for (variable, field) in fields.iter().flat_map(|f| &f.get_ref().0) {
            let name = variable.get_ref();
            if name == template::ID {
                self.sink
                    .error(
                        K::InvalidValue,
                        variable.span(),
                        format!("`{at}.fields` cannot set `id`: `{{{{ id }}}}` is the item's id"),
                    )
                    .help("name the field holding the id with `id-field`");
                continue;
            }
            if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '{' || c == '}')
            {
                self.sink
                    .error(
                        K::InvalidValue,
                        variable.span(),
                        format!("invalid variable name {name:?} in `{at}.fields`"),
                    )
                    .help("a variable name has no spaces or braces");
                continue;
            }
            let field = self.non_empty(&format!("{at}.fields.{name}"), field);
            mapping.push((name.clone(), field));
        }
        Mapping {
            id_field,
            fields: mapping,
        }
    }

    /// The cached file of the dataset `name`, or an error at `name`.
    fn dataset(&mut self, name: &Spanned<String>) -> Option<PathBuf> {
        let known: Vec<&str> = llmbench_models::DATASETS.iter().map(|d| d.name).collect();
        match (self.datasets)(name.get_ref()) {
            DatasetFile::Fetched(path) => Some(path),
            DatasetFile::NotFetched(path) => {
                let shown = name.get_ref();
                self.sink
                    .error(
                        K::DatasetNotFetched,
                        name.span(),
                        format!(
                            "dataset `{shown}` is not in the local cache: run `llmbench datasets fetch {shown}`"
                        ),
                    )
                    .help(format!(
                        "it is fetched once, verified, and kept at {}",
                        path.display()
                    ));
                None
            }
            DatasetFile::Unknown => {
                let error = self.sink.error(
                    K::InvalidValue,
                    name.span(),
                    format!("unknown dataset {:?}", name.get_ref()),
                );
                match de_error::suggest(name.get_ref(), &known) {
                    Some(best) => error.help(format!(
                        "did you mean `{best}`? The known datasets are {}",
                        backticked(&known)
                    )),
                    None => error.help(format!("the known datasets are {}", backticked(&known))),
                }
                None
            }
            DatasetFile::Error(message) => {
                self.sink.error(
                    K::Io,
                    name.span(),
                    format!("cannot find the dataset cache: {message}"),
                );
                None
            }
        }
    }

    /// The items of the file at `path` (named at `span` of the config), in its format.
    fn items_file(
        &mut self,
        path: PathBuf,
        span: Range<usize>,
        mapping: &Mapping,
        keys: (Option<&Spanned<String>>, Option<&RawFields>),
    ) -> Located {
        let (id_field, fields) = keys;
        let Some(format) = Format::of(&path) else {
            self.sink
                .error(
                    K::InvalidValue,
                    span,
                    format!("unknown items file format: {}", path.display()),
                )
                .help(format!("name the file {}", dataset::ACCEPTED));
            return Located::empty();
        };
        // A plain `.jsonl` file on disk is read as a stream, never whole
        // (`files::stream_jsonl`); another format, a `.gz` file and a run's stored copy are
        // read whole.
        let streamed =
            matches!(format, Format::Jsonl) && !files::is_gzip(&path) && self.stored.is_none();
        let bytes;
        let text = if streamed {
            None
        } else {
            let Some((_, read)) = self.read_path(path.clone(), span.clone(), Limit::ITEMS) else {
                return Located::empty();
            };
            bytes = read;
            let Some(text) = self.text(&path, &bytes, span.clone(), Limit::ITEMS) else {
                return Located::empty();
            };
            Some(text)
        };
        // The records of the file, in memory or from disk; for a file read from disk, the
        // size and SHA-256 of each pass are kept (both passes must have read the same).
        let mut reads: Vec<(u64, [u8; 32])> = Vec::new();
        let mut read = |errors: &mut FileErrors<'_>, each: &mut EachRecord<'_>| match &text {
            Some(text) => {
                dataset::read(format, text, errors, each);
                Ok(())
            }
            None => files::stream_jsonl(&path, Limit::ITEMS, errors, each).map(|r| reads.push(r)),
        };
        let before = self.sink.errors.len();
        let mut errors = Vec::new();
        let mut usable = true;
        let named = id_field.is_some() || fields.is_some_and(|f| !f.get_ref().0.is_empty());
        if named {
            // A field named in the config that no item has: one error, at the config, and
            // no item. A first pass over the records tells (only when a field is named):
            // the items are made in a second, so that no record is held between the two.
            let mut records = 0usize;
            let mut has_id_field = false;
            let wanted: Vec<&str> = fields
                .iter()
                .flat_map(|f| &f.get_ref().0)
                .map(|(_, field)| field.get_ref().as_str())
                .collect();
            let mut found = vec![false; wanted.len()];
            // The field names the items have, for suggestions (a bounded list).
            let mut names: Vec<String> = Vec::new();
            let mut file_errors = FileErrors::new(&path, &mut errors);
            let first = read(&mut file_errors, &mut |record, _| {
                records += 1;
                has_id_field |= id_field.is_some_and(|f| record.fields.contains_key(f.get_ref()));
                for (i, name) in wanted.iter().enumerate() {
                    found[i] |= record.fields.contains_key(*name);
                }
                for key in record.fields.keys() {
                    if names.len() < 256 && !names.contains(key) {
                        names.push(key.clone());
                    }
                }
            });
            if let Err(message) = first {
                self.sink.error(K::Io, span, message);
                return Located::empty();
            }
            if records > 0 {
                if let Some(id_field) = id_field
                    && !has_id_field
                {
                    self.sink.error(
                        K::Item,
                        id_field.span(),
                        format!(
                            "no item in {} has the field `{}` (the `id-field`)",
                            path.display(),
                            id_field.get_ref()
                        ),
                    );
                    usable = false;
                }
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                let pairs = fields.iter().flat_map(|f| &f.get_ref().0);
                for ((variable, field), found) in pairs.zip(&found) {
                    if *found {
                        continue;
                    }
                    let name = field.get_ref();
                    let error = self.sink.error(
                        K::Item,
                        field.span(),
                        format!(
                            "no item in {} has the field `{name}` (for the variable `{}`)",
                            path.display(),
                            variable.get_ref()
                        ),
                    );
                    match de_error::suggest(name, &names) {
                        Some(best) => error.help(format!("did you mean `{best}`?")),
                        None => error.help(format!("the items have fields {}", backticked(&names))),
                    }
                }
            }
            if usable {
                // The second pass reports the file's errors again, with the items'.
                errors.clear();
            }
        }
        let located = if usable {
            let mut items = FromRecords::new(mapping);
            let mut file_errors = FileErrors::new(&path, &mut errors);
            let second = read(&mut file_errors, &mut |record, errors| {
                items.push(record, errors);
            });
            if let Err(message) = second {
                self.sink.error(K::Io, span, message);
                return Located::empty();
            }
            items.finish(&path)
        } else {
            Located::empty()
        };
        drop(text);
        if streamed && !self.record_streamed(&path, &reads, span.clone()) {
            return Located::empty();
        }
        self.sink.errors.append(&mut errors);
        if located.is_empty() && self.sink.errors.len() == before {
            self.sink
                .error(K::Item, span, format!("no items in {}", path.display()));
        }
        located
    }
}

impl Validator<'_> {
    /// Records an items file read as a stream ([`Config::files`], as [`Validator::read_path`]
    /// records a file read whole): where it is, and the size and SHA-256 of what was read,
    /// for the run to read it again and store it. `false` (an error at `span`) when its
    /// passes, or another task's read of it, did not read the same bytes.
    fn record_streamed(
        &mut self,
        path: &std::path::Path,
        reads: &[(u64, [u8; 32])],
        span: Range<usize>,
    ) -> bool {
        let changed = || {
            format!(
                "{} changed while the config was read: read it again once it is written",
                path.display()
            )
        };
        let Some(&(len, sha256)) = reads.first() else {
            return true;
        };
        if reads.iter().any(|r| *r != (len, sha256)) {
            self.sink.error(K::Io, span, changed());
            return false;
        }
        let resolved = self.resolve(path);
        let content = FileContent::Disk {
            path: resolved.clone(),
            len,
            sha256,
        };
        match self.files.iter().find(|f| f.path == resolved) {
            // Named by another task too: the same bytes, or the file changed in between.
            Some(file) if file.content.sha256_hex() == content.sha256_hex() => true,
            Some(_) => {
                self.sink.error(K::Io, span, changed());
                false
            }
            None => {
                self.files.push(SourceFile {
                    role: SourceRole::Items,
                    path: resolved,
                    content,
                });
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::parse_with;
    use super::*;
    use crate::model::Config;

    #[test]
    fn duplicates_name_each_later_item_and_the_first() {
        // In memory, and spilled to the temporary file.
        for mut table in [ItemTable::default(), ItemTable::spilling_at(1)] {
            for id in ["a", "b", "a", "c", "b", "a", "d"] {
                table.push(id, std::iter::empty());
            }
            // As the map of every id did: each repeat names the one before it.
            assert_eq!(duplicates(&table), [(2, 0), (4, 1), (5, 2)]);
        }
        let mut unique = ItemTable::default();
        for i in 0..10_000 {
            unique.push(&format!("q{i}"), std::iter::empty());
        }
        assert_eq!(duplicates(&unique), []);
    }

    /// A config whose task reads the named dataset `name`, looked up by `lookup`.
    fn with_dataset(
        name: &str,
        extra: &str,
        lookup: &dyn Fn(&str) -> DatasetFile,
    ) -> Result<Config, String> {
        let source = format!(
            "[providers.p]\nplugin = \"provider-replay\"\nmodel = \"m\"\n[tasks.t]\nprompt = \"{{{{ prompt }}}}\"\ndataset = \"{name}\"\n{extra}"
        );
        parse_with(&source, Path::new("x.toml"), lookup).map_err(|e| e.to_string())
    }

    #[test]
    fn named_datasets_resolve_or_say_how_to_fetch() {
        let dir = tempfile::tempdir().unwrap();
        let cached = dir.path().join("b796127e635a67f9-HumanEval.jsonl.gz");
        let lookup = |name: &str| match name {
            "humaneval" if cached.is_file() => DatasetFile::Fetched(cached.clone()),
            "humaneval" => DatasetFile::NotFetched(cached.clone()),
            _ => DatasetFile::Unknown,
        };
        let e = with_dataset("humaneval", "", &lookup).unwrap_err();
        assert!(
            e.starts_with("x.toml:6:11: dataset `humaneval` is not in the local cache: run `llmbench datasets fetch humaneval`"),
            "{e}"
        );
        let errors = parse_with(
            "[providers.p]\nplugin = \"x\"\nmodel = \"m\"\n[tasks.t]\nprompt = \"a\"\ndataset = \"humaneval\"\n",
            Path::new("x.toml"),
            &lookup,
        )
        .unwrap_err();
        assert_eq!(errors.0[0].kind, K::DatasetNotFetched);
        assert_eq!(errors.0[0].kind(), "dataset_not_fetched");

        let e = with_dataset("human-eval", "", &lookup).unwrap_err();
        assert_eq!(
            e,
            "x.toml:6:11: unknown dataset \"human-eval\"\n  help: did you mean `humaneval`? The known datasets are `humaneval`"
        );
        let e = with_dataset("humaneval", "items-file = \"i.jsonl\"\n", &lookup).unwrap_err();
        assert!(
            e.starts_with("x.toml:6:11: `tasks.t` has both `items-file` and `dataset`"),
            "{e}"
        );

        // Fetched: read as `.jsonl.gz`, with HumanEval's ids.
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(
            &mut encoder,
            b"{\"task_id\": \"HumanEval/0\", \"prompt\": \"def a():\"}\n{\"task_id\": \"HumanEval/1\", \"prompt\": \"def b():\"}\n",
        )
        .unwrap();
        std::fs::write(&cached, encoder.finish().unwrap()).unwrap();
        let config =
            with_dataset("humaneval", "id-field = \"task_id\"\nlimit = 1\n", &lookup).unwrap();
        let task = &config.tasks[0];
        assert_eq!(task.items.len(), 1);
        assert_eq!(task.items.get(0).id, "HumanEval/0");
        assert_eq!(task.items.get(0).vars["prompt"], "def a():");
        assert_eq!(task.item_place(0), format!("{}:1", cached.display()));
    }
}
