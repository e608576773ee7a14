//! The function's log: one line per event on its stderr, which Spin keeps
//! per component (`.spin/logs/`, and on the terminal unless `spin up
//! --quiet`); docs/operations.md describes the lines.
//!
//! [`log_line!`](crate::log_line) sends each line in one write.
//! `eprintln!` writes every piece of its format separately (Rust's stderr is
//! unbuffered), and under `spin up` each write is a round trip through
//! Spin's blocking thread pool, two when the logs are followed: the line
//! every request ends with was six writes, twelve hand-offs between threads.

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
