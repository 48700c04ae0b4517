//! `llmbench plugins`: the plugins in a plugin directory, with their versions (exit
//! [`crate::exit::ExitCode::Plugin`] when a library there fails to load).

use std::path::PathBuf;

use crate::common::{EXIT_DONE, EXIT_PLUGIN, Failure, default_plugin_dir, print};

#[derive(Debug, clap::Args)]
pub(crate) struct PluginsArgs {
    /// The plugin directory. Default: the directory of the llmbench executable.
    #[arg(long)]
    dir: Option<PathBuf>,
}

pub(crate) fn run(args: PluginsArgs) -> Result<u8, Failure> {
    let dir = args.dir.unwrap_or_else(default_plugin_dir);
    let entries = llmbench_plugin_host::list_dir(&dir)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", dir.display()))?;
    let mut text = format!("plugins in {}:\n", dir.display());
    let libraries = entries.len();
    let mut broken = 0;
    for (path, meta) in entries {
        let file = path.file_name().unwrap_or_default().to_string_lossy();
        match meta {
            Ok(m) => text.push_str(&format!(
                "  {:<22} {:<9} {:<8} sdk {}  {}  ({file})\n",
                m.name,
                m.kind.as_str(),
                m.version,
                m.sdk_version,
                m.rustc_version
            )),
            Err(e) => {
                broken += 1;
                text.push_str(&format!("  {file}: {e}\n"));
            }
        }
    }
    print(&text);
    if broken > 0 {
        return Err(Failure::new(
            EXIT_PLUGIN,
            anyhow::anyhow!(
                "{broken} of {libraries} libraries in {} failed to load (listed above)",
                dir.display()
            ),
        ));
    }
    Ok(EXIT_DONE)
}
