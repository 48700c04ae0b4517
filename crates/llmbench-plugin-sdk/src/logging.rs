//! Route the plugin's `tracing` events and panic messages to the host.
//!
//! A cdylib has its own copy of `tracing`'s globals and of the panic hook, so without this
//! the host would never see them.

use std::fmt::Write as _;
use std::sync::OnceLock;

use llmbench_plugin_abi::{Bytes, HostApi, LOG_DEBUG, LOG_ERROR, LOG_INFO, LOG_TRACE, LOG_WARN};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// The process-wide part of the host's API (the same for every instance).
#[derive(Debug, Clone, Copy)]
struct HostLog {
    log: extern "C" fn(level: u32, target: Bytes, message: Bytes),
    max_level: u32,
}

static HOST: OnceLock<HostLog> = OnceLock::new();

/// Remember the host's log entry point and install the log and panic routing, once per
/// library.
pub(crate) fn install(host: &HostApi) {
    let host = HostLog {
        log: host.log,
        max_level: host.max_level,
    };
    if HOST.set(host).is_err() {
        return;
    }
    let subscriber = tracing_subscriber::registry().with(HostLayer);
    let _ = tracing::subscriber::set_global_default(subscriber);
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        log(
            LOG_ERROR,
            "plugin::panic",
            &format!("{}{location}", crate::export::panic_text(info.payload())),
        );
    }));
}

pub(crate) fn log(level: u32, target: &str, message: &str) {
    if let Some(host) = HOST.get()
        && level <= host.max_level
    {
        (host.log)(
            level,
            Bytes::new(target.as_bytes()),
            Bytes::new(message.as_bytes()),
        );
    }
}

struct HostLayer;

impl<S: Subscriber> Layer<S> for HostLayer {
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        HOST.get()
            .is_some_and(|h| level_number(*metadata.level()) <= h.max_level)
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut text = Fields(String::new());
        event.record(&mut text);
        log(
            level_number(*event.metadata().level()),
            event.metadata().target(),
            &text.0,
        );
    }
}

fn level_number(level: Level) -> u32 {
    match level {
        Level::ERROR => LOG_ERROR,
        Level::WARN => LOG_WARN,
        Level::INFO => LOG_INFO,
        Level::DEBUG => LOG_DEBUG,
        Level::TRACE => LOG_TRACE,
    }
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, "{}={value:?}", field.name());
        }
    }
}
