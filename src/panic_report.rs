//! What a panic prints.
//!
//! Rust's default panic hook prints the panic's message, and a message can
//! quote the data being handled: std's string slicing panics quote the
//! string (`byte index 1 is not a char boundary; it is inside 'é' … of
//! `éhttps://me:pw@…``). In datovcr that data is an exchange, so a bug
//! would print a credential to the log. The hook installed here prints
//! where the panic happened and a backtrace when `RUST_BACKTRACE` asks for
//! one (function names, no data), and withholds the message.

use std::io::Write;
use std::panic::{Location, PanicHookInfo};

/// How every panic report starts: what a test searches a process's stderr
/// for to say "it did not panic".
pub const MARK: &str = "datovcr: internal error (a bug)";

/// Replaces the default panic hook for the whole process. Call once, first
/// thing in `main`.
pub fn install() {
    std::panic::set_hook(Box::new(|info| {
        let _ = write_report(&mut std::io::stderr().lock(), info);
    }));
}

/// Writes the report of one panic: the thread, the location, a backtrace if
/// enabled; never the message.
pub fn write_report(out: &mut dyn Write, info: &PanicHookInfo<'_>) -> std::io::Result<()> {
    let thread = std::thread::current();
    writeln!(out, "{}", report_line(thread.name(), info.location()))?;
    let backtrace = std::backtrace::Backtrace::capture();
    if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
        writeln!(out, "{backtrace}")?;
    }
    Ok(())
}

/// `datovcr: internal error in thread 'NAME' at FILE:LINE:COLUMN; …`.
pub fn report_line(thread: Option<&str>, location: Option<&Location<'_>>) -> String {
    let place = location.map_or_else(
        || "an unknown place".to_owned(),
        |location| {
            format!(
                "{}:{}:{}",
                location.file(),
                location.line(),
                location.column()
            )
        },
    );
    format!(
        "{MARK} in thread '{}' at {place}; its message is withheld \
         because it may quote an exchange's data, secrets included. Please report the place \
         (with RUST_BACKTRACE=1 for a backtrace).",
        thread.unwrap_or("<unnamed>")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn the_report_names_the_place_and_never_the_message() {
        let canary = "pw-3b9e1f0c7a52d4e8";
        let written = Arc::new(Mutex::new(Vec::new()));
        let sink = written.clone();
        // The hook is process-wide: another test panicking meanwhile would
        // write here too, which the assertions allow.
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let mut out = sink.lock().unwrap_or_else(|p| p.into_inner());
            let _ = write_report(&mut *out, info);
        }));
        let line = line!() + 3;
        let caught = std::panic::catch_unwind(|| {
            let text = format!("é{canary}");
            std::hint::black_box(&text[1..]).len()
        });
        std::panic::set_hook(previous);
        assert!(caught.is_err(), "slicing inside 'é' panics");
        let written = String::from_utf8(written.lock().unwrap().clone()).expect("UTF-8");
        assert!(
            written.contains(&format!("{}:{line}:", file!())),
            "{written}"
        );
        assert!(written.starts_with(MARK), "{written}");
        assert!(!written.contains(canary), "the message leaked: {written}");
        assert!(!written.contains("char boundary"), "{written}");
    }

    #[test]
    fn a_report_without_a_location_or_thread_name_still_reads() {
        let line = report_line(None, None);
        assert!(line.contains("'<unnamed>'"));
        assert!(line.contains("an unknown place"));
    }
}
