//! Writing an outgoing body (a reply's, or a chained request's) so that the
//! host gets it whole.

use spin_sdk::http::OutgoingBody;

/// Writes `bytes` into `body` around `start`, the call that hands the
/// response or request to the host, and calls `start` exactly once.
///
/// When the host will buffer the whole body before anyone reads it (one
/// write of up to `check_write` bytes: 1 MiB in wasmtime), it is written
/// first, in that one write, and the body finished, so the host gets the
/// head, the body and its end at once. Anything less can leave the
/// connection as two writes: the head (or the head and the data) first, the
/// rest (for a chunked reply, its last chunk) a moment later, and the later
/// small write then waits, under Nagle's algorithm, for the client's delayed
/// ACK (40 ms stalls, BENCHMARKS.md). It must be one write: the host queues
/// only two writes before a reader takes them, and the reader exists only
/// after `start`. A larger body is written after `start`, in pieces, as it
/// is read.
pub fn write_around<T>(
    body: OutgoingBody,
    bytes: &[u8],
    start: impl FnOnce() -> T,
) -> (T, Result<(), String>) {
    let Ok(stream) = body.write() else {
        return (start(), Err("the body has no stream".to_owned()));
    };
    let fits = stream
        .check_write()
        .is_ok_and(|budget| budget >= bytes.len() as u64);
    if fits {
        let written = if bytes.is_empty() {
            Ok(())
        } else {
            stream.write(bytes).map_err(|e| e.to_string())
        };
        let finished = finish(body, stream);
        (start(), written.and(finished))
    } else {
        let started = start();
        // `blocking_write_and_flush` takes at most 4096 bytes a call.
        let written = bytes
            .chunks(4096)
            .try_for_each(|chunk| stream.blocking_write_and_flush(chunk))
            .map_err(|e| e.to_string());
        (started, written.and(finish(body, stream)))
    }
}

/// Ends `body`; its stream must go first (wasi:http refuses otherwise).
fn finish(body: OutgoingBody, stream: impl Sized) -> Result<(), String> {
    drop(stream);
    OutgoingBody::finish(body, None).map_err(|e| format!("{e:?}"))
}
