//! Tests only: capture the log records this thread emits.

use std::cell::RefCell;

thread_local! {
    static CAPTURE: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

struct ThreadCapture;

impl log::Log for ThreadCapture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        CAPTURE.with(|c| c.borrow().is_some())
    }

    fn log(&self, record: &log::Record<'_>) {
        CAPTURE.with(|c| {
            if let Some(lines) = c.borrow_mut().as_mut() {
                lines.push(record.args().to_string());
            }
        });
    }

    fn flush(&self) {}
}

/// Run `f` and return every log message (all levels) it emitted on this
/// thread, one string per record (other test threads are not captured).
pub fn capture(f: impl FnOnce()) -> Vec<String> {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        // Another logger may already be set (it is not, in unit tests).
        if log::set_logger(&ThreadCapture).is_ok() {
            log::set_max_level(log::LevelFilter::Trace);
        }
    });
    CAPTURE.with(|c| *c.borrow_mut() = Some(Vec::new()));
    f();
    CAPTURE.with(|c| c.borrow_mut().take().unwrap_or_default())
}
