//! Finding the tools the sandbox runs and the interpreter as the sandbox sees it (its
//! executable and the host directories to bind), and why a sandbox could not start.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::SandboxError;
use super::output::truncate;

/// The interpreter as the sandbox sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Interpreter {
    /// The path to execute (real path, or a venv's `bin/python`).
    pub(super) executable: PathBuf,
    /// Directories bound read-only (prefixes), outside `/usr`.
    pub(super) roots: Vec<PathBuf>,
}

pub(super) fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A system tool the sandbox runs inside itself, so it must be under `/usr` or `/bin`.
pub(super) fn find_system_tool(name: &str) -> Option<PathBuf> {
    ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

/// Ask the interpreter where it lives (it runs on the host, unsandboxed: it is the
/// configured interpreter running fixed code, not an answer).
pub(super) fn resolve_interpreter(python: &str) -> Result<Interpreter, SandboxError> {
    let fail = |reason: String| SandboxError::Python {
        python: python.to_owned(),
        reason,
    };
    const SCRIPT: &str = "import sys\nfor p in (sys.executable, sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix): print(p)";
    let mut command = std::process::Command::new(python);
    command
        .args(["-I", "-c", SCRIPT])
        .stdin(Stdio::null())
        .env_clear();
    // What a pyenv shim or a wrapper needs to find the interpreter; nothing else (no key).
    for var in ["PATH", "HOME", "LANG", "PYENV_ROOT", "PYENV_VERSION"] {
        if let Some(value) = std::env::var_os(var) {
            command.env(var, value);
        }
    }
    let output = command.output().map_err(|e| fail(e.to_string()))?;
    if !output.status.success() {
        return Err(fail(format!(
            "it exited with {}: {}",
            output.status,
            truncate(String::from_utf8_lossy(&output.stderr).trim(), 300)
        )));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let [
        executable,
        prefix,
        base_prefix,
        exec_prefix,
        base_exec_prefix,
    ] = lines[..]
    else {
        return Err(fail(format!(
            "unexpected answer to where it lives: {text:?}"
        )));
    };
    if executable.is_empty() {
        return Err(fail("it does not know its own executable".into()));
    }
    let canonical =
        |p: &str| std::fs::canonicalize(p).map_err(|e| fail(format!("cannot resolve {p}: {e}")));
    let executable_path = Path::new(executable);
    let venv = prefix != base_prefix;
    let executable = if venv {
        // Keep the venv's own `bin/python` (a symlink), so that it finds `pyvenv.cfg`.
        let dir = executable_path
            .parent()
            .ok_or_else(|| fail(format!("odd executable path {executable}")))?;
        canonical(&dir.to_string_lossy())?.join(executable_path.file_name().unwrap_or_default())
    } else {
        canonical(executable)?
    };
    let real_executable = canonical(&executable.to_string_lossy())?;
    let mut roots: Vec<PathBuf> = Vec::new();
    for p in [prefix, base_prefix, exec_prefix, base_exec_prefix] {
        roots.push(canonical(p)?);
    }
    for exe in [&executable, &real_executable] {
        if let Some(dir) = exe.parent() {
            roots.push(dir.to_owned());
        }
    }
    Ok(Interpreter {
        executable,
        roots: outermost(roots),
    })
}

/// Drop paths already visible (under `/usr`, or under another path of the list), and
/// duplicates; sorted.
fn outermost(mut roots: Vec<PathBuf>) -> Vec<PathBuf> {
    roots.sort();
    roots.dedup();
    let mut kept: Vec<PathBuf> = Vec::new();
    for root in roots {
        if root == Path::new("/") {
            continue;
        }
        if root.starts_with("/usr") || kept.iter().any(|k| root.starts_with(k)) {
            continue;
        }
        kept.push(root);
    }
    kept
}

/// The directories above the bound roots, which bwrap would otherwise create with the
/// host's permissions (`/root` is 0700, so a non-root sandbox could not reach a pyenv
/// interpreter below it).
pub(super) fn ancestors_to_create(roots: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = roots
        .iter()
        .flat_map(|r| r.ancestors().skip(1).map(Path::to_owned))
        .filter(|a| a != Path::new("/") && !roots.iter().any(|r| a.starts_with(r)))
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// Why a non-root sandbox could not start, when the kernel says so.
pub(super) fn userns_hint() -> String {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_owned())
    };
    if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return "; unprivileged user namespaces are disabled on this machine (sysctl kernel.unprivileged_userns_clone = 0); enable them with `sysctl -w kernel.unprivileged_userns_clone=1`, or run as root".into();
    }
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return "; user namespaces are disabled on this machine (sysctl user.max_user_namespaces = 0); raise it with `sysctl -w user.max_user_namespaces=10000`, or run as root".into();
    }
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        return "; AppArmor restricts unprivileged user namespaces on this machine (sysctl kernel.apparmor_restrict_unprivileged_userns = 1); give bwrap an AppArmor profile that allows `userns`, or set the sysctl to 0".into();
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_under_usr_or_other_roots_are_dropped() {
        let roots = outermost(
            [
                "/root/.pyenv/versions/3.11.7",
                "/root/.pyenv/versions/3.11.7/bin",
                "/usr",
                "/usr/lib/python3.11",
                "/opt/venv",
            ]
            .map(PathBuf::from)
            .to_vec(),
        );
        assert_eq!(
            roots,
            ["/opt/venv", "/root/.pyenv/versions/3.11.7"].map(PathBuf::from)
        );
        assert_eq!(
            ancestors_to_create(&roots),
            ["/opt", "/root", "/root/.pyenv", "/root/.pyenv/versions"].map(PathBuf::from)
        );
    }
}
