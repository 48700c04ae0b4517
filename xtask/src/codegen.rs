//! `cargo xtask codegen [--check]`: the config reference (`docs/config.md`) and the plugin
//! option references (`docs/plugins/*.md`), generated from the doc comments of the structs
//! serde reads them with (`crates/llmbench-config/src/raw.rs` and each plugin's options
//! struct).
//!
//! The sources are parsed with `syn`, not scanned with patterns: a struct's fields, their
//! types, their `#[serde(...)]` attributes (`rename_all`, `rename`, `default`) and their doc
//! comments. A field's row gives its key, its type (`Option<Spanned<String>>` is an optional
//! string, `Vec<...>` an array, a struct of the same source a table with its own section), its
//! default (the doc's `Default ...` sentence, else the `#[serde(default = "...")]` function's
//! value, else the type's), its unit (from the key's suffix: `-seconds`, `-usd`, ...) and its
//! meaning (the doc comment).
//!
//! `--check` rewrites nothing and fails, with a diff, when a generated file is stale; the
//! tidy test below runs the same check, so `cargo test --workspace` fails on a stale
//! reference too.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use syn::{Expr, Fields, Item, Lit, Type};

use crate::root;

/// Where the config reference is written, relative to the workspace root.
const CONFIG_DOC: &str = "docs/config.md";
/// Where the plugin option references are written, one file per plugin plus an index.
const PLUGINS_DIR: &str = "docs/plugins";
/// The raw config structs.
const RAW_CONFIG: &str = "crates/llmbench-config/src/raw.rs";

/// A shipped plugin whose options are documented: its name (the directory in `plugins/`),
/// the file holding its options struct (every `.rs` file of that directory is read too,
/// for the types the struct uses) and the struct's name.
struct PluginOptions {
    name: &'static str,
    file: &'static str,
    options: &'static str,
}

const PLUGINS: &[PluginOptions] = &[
    PluginOptions {
        name: "provider-anthropic",
        file: "crates/llmbench-provider-anthropic/src/lib.rs",
        options: "Options",
    },
    PluginOptions {
        name: "provider-local",
        file: "plugins/provider-local/src/provider.rs",
        options: "Options",
    },
    PluginOptions {
        name: "provider-openai",
        file: "crates/llmbench-provider-openai/src/lib.rs",
        options: "Options",
    },
    PluginOptions {
        name: "provider-replay",
        file: "plugins/provider-replay/src/lib.rs",
        options: "Options",
    },
    PluginOptions {
        name: "grader-llm-judge",
        file: "plugins/grader-llm-judge/src/lib.rs",
        options: "Options",
    },
    PluginOptions {
        name: "grader-match",
        file: "plugins/grader-match/src/options.rs",
        options: "Options",
    },
    PluginOptions {
        name: "grader-python-exec",
        file: "plugins/grader-python-exec/src/options.rs",
        options: "OptionsWire",
    },
    PluginOptions {
        name: "grader-regex",
        file: "plugins/grader-regex/src/lib.rs",
        options: "Options",
    },
    PluginOptions {
        name: "grader-sections",
        file: "plugins/grader-sections/src/lib.rs",
        options: "Options",
    },
];

/// One generated file.
#[derive(Debug)]
pub(crate) struct Generated {
    /// Relative to the workspace root.
    pub(crate) path: PathBuf,
    pub(crate) text: String,
}

/// `cargo xtask codegen [--check]`.
pub(crate) fn codegen(args: &[String]) -> anyhow::Result<()> {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => bail!("usage: cargo xtask codegen [--check]"),
    };
    let root = root();
    let files = generate(&root)?;
    if check {
        let stale = stale(&root, &files);
        if stale.is_empty() {
            eprintln!("codegen: {} generated files are up to date", files.len());
            return Ok(());
        }
        for problem in &stale {
            eprintln!("{problem}");
        }
        bail!(
            "{} generated file(s) are stale: run `cargo xtask codegen` and commit the result",
            stale.len()
        );
    }
    for file in &files {
        let path = root.join(&file.path);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(file.text.as_str()) {
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&path, &file.text)
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("codegen: wrote {}", file.path.display());
    }
    for extra in extra_plugin_docs(&root, &files) {
        std::fs::remove_file(root.join(&extra))
            .with_context(|| format!("cannot remove {}", extra.display()))?;
        eprintln!("codegen: removed {} (no such plugin)", extra.display());
    }
    Ok(())
}

/// Every generated file, from the sources under `root`.
pub(crate) fn generate(root: &Path) -> anyhow::Result<Vec<Generated>> {
    let mut files = vec![Generated {
        path: PathBuf::from(CONFIG_DOC),
        text: config_reference(root)?,
    }];
    let mut index = String::new();
    index.push_str(&banner(
        "the options structs listed in `xtask/src/codegen.rs`",
    ));
    index.push_str(
        "# Plugin options\n\nWhat each shipped plugin accepts in its `options` table (a provider's \
         `[providers.NAME]` or a grader's `[[tasks.NAME.graders]]`; see the \
         [config reference](../config.md)). Unknown keys are errors.\n\n\
         | plugin | what it does |\n|---|---|\n",
    );
    for plugin in PLUGINS {
        let (text, description) = plugin_reference(root, plugin)?;
        let _ = writeln!(
            index,
            "| [`{0}`]({0}.md) | {1} |",
            plugin.name,
            cell(&description)
        );
        files.push(Generated {
            path: Path::new(PLUGINS_DIR).join(format!("{}.md", plugin.name)),
            text,
        });
    }
    files.push(Generated {
        path: Path::new(PLUGINS_DIR).join("README.md"),
        text: index,
    });
    Ok(files)
}

/// What is wrong with the files on disk, each with a diff hint; empty when all are fresh.
pub(crate) fn stale(root: &Path, files: &[Generated]) -> Vec<String> {
    let mut problems = Vec::new();
    for file in files {
        let shown = file.path.display().to_string();
        match std::fs::read_to_string(root.join(&file.path)) {
            Err(e) => problems.push(format!("{shown}: cannot read the generated file: {e}")),
            Ok(old) if old == file.text => {}
            Ok(old) => {
                let diff = similar::TextDiff::from_lines(&old, &file.text);
                let unified = diff
                    .unified_diff()
                    .context_radius(1)
                    .header(
                        &format!("{shown} (on disk)"),
                        &format!("{shown} (generated)"),
                    )
                    .to_string();
                const MAX_LINES: usize = 40;
                let mut hint: Vec<&str> = unified.lines().take(MAX_LINES).collect();
                let more = unified.lines().count().saturating_sub(MAX_LINES);
                let tail = format!("... {more} more diff lines");
                if more > 0 {
                    hint.push(&tail);
                }
                problems.push(format!("{shown} is stale:\n{}", hint.join("\n")));
            }
        }
    }
    for extra in extra_plugin_docs(root, files) {
        problems.push(format!(
            "{}: not generated for any plugin (listed in xtask/src/codegen.rs)",
            extra.display()
        ));
    }
    problems
}

/// Markdown files in `docs/plugins/` that codegen did not generate.
fn extra_plugin_docs(root: &Path, files: &[Generated]) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root.join(PLUGINS_DIR)) else {
        return Vec::new();
    };
    let mut extra: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| Path::new(PLUGINS_DIR).join(e.file_name()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .filter(|p| !files.iter().any(|f| &f.path == p))
        .collect();
    extra.sort();
    extra
}

fn banner(source: &str) -> String {
    format!("<!-- Generated by `cargo xtask codegen` from {source}; do not edit by hand. -->\n\n")
}

/// `docs/config.md`.
fn config_reference(root: &Path) -> anyhow::Result<String> {
    let source = Source::load(root, &[PathBuf::from(RAW_CONFIG)])?;
    let mut out = banner(&format!("the doc comments of `{RAW_CONFIG}`"));
    out.push_str(
        "# Config reference\n\n\
         Every key of a benchmark config file (TOML), with its type, default, unit and meaning. \
         Keys are kebab-case and unknown keys are errors, reported with file, line and column. \
         Relative paths are relative to the config file's directory. What goes in a plugin's \
         `options` table is documented per plugin in [plugins](plugins/README.md).\n",
    );
    let mut seen = BTreeSet::new();
    source.section(&mut out, "RawConfig", Some("Top level"), &mut seen)?;
    Ok(out)
}

/// `docs/plugins/NAME.md` and the plugin's one-line description.
fn plugin_reference(root: &Path, plugin: &PluginOptions) -> anyhow::Result<(String, String)> {
    let file = PathBuf::from(plugin.file);
    let dir = file.parent().expect("a source file is in a directory");
    let mut files = vec![file.clone()];
    let mut others: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| dir.join(e.file_name()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs") && *p != file)
        .collect();
    others.sort();
    files.extend(others);
    let source = Source::load(root, &files)?;

    let manifest_path = root.join("plugins").join(plugin.name).join("Cargo.toml");
    let manifest: toml::Table = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("cannot read {}", manifest_path.display()))?
        .parse()
        .with_context(|| format!("{}: not a valid manifest", manifest_path.display()))?;
    let description = manifest
        .get("package")
        .and_then(|p| p.get("description"))
        .and_then(toml::Value::as_str)
        .with_context(|| format!("{}: no package.description", manifest_path.display()))?
        .to_owned();
    let place = if plugin.name.starts_with("provider-") {
        "a provider's `options` table: `[providers.NAME]` with `plugin = \"NAME\"`"
    } else {
        "a grader's `options` table: `[[tasks.NAME.graders]]` with `plugin = \"NAME\"`"
    }
    .replace("\"NAME\"", &format!("\"{}\"", plugin.name));

    let mut out = banner(&format!("`{}` (struct `{}`)", plugin.file, plugin.options));
    let _ = write!(
        out,
        "# `{name}`\n\n{description}.\n\nIts options go in {place}. Unknown keys are errors. The \
         crate documentation (`plugins/{name}/src/lib.rs`) says more about how it works.\n",
        name = plugin.name,
    );
    let mut seen = BTreeSet::new();
    source.section(&mut out, plugin.options, Some("Options"), &mut seen)?;
    Ok((out, description))
}

/// The parsed files a reference is generated from.
struct Source {
    /// (file relative to the root, its items), the main file first.
    files: Vec<(PathBuf, Vec<Item>)>,
}

impl Source {
    fn load(root: &Path, files: &[PathBuf]) -> anyhow::Result<Self> {
        let mut parsed = Vec::new();
        for file in files {
            let path = root.join(file);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            // (Line and column need proc-macro2's `span-locations`; the file name is enough
            // for code that compiles.)
            let syntax = syn::parse_file(&text)
                .map_err(|e| anyhow::anyhow!("{}: cannot parse: {e}", file.display()))?;
            parsed.push((file.clone(), syntax.items));
        }
        Ok(Self { files: parsed })
    }

    fn items(&self) -> impl Iterator<Item = &Item> {
        self.files.iter().flat_map(|(_, items)| items)
    }

    fn find_struct(&self, name: &str) -> Option<&syn::ItemStruct> {
        self.items().find_map(|i| match i {
            Item::Struct(s) if s.ident == name => Some(s),
            _ => None,
        })
    }

    fn find_enum(&self, name: &str) -> Option<&syn::ItemEnum> {
        self.items().find_map(|i| match i {
            Item::Enum(e) if e.ident == name => Some(e),
            _ => None,
        })
    }

    fn find_alias(&self, name: &str) -> Option<&syn::ItemType> {
        self.items().find_map(|i| match i {
            Item::Type(t) if t.ident == name => Some(t),
            _ => None,
        })
    }

    fn find_fn(&self, name: &str) -> Option<&syn::ItemFn> {
        self.items().find_map(|i| match i {
            Item::Fn(f) if f.sig.ident == name => Some(f),
            _ => None,
        })
    }

    fn find_const(&self, name: &str) -> Option<&syn::ItemConst> {
        self.items().find_map(|i| match i {
            Item::Const(c) if c.ident == name => Some(c),
            _ => None,
        })
    }

    /// The heading of a struct's section: the code its doc starts with (`` `[run]`: ... ``),
    /// else its name.
    fn title(&self, name: &str) -> String {
        let doc = self
            .find_struct(name)
            .map(|s| doc(&s.attrs))
            .unwrap_or_default();
        match split_title(&doc) {
            Some((title, _)) => title.to_owned(),
            None => format!("`{name}`"),
        }
    }

    /// Append the section of struct `name`, then the sections of the structs its fields use.
    fn section(
        &self,
        out: &mut String,
        name: &str,
        title: Option<&str>,
        seen: &mut BTreeSet<String>,
    ) -> anyhow::Result<()> {
        seen.insert(name.to_owned());
        let item = self
            .find_struct(name)
            .with_context(|| format!("no struct `{name}` in {}", self.files[0].0.display()))?;
        let struct_doc = doc(&item.attrs);
        let (heading, intro) = match (title, split_title(&struct_doc)) {
            // The config's doc is for users; a plugin's options struct's doc is about code.
            (Some(title), _) if name == "RawConfig" => (title.to_owned(), struct_doc.clone()),
            (Some(title), _) => (title.to_owned(), String::new()),
            (None, Some((title, rest))) => (title.to_owned(), capitalize(rest)),
            (None, None) => (format!("`{name}`"), struct_doc.clone()),
        };
        let rename_all = serde_attrs(&item.attrs)?.rename_all;
        let _ = write!(out, "\n<a id=\"{}\"></a>\n\n## {heading}\n\n", anchor(name));
        if !intro.is_empty() {
            let _ = writeln!(out, "{intro}\n");
        }
        out.push_str("| key | type | default | unit | meaning |\n|---|---|---|---|---|\n");
        let Fields::Named(fields) = &item.fields else {
            bail!("struct `{name}` has no named fields");
        };
        let mut nested = Vec::new();
        for field in &fields.named {
            let ident = field
                .ident
                .as_ref()
                .expect("named fields have names")
                .to_string();
            let ident = ident.trim_start_matches("r#");
            let attrs = serde_attrs(&field.attrs)?;
            if attrs.skip {
                continue;
            }
            let key = attrs
                .rename
                .clone()
                .unwrap_or_else(|| rename(ident, rename_all.as_deref()));
            let (ty, optional) = self.describe(&field.ty, &mut nested);
            let (meaning, doc_default) = split_default(&doc(&field.attrs));
            let default = match (doc_default, &attrs.default) {
                (Some(d), _) => d,
                (None, Some(SerdeDefault::Function(f))) => self
                    .default_fn_value(f)
                    .unwrap_or_else(|| "see meaning".to_owned()),
                (None, Some(SerdeDefault::Trait)) => trait_default(&field.ty),
                (None, None) if optional => "none".to_owned(),
                (None, None) => "**required**".to_owned(),
            };
            let meaning = if meaning.is_empty() {
                "*(undocumented)*".to_owned()
            } else {
                meaning
            };
            let _ = writeln!(
                out,
                "| `{key}` | {} | {} | {} | {} |",
                cell(&ty),
                cell(&default),
                unit(ident),
                cell(&meaning)
            );
        }
        for n in nested {
            if !seen.contains(&n) {
                self.section(out, &n, None, seen)?;
            }
        }
        Ok(())
    }

    /// A field type in words, and whether the key may be left out; structs of this source
    /// it refers to are pushed to `nested`.
    fn describe(&self, ty: &Type, nested: &mut Vec<String>) -> (String, bool) {
        match generic(ty) {
            Some((name, Some(inner))) if name == "Option" => (self.type_text(inner, nested), true),
            _ => (self.type_text(ty, nested), false),
        }
    }

    fn type_text(&self, ty: &Type, nested: &mut Vec<String>) -> String {
        let Some((name, inner)) = generic(ty) else {
            return "value".to_owned();
        };
        match (name.as_str(), inner) {
            ("Option" | "Spanned" | "Box", Some(inner)) => self.type_text(inner, nested),
            ("Vec", Some(inner)) => format!("array of {}", self.type_text(inner, nested)),
            ("Entries" | "HashMap" | "BTreeMap", Some(inner)) => {
                match self.type_text(inner, nested).as_str() {
                    "value" => "table".to_owned(),
                    text => format!("table of {text}"),
                }
            }
            ("String" | "str", _) => "string".to_owned(),
            ("PathBuf" | "Path", _) => "string (a path)".to_owned(),
            ("bool", _) => "boolean".to_owned(),
            ("f32" | "f64", _) => "number".to_owned(),
            (
                "i8" | "i16" | "i32" | "i64" | "isize" | "u8" | "u16" | "u32" | "u64" | "usize",
                _,
            ) => "integer".to_owned(),
            ("Table" | "Map", _) => "table".to_owned(),
            ("Value", _) => "value".to_owned(),
            (name, _) => {
                if let Some(alias) = self.find_alias(name) {
                    return self.type_text(&alias.ty, nested);
                }
                if self.find_struct(name).is_some() {
                    if !nested.iter().any(|n| n == name) {
                        nested.push(name.to_owned());
                    }
                    return format!("table ([{}](#{}))", self.title(name), anchor(name));
                }
                if let Some(e) = self.find_enum(name) {
                    return enum_text(e);
                }
                // A type from another crate (`llmbench_models::ModelSpec`): a table.
                "table".to_owned()
            }
        }
    }

    /// The value a `#[serde(default = "f")]` function returns, when it is a literal, a
    /// simple product of integers, an enum variant or a string constant.
    fn default_fn_value(&self, name: &str) -> Option<String> {
        let f = self.find_fn(name)?;
        let Some(syn::Stmt::Expr(expr, None)) = f.block.stmts.last() else {
            return None;
        };
        if f.block.stmts.len() != 1 {
            return None;
        }
        self.expr_value(expr)
    }

    fn expr_value(&self, expr: &Expr) -> Option<String> {
        match expr {
            Expr::Lit(lit) => lit_value(&lit.lit).map(|v| format!("`{v}`")),
            Expr::Binary(_) => int_value(expr).map(|v| format!("`{v}`")),
            Expr::MethodCall(call)
                if call.args.is_empty()
                    && ["to_owned", "to_string", "into"]
                        .contains(&call.method.to_string().as_str()) =>
            {
                self.expr_value(&call.receiver)
            }
            Expr::Path(path) => {
                let segments: Vec<String> = path
                    .path
                    .segments
                    .iter()
                    .map(|s| s.ident.to_string())
                    .collect();
                match segments.as_slice() {
                    [konst] => {
                        let c = self.find_const(konst)?;
                        self.expr_value(&c.expr)
                    }
                    [.., ty, variant] => {
                        let e = self.find_enum(ty)?;
                        let v = e.variants.iter().find(|v| v.ident == variant)?;
                        Some(format!("`{}`", variant_name(e, v)))
                    }
                    [] => None,
                }
            }
            _ => None,
        }
    }
}

/// The string, number or boolean a literal holds.
fn lit_value(lit: &Lit) -> Option<String> {
    match lit {
        Lit::Str(s) => Some(s.value()),
        Lit::Int(i) => Some(i.base10_digits().to_owned()),
        Lit::Float(f) => Some(f.base10_digits().to_owned()),
        Lit::Bool(b) => Some(b.value.to_string()),
        _ => None,
    }
}

/// The value of an integer expression such as `1024 * 1024`.
fn int_value(expr: &Expr) -> Option<u64> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse().ok(),
        Expr::Paren(p) => int_value(&p.expr),
        Expr::Binary(b) => {
            let (l, r) = (int_value(&b.left)?, int_value(&b.right)?);
            match b.op {
                syn::BinOp::Mul(_) => l.checked_mul(r),
                syn::BinOp::Add(_) => l.checked_add(r),
                syn::BinOp::Sub(_) => l.checked_sub(r),
                _ => None,
            }
        }
        _ => None,
    }
}

/// What `#[serde(default)]` gives a field of this type.
fn trait_default(ty: &Type) -> String {
    let name = generic(ty).map(|(name, _)| name).unwrap_or_default();
    match name.as_str() {
        "Option" => "none",
        "Vec" | "Entries" => "none",
        "bool" => "`false`",
        "String" => "`\"\"`",
        n if n.starts_with('u') || n.starts_with('i') || n.starts_with('f') => "`0`",
        // A table whose keys all have defaults.
        _ => "each key's default",
    }
    .to_owned()
}

/// The last path segment of a type and its first generic type argument:
/// `Option<Spanned<String>>` is `("Option", Some(Spanned<String>))`.
fn generic(ty: &Type) -> Option<(String, Option<&Type>)> {
    let Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    let inner = match &last.arguments {
        syn::PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
            syn::GenericArgument::Type(t) => Some(t),
            _ => None,
        }),
        _ => None,
    };
    Some((last.ident.to_string(), inner))
}

/// An enum's accepted values: its unit variants as strings (by their serde names), and
/// "table" for variants that hold data.
fn enum_text(e: &syn::ItemEnum) -> String {
    let names: Vec<String> = e
        .variants
        .iter()
        .filter(|v| matches!(v.fields, Fields::Unit))
        .map(|v| format!("`{}`", variant_name(e, v)))
        .collect();
    let has_data = e.variants.iter().any(|v| !matches!(v.fields, Fields::Unit));
    let derived = e.attrs.iter().any(|a| {
        a.path().is_ident("derive")
            && a.parse_args_with(
                syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
            )
            .is_ok_and(|paths| paths.iter().any(|p| p.is_ident("Deserialize")))
    });
    match (derived, has_data) {
        (true, false) => format!("string: {}", or_list(&names)),
        // Hand-written `Deserialize`: unit variants read from a string, the rest from a table.
        (false, true) => "string or table".to_owned(),
        (false, false) => "string".to_owned(),
        (true, true) => format!("string ({}) or table", or_list(&names)),
    }
}

/// The name serde gives an enum variant.
fn variant_name(e: &syn::ItemEnum, v: &syn::Variant) -> String {
    let own = serde_attrs(&v.attrs).ok().and_then(|a| a.rename);
    own.unwrap_or_else(|| {
        let rename_all = serde_attrs(&e.attrs).ok().and_then(|a| a.rename_all);
        let snake = pascal_to_snake(&v.ident.to_string());
        match rename_all.as_deref() {
            None | Some("PascalCase") => v.ident.to_string(),
            _ => rename(&snake, rename_all.as_deref()),
        }
    })
}

fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

fn pascal_to_snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// A snake_case field name as serde's `rename_all` spells it.
fn rename(snake: &str, rename_all: Option<&str>) -> String {
    match rename_all {
        Some("kebab-case") => snake.replace('_', "-"),
        Some("SCREAMING_SNAKE_CASE") => snake.to_uppercase(),
        Some("SCREAMING-KEBAB-CASE") => snake.replace('_', "-").to_uppercase(),
        Some("lowercase") => snake.replace('_', ""),
        _ => snake.to_owned(),
    }
}

/// A section's link target: the struct's name without `Raw`, in kebab case.
fn anchor(name: &str) -> String {
    pascal_to_snake(name.strip_prefix("Raw").unwrap_or(name)).replace('_', "-")
}

/// What `#[serde(default)]` says.
enum SerdeDefault {
    Trait,
    Function(String),
}

/// The `#[serde(...)]` attributes codegen reads.
#[derive(Default)]
struct SerdeAttrs {
    rename_all: Option<String>,
    rename: Option<String>,
    default: Option<SerdeDefault>,
    skip: bool,
}

fn serde_attrs(attrs: &[syn::Attribute]) -> syn::Result<SerdeAttrs> {
    let mut out = SerdeAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            let name = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            let value = if meta.input.peek(syn::Token![=]) {
                let lit: Lit = meta.value()?.parse()?;
                match lit {
                    Lit::Str(s) => Some(s.value()),
                    _ => None,
                }
            } else if meta.input.peek(syn::token::Paren) {
                meta.parse_nested_meta(|_| Ok(()))?;
                None
            } else {
                None
            };
            match (name.as_str(), value) {
                ("rename_all", Some(v)) => out.rename_all = Some(v),
                ("rename", Some(v)) => out.rename = Some(v),
                ("default", Some(f)) => out.default = Some(SerdeDefault::Function(f)),
                ("default", None) => out.default = Some(SerdeDefault::Trait),
                ("skip" | "skip_deserializing", _) => out.skip = true,
                _ => {}
            }
            Ok(())
        })?;
    }
    Ok(out)
}

/// A doc comment as one line of text (paragraph breaks become spaces).
fn doc(attrs: &[syn::Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("doc")) {
        if let syn::Meta::NameValue(nv) = &attr.meta
            && let Expr::Lit(syn::ExprLit {
                lit: Lit::Str(s), ..
            }) = &nv.value
        {
            lines.push(s.value().trim().to_owned());
        }
    }
    lines
        .into_iter()
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A struct doc that starts with code and a colon (`` `[run]`: settings ... ``): the code
/// and the rest.
fn split_title(doc: &str) -> Option<(&str, &str)> {
    if !doc.starts_with('`') {
        return None;
    }
    let end = doc[1..].find('`')? + 2;
    let rest = doc[end..].strip_prefix(':')?;
    Some((&doc[..end], rest.trim()))
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Byte offsets of `text` outside inline code (`` `...` ``).
fn outside_code(text: &str) -> Vec<bool> {
    let mut inside = false;
    let mut out = Vec::with_capacity(text.len());
    for b in text.bytes() {
        if b == b'`' {
            inside = !inside;
        }
        out.push(!inside && b != b'`');
    }
    out
}

/// Split a field's doc into its meaning and the default its `Default ...` sentence gives.
///
/// `Default` must start a sentence; the default runs to the end of that sentence (a `.`
/// followed by a space or the end, outside inline code), or to a `;` followed by code
/// (`` Default 5; `--grace-seconds` overrides ``). A trailing range (`Default 1, at least
/// 1.`) stays in the meaning.
fn split_default(doc: &str) -> (String, Option<String>) {
    let plain = outside_code(doc);
    let starts = doc
        .match_indices("Default")
        .map(|(i, _)| i)
        .filter(|&i| plain[i] && (i == 0 || doc[..i].ends_with(". ") || doc[..i].ends_with("; ")));
    for start in starts {
        let after_word = start + "Default".len();
        let rest = &doc[after_word..];
        let value_start = after_word + (rest.len() - rest.trim_start_matches([':', ' ']).len());
        if value_start == after_word {
            continue; // `Defaults ...` or `Default-...`
        }
        // The end of the sentence.
        let bytes = doc.as_bytes();
        let mut end = doc.len();
        let mut resume = doc.len();
        let mut i = value_start;
        while i < doc.len() {
            if plain[i] && bytes[i] == b'.' && (i + 1 == doc.len() || bytes[i + 1] == b' ') {
                end = i;
                resume = (i + 2).min(doc.len());
                break;
            }
            if plain[i] && bytes[i] == b';' && doc[i + 1..].starts_with(" `") {
                end = i;
                resume = i + 2;
                break;
            }
            i += 1;
        }
        let mut value = doc[value_start..end].trim().to_owned();
        let mut kept = String::new();
        for range in [", at least ", ", more than ", ", 0 or more", ", 0 to "] {
            if let Some(at) = value.find(range) {
                kept = format!("{}.", capitalize(&value[at + 2..]));
                value.truncate(at);
                break;
            }
        }
        let mut meaning = doc[..start].trim_end().to_owned();
        for part in [kept.as_str(), doc[resume..].trim()] {
            if !part.is_empty() {
                if !meaning.is_empty() {
                    meaning.push(' ');
                }
                meaning.push_str(part);
            }
        }
        return (meaning, Some(value));
    }
    (doc.to_owned(), None)
}

/// The unit of a value, from its key's suffix.
fn unit(snake: &str) -> &'static str {
    const UNITS: &[(&str, &str)] = &[
        ("_per_mtok", "USD per million tokens"),
        ("_usd", "USD"),
        ("_seconds", "seconds"),
        ("_ms", "milliseconds"),
        ("_tokens_per_minute", "tokens per minute"),
        ("requests_per_minute", "requests per minute"),
        ("_tokens", "tokens"),
        ("_mb", "MB"),
        ("_bytes", "bytes"),
        ("_chars", "characters"),
        ("_ratio", "fraction"),
    ];
    UNITS
        .iter()
        .find(|(suffix, _)| snake.ends_with(suffix))
        .map_or("", |(_, unit)| unit)
}

/// Text safe in a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_references_are_fresh() {
        let root = root();
        let files = generate(&root).expect("the sources parse");
        let stale = stale(&root, &files);
        assert!(
            stale.is_empty(),
            "generated docs are stale; run `cargo xtask codegen`:\n{}",
            stale.join("\n")
        );
    }

    #[test]
    fn the_config_reference_covers_every_raw_struct_and_key() {
        let text = config_reference(&root()).unwrap();
        for section in [
            "`[run]`",
            "`[providers.NAME]`",
            "`[tasks.NAME]`",
            "`[[tasks.NAME.graders]]`",
            "`[schedule]`",
            "`price = { ... }`",
        ] {
            assert!(text.contains(&format!("## {section}")), "{section}");
        }
        for row in [
            "| `repeats` | integer | 1 |  | How many times each (task, item, provider) is asked. At least 1. |",
            "| `timeout-seconds` | number | 300 | seconds |",
            "| `stop` | array of string | none |",
            "| `plugin` | string | **required** |",
            "| `rule` | string: `all-pass` or `weighted` | **required** |",
            "| `providers` | table of table ([`[providers.NAME]`](#provider)) |",
        ] {
            assert!(text.contains(row), "missing {row:?} in:\n{text}");
        }
    }

    #[test]
    fn defaults_come_from_the_doc_sentence() {
        let (meaning, default) = split_default("Tries. Default 2, at least 1.");
        assert_eq!(
            (meaning.as_str(), default.as_deref()),
            ("Tries. At least 1.", Some("2"))
        );
        let (meaning, default) = split_default("Where. Default `127.0.0.1:9464`; `--x` overrides.");
        assert_eq!(meaning, "Where. `--x` overrides.");
        assert_eq!(default.as_deref(), Some("`127.0.0.1:9464`"));
        let (meaning, default) = split_default("Ratio (0 to 1). Default 0.1.");
        assert_eq!(
            (meaning.as_str(), default.as_deref()),
            ("Ratio (0 to 1).", Some("0.1"))
        );
        let (meaning, default) = split_default("A name. Default: the model id. More text.");
        assert_eq!(meaning, "A name. More text.");
        assert_eq!(default.as_deref(), Some("the model id"));
        // Not at a sentence start, or in code: no default.
        assert_eq!(split_default("Off by Default here.").1, None);
        assert_eq!(split_default("Use `Default 3.` here.").1, None);
    }

    #[test]
    fn serde_defaults_and_types_are_read_from_source() {
        let file: syn::File = syn::parse_str(
            r#"
            #[derive(Deserialize)]
            #[serde(rename_all = "kebab-case")]
            enum Mode { StartsWith, #[serde(rename = "f1")] F1 }
            const URL: &str = "https://x";
            fn url() -> String { URL.to_owned() }
            fn big() -> u64 { 1024 * 1024 }
            fn mode() -> Mode { Mode::StartsWith }
            "#,
        )
        .unwrap();
        let source = Source {
            files: vec![(PathBuf::from("x.rs"), file.items)],
        };
        assert_eq!(
            source.default_fn_value("url").as_deref(),
            Some("`https://x`")
        );
        assert_eq!(source.default_fn_value("big").as_deref(), Some("`1048576`"));
        assert_eq!(
            source.default_fn_value("mode").as_deref(),
            Some("`starts-with`")
        );
        let ty: Type = syn::parse_str("Option<Vec<Spanned<Mode>>>").unwrap();
        let (text, optional) = source.describe(&ty, &mut Vec::new());
        assert_eq!(text, "array of string: `starts-with` or `f1`");
        assert!(optional);
        assert_eq!(unit("max_cost_usd"), "USD");
        assert_eq!(unit("input_tokens_per_minute"), "tokens per minute");
    }
}
