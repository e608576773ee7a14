//! The function's log: one line per event on its stderr, which Spin keeps
//! per component (`.spin/logs/`, and on the terminal unless `spin up
//! --quiet`); docs/operations.md describes the lines.
//!
//! [`log_line!`](crate::log_line) sends each line in one write.
//! `eprintln!` writes every piece of its format separately (Rust's stderr is
//! unbuffered), and Spin appends each write to the component's log as it
//! comes: under concurrent requests, the pieces of one request's line were
//! cut into by the pieces of others. (Each write is also a trip through
//! Spin's blocking threads; on the warm read's throughput the difference
//! was within noise, BENCHMARKS.md.)

use std::io::Write;

/// `eprintln!`, in one write.
#[macro_export]
macro_rules! log_line {
    ($($arg:tt)*) => {
        $crate::log::write_line(::std::format_args!($($arg)*))
    };
}

#[doc(hidden)]
pub fn write_line(args: std::fmt::Arguments) {
    let mut line = std::fmt::format(args);
    line.push('\n');
    // A log that cannot be written has nowhere to say so.
    let _ = std::io::stderr().write_all(line.as_bytes());
}
