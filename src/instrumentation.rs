//! pulsecheck's instrumentation scope, and the meter and tracer every module takes from the
//! global providers under it.
//!
//! Everything is bound on first use, never at [`PulseBuilder::build`](crate::PulseBuilder::build):
//! a service that installs its own providers after building [`Pulse`](crate::Pulse) (the
//! `without_telemetry` integration) must still get every pulsecheck metric, and the global
//! meter at `build()` would then be the no-op one for good.

use std::sync::{Arc, Mutex, OnceLock, Weak};

use opentelemetry::InstrumentationScope;
use opentelemetry::global::BoxedTracer;
use opentelemetry::metrics::{Meter, MeterProvider};

/// `pulsecheck`, with the crate version and the semantic-conventions schema its names follow.
pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("pulsecheck")
        .with_version(env!("CARGO_PKG_VERSION"))
        .with_schema_url(opentelemetry_semantic_conventions::SCHEMA_URL)
        .build()
}

/// A meter of the global provider installed now, under [`scope`].
pub(crate) fn meter() -> Meter {
    opentelemetry::global::meter_with_scope(scope())
}

/// A tracer of the global provider installed now, under [`scope`].
pub(crate) fn tracer() -> BoxedTracer {
    opentelemetry::global::tracer_with_scope(scope())
}

/// Instruments made from [`meter`] the first time they are used.
pub(crate) struct Lazy<T> {
    cell: OnceLock<T>,
    make: fn(&Meter) -> T,
}

impl<T> Lazy<T> {
    /// Instruments that `make` builds on first use.
    pub(crate) const fn new(make: fn(&Meter) -> T) -> Self {
        Self {
            cell: OnceLock::new(),
            make,
        }
    }

    /// The instruments, made now if this is the first use.
    pub(crate) fn get(&self) -> &T {
        self.cell.get_or_init(|| (self.make)(&meter()))
    }
}

impl<T> std::fmt::Debug for Lazy<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lazy")
            .field("bound", &self.cell.get().is_some())
            .finish()
    }
}

/// Observable instruments registered on the global meter provider, again whenever it is a
/// different provider from the one they were last registered on. Callbacks cannot be bound on
/// first use like [`Lazy`] instruments (nothing uses them but the exporter), so the caller
/// runs [`bind`](Self::bind) at the moments a provider may have appeared: at build, and at the
/// layer's first request. A provider replaced later is not followed.
pub(crate) struct PerProvider {
    last: Mutex<Option<Weak<dyn MeterProvider + Send + Sync>>>,
    register: Box<dyn Fn() + Send + Sync>,
}

impl PerProvider {
    /// `register` makes the instruments with [`meter`].
    pub(crate) fn new(register: impl Fn() + Send + Sync + 'static) -> Self {
        Self {
            last: Mutex::new(None),
            register: Box::new(register),
        }
    }

    /// Registers on the global provider unless it is the one registered on last time.
    pub(crate) fn bind(&self) {
        let current = opentelemetry::global::meter_provider();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let same = last
            .as_ref()
            .is_some_and(|w| std::ptr::addr_eq(w.as_ptr(), Arc::as_ptr(&current)));
        if !same {
            (self.register)();
            *last = Some(Arc::downgrade(&current));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scope_is_versioned() {
        let s = scope();
        assert_eq!(s.name(), "pulsecheck");
        assert_eq!(s.version(), Some(env!("CARGO_PKG_VERSION")));
        assert!(
            s.schema_url()
                .is_some_and(|u| u.contains("opentelemetry.io"))
        );
    }

    #[test]
    fn instruments_are_made_once_on_first_use() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static MADE: AtomicUsize = AtomicUsize::new(0);
        let lazy = Lazy::new(|_| MADE.fetch_add(1, Ordering::Relaxed));
        assert_eq!(MADE.load(Ordering::Relaxed), 0);
        assert_eq!(*lazy.get(), 0);
        assert_eq!(*lazy.get(), 0);
        assert_eq!(MADE.load(Ordering::Relaxed), 1);
    }
}
