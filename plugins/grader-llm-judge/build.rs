//! Lets the judge link the provider plugins it calls.
//!
//! The judge reuses `provider-openai` and `provider-anthropic` as rlibs (a plugin cannot load
//! another plugin: only the host touches libloading). Each of them is itself a plugin, so it
//! defines the `#[no_mangle]` entry point `llmbench_plugin_entry`, as the judge does, and
//! linking them together would fail with a duplicate symbol. The linker is told to keep the
//! first definition, which is the judge's own (its object files come before every rlib on the
//! command line); the plugin-host test `the_library_declares_itself_as_the_judge` checks it.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo::rustc-link-arg=-Wl,--allow-multiple-definition");
    }
}
