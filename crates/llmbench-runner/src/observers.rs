//! Observers that combine others: [`Both`] tells two observers everything (the progress bar
//! and the metrics, say). Next to the runner's [`Observer`] trait because it knows nothing
//! but the trait.

use std::sync::Arc;

use llmbench_core::{ProviderError, SampleRecord};
use llmbench_store::AttemptRecord;

use crate::Observer;

/// Tells two observers everything, the first first.
pub struct Both(pub Arc<dyn Observer>, pub Arc<dyn Observer>);

impl std::fmt::Debug for Both {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Both")
    }
}

impl Observer for Both {
    fn sample_skipped(&self) {
        self.0.sample_skipped();
        self.1.sample_skipped();
    }

    fn sample_finished(&self, record: &SampleRecord, attempts: &[AttemptRecord]) {
        self.0.sample_finished(record, attempts);
        self.1.sample_finished(record, attempts);
    }

    fn attempt_failed(&self, provider: &str, error: &ProviderError) {
        self.0.attempt_failed(provider, error);
        self.1.attempt_failed(provider, error);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use llmbench_core::ProviderErrorKind;

    use super::*;

    #[derive(Default)]
    struct Log(Mutex<Vec<&'static str>>);

    impl Observer for Log {
        fn sample_skipped(&self) {
            self.0.lock().unwrap().push("skipped");
        }
        fn attempt_failed(&self, _provider: &str, _error: &ProviderError) {
            self.0.lock().unwrap().push("failed");
        }
    }

    #[test]
    fn both_observers_hear_everything() {
        let (a, b) = (Arc::new(Log::default()), Arc::new(Log::default()));
        let both = Both(a.clone(), b.clone());
        both.sample_skipped();
        both.attempt_failed("p", &ProviderError::new(ProviderErrorKind::Server, "boom"));
        for log in [a, b] {
            assert_eq!(*log.0.lock().unwrap(), ["skipped", "failed"]);
        }
    }
}
