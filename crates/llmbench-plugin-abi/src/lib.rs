//! The binary contract between the llmbench host and its plugins.
//!
//! A plugin is a `cdylib` exporting one symbol, [`ENTRY_SYMBOL`], of type [`EntryFn`]. It
//! returns a pointer to a static [`PluginDecl`]. The declaration starts with a
//! [`DeclPrefix`] whose layout never changes, so any host can read it and refuse a library
//! built against another ABI with one clear line. Everything after the prefix is only read
//! when magic, version, size and [`FINGERPRINT`] all match.
//!
//! Rules (see `docs/plugin-abi.md` for why):
//! - Only `(ptr, len)` byte slices cross, borrowed for the duration of one call; the receiver
//!   copies. Payloads are JSON.
//! - No future crosses. A call is started with [`VTable::start_call`] and finishes when the
//!   plugin calls the host's [`CompleteFn`] exactly once, from any thread.
//! - Every entry point catches panics.
//! - A plugin that needs a model (a judge) asks the host for it through
//!   [`HostApi::complete_start`], under the same rules in the other direction: the host serves
//!   the request on its own runtime (with its retries, rate limits, concurrency limits and spend
//!   cap) and calls the plugin's [`CompleteFn`] exactly once.
//!
//! This file is the ABI: [`FINGERPRINT`] is a hash of its own source text, so any edit to it
//! (a field, a type, a comment) changes the fingerprint and old plugins are refused.

use std::ffi::c_void;

/// Bytes every declaration starts with.
pub const MAGIC: [u8; 8] = *b"LLMBPLG\0";

/// Bumped on any incompatible change to this file, or to what a method's payload means.
/// Version 3: a `grade` request no longer carries the grader's options rendered for the item;
/// the SDK renders them inside the plugin from the request's variables. A plugin built by an
/// older SDK would grade a templated option (`expected = "{{ expected }}"`) as written, so it
/// is refused at load rather than trusted.
pub const ABI_VERSION: u32 = 3;

/// The symbol every plugin exports, NUL-terminated.
pub const ENTRY_SYMBOL: &[u8] = b"llmbench_plugin_entry\0";

/// A hash of this file's source text: two builds agree on it only if they were compiled
/// against the same ABI definition.
pub const FINGERPRINT: u64 = fnv1a64(include_bytes!("lib.rs"));

/// `fn(host_abi_version) -> *const PluginDecl`. Never null for a well-formed plugin.
pub type EntryFn = unsafe extern "C" fn(host_abi_version: u32) -> *const PluginDecl;

/// The part of a declaration whose layout is fixed forever.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DeclPrefix {
    pub magic: [u8; 8],
    pub abi_version: u32,
    /// `size_of::<PluginDecl>()` as the plugin saw it.
    pub decl_size: u32,
    pub fingerprint: u64,
}

/// Set when the plugin was compiled with `panic = "unwind"` (required: with `abort`, a
/// panic in the plugin would take the host down).
pub const FLAG_PANIC_UNWIND: u32 = 1;

/// What a plugin provides.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    Provider = 1,
    Grader = 2,
    Reporter = 3,
}

impl PluginKind {
    pub fn from_u32(v: u32) -> Option<Self> {
        match v {
            1 => Some(Self::Provider),
            2 => Some(Self::Grader),
            3 => Some(Self::Reporter),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provider => "provider",
            Self::Grader => "grader",
            Self::Reporter => "reporter",
        }
    }

    /// The one method each kind serves.
    pub fn method(self) -> &'static str {
        match self {
            Self::Provider => "complete",
            Self::Grader => "grade",
            Self::Reporter => "render",
        }
    }
}

/// A borrowed byte slice. For strings in a [`PluginDecl`] it points to static data.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Bytes {
    pub ptr: *const u8,
    pub len: usize,
}

impl Bytes {
    pub const fn from_static(s: &'static str) -> Self {
        Self {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    pub fn new(s: &[u8]) -> Self {
        Self {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// # Safety
    /// `ptr` must be valid for `len` bytes for the lifetime chosen by the caller.
    pub unsafe fn as_slice<'a>(&self) -> &'a [u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: the caller guarantees validity, per this function's contract.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// Log levels for [`HostApi::log`], matching `tracing::Level` order.
pub const LOG_ERROR: u32 = 1;
pub const LOG_WARN: u32 = 2;
pub const LOG_INFO: u32 = 3;
pub const LOG_DEBUG: u32 = 4;
pub const LOG_TRACE: u32 = 5;

/// What the host offers a plugin instance. The host passes one to `create`; it stays valid
/// until `destroy` returns, and the plugin may copy it. `log` and `max_level` are the same for
/// every instance of the process; `host` is this instance's own.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct HostApi {
    /// Route a log line (already formatted, UTF-8) to the host's `tracing`.
    pub log: extern "C" fn(level: u32, target: Bytes, message: Bytes),
    /// The most verbose level the host will print, so plugins skip formatting the rest.
    pub max_level: u32,
    /// This instance's handle, passed back to `complete_start` and `complete_release`. Null
    /// when the host gave the instance no model to call (every call then fails at once).
    pub host: *mut c_void,
    /// Ask the model behind the config's provider entry `provider` (UTF-8): `request` is a
    /// `CompletionRequest` as JSON. Returns a call handle that must be passed to
    /// `complete_release` exactly once (never null). `done` is called exactly once, from any
    /// thread, with `user_data`: [`STATUS_OK`] and the `Completion` as JSON,
    /// [`STATUS_ERROR`] and a `ProviderError` as JSON (retries exhausted, a limit refused the
    /// call, the provider is not one this instance may call), [`STATUS_BAD_REQUEST`] and a
    /// reason (the request did not parse), or [`STATUS_CANCELLED`]. Both slices are only
    /// borrowed for the duration of this call.
    pub complete_start: extern "C" fn(
        host: *mut c_void,
        provider: Bytes,
        request: Bytes,
        done: CompleteFn,
        user_data: *mut c_void,
    ) -> *mut c_void,
    /// Free a call handle from `complete_start`. With `cancel` set and the call still running,
    /// the host stops it and completes it with [`STATUS_CANCELLED`].
    pub complete_release: extern "C" fn(host: *mut c_void, call: *mut c_void, cancel: bool),
}

/// Receives bytes (an error message) during a synchronous call.
pub type SinkFn = extern "C" fn(user: *mut c_void, bytes: Bytes);

/// How a call ended.
pub const STATUS_OK: u32 = 0;
/// The method ran and returned an error; the payload is the error as JSON.
pub const STATUS_ERROR: u32 = 1;
/// The plugin panicked; the payload is the panic message (UTF-8 text).
pub const STATUS_PANIC: u32 = 2;
/// The call was cancelled by [`VTable::release_call`]; empty payload.
pub const STATUS_CANCELLED: u32 = 3;
/// The method name or request JSON was not understood; the payload is the reason.
pub const STATUS_BAD_REQUEST: u32 = 4;

/// Called exactly once per started call, from any thread, with the caller's `user_data`: by
/// the plugin for [`VTable::start_call`], by the host for [`HostApi::complete_start`]. The
/// payload is only valid during the callback.
pub type CompleteFn = extern "C" fn(user_data: *mut c_void, status: u32, payload: Bytes);

/// The plugin's entry points. All are safe to call from any thread.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct VTable {
    /// Build an instance from its JSON options. Returns null on failure after passing the
    /// reason to `err`. May block (loading a model); the host calls it off its async threads.
    pub create: extern "C" fn(
        host: *const HostApi,
        options: Bytes,
        err: SinkFn,
        err_user: *mut c_void,
    ) -> *mut c_void,
    /// Shut an instance down: stops its runtime and joins its threads.
    pub destroy: extern "C" fn(instance: *mut c_void),
    /// Start `method` with a JSON request. Returns a call handle that must be passed to
    /// `release_call` exactly once; `on_complete` will be called exactly once.
    pub start_call: extern "C" fn(
        instance: *mut c_void,
        method: Bytes,
        request: Bytes,
        on_complete: CompleteFn,
        user_data: *mut c_void,
    ) -> *mut c_void,
    /// Free a call handle. With `cancel` set and the call still running, the plugin stops it
    /// and completes it with [`STATUS_CANCELLED`].
    pub release_call: extern "C" fn(instance: *mut c_void, call: *mut c_void, cancel: bool),
}

/// The full declaration a plugin exports.
#[repr(C)]
#[derive(Debug)]
pub struct PluginDecl {
    pub prefix: DeclPrefix,
    pub flags: u32,
    /// A [`PluginKind`] as `u32`.
    pub kind: u32,
    pub name: Bytes,
    pub version: Bytes,
    pub sdk_version: Bytes,
    pub rustc_version: Bytes,
    pub vtable: VTable,
}

// SAFETY: a declaration is immutable static data: strings point to static memory and the
// vtable holds plain function pointers.
unsafe impl Sync for PluginDecl {}

/// FNV-1a, 64 bits, usable in `const` context.
pub const fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}
