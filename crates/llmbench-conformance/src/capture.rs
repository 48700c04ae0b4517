//! Capture every `tracing` event of the test process, plugin logs included (the host
//! re-emits them under the `llmbench::plugin` target), so a test can grep them for a secret.

use std::fmt::Write as _;
use std::sync::{Mutex, Once};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Install the capturing subscriber as the process's global default, at every level. Must
/// run before the first plugin instance is created: the host reads the level filter once.
///
/// # Panics
/// If another global subscriber was installed first (the capture would then miss events,
/// and a test relying on it would pass for nothing).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let subscriber = tracing_subscriber::registry().with(CaptureLayer);
        tracing::subscriber::set_global_default(subscriber)
            .expect("the conformance suite must own the global tracing subscriber");
    });
}

/// Every event captured so far, one line each: `LEVEL target: fields`.
pub fn lines() -> Vec<String> {
    LINES.lock().expect("capture lock").clone()
}

struct CaptureLayer;

impl<S: Subscriber> Layer<S> for CaptureLayer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        let mut line = Fields(format!("{} {}:", meta.level(), meta.target()));
        event.record(&mut line);
        LINES.lock().expect("capture lock").push(line.0);
    }
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }
}
