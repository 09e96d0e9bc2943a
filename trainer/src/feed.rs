//! Decoding a trace on a helper thread, in batches, so that decompression and decoding
//! overlap with attribution (on a 2-core machine they take about as long as each other).
//! The order of events, and of the object chunks between them, is kept exactly.

use std::io::Read;
use std::sync::mpsc;

use trace::{Event, Footer, Object, TraceError, TraceReader, Truncation};

/// Events per batch handed over.
const BATCH: usize = 4096;

/// What the consumer sees, in trace order.
pub(crate) enum Item<'a> {
    Event(Event),
    /// Objects from an object chunk: their functions are known from here on.
    Objects(&'a [Object]),
}

/// How the trace ended.
pub(crate) struct End {
    pub footer: Option<Footer>,
    pub truncation: Option<Truncation>,
    /// What the reader could not read (a cut file, no footer, bytes after the footer).
    pub damage: Option<trace::Damage>,
}

enum Packet {
    Events(Vec<Event>),
    Objects(Vec<Object>),
    End(Result<End, TraceError>),
}

/// Runs `reader` on a scoped thread and feeds every event to `consume` on this one. A
/// decoding error ends the stream after the events before it; an error of `consume`
/// stops the reader.
pub(crate) fn pump<R: Read + Send, E>(
    reader: TraceReader<R>,
    mut consume: impl FnMut(Item<'_>) -> Result<(), E>,
    trace_err: impl Fn(TraceError) -> E,
) -> Result<End, E> {
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::sync_channel::<Packet>(8);
        let (recycle, recycled) = mpsc::channel::<Vec<Event>>();
        s.spawn(move || decode(reader, &tx, &recycled));
        for packet in rx {
            match packet {
                Packet::Events(mut batch) => {
                    for e in batch.drain(..) {
                        consume(Item::Event(e))?;
                    }
                    // the reader may be gone already: then the batch is simply dropped
                    let _ = recycle.send(batch);
                }
                Packet::Objects(objs) => consume(Item::Objects(&objs))?,
                Packet::End(end) => return end.map_err(&trace_err),
            }
        }
        // the reader thread panicked before sending its end; the scope re-raises it
        Ok(End {
            footer: None,
            truncation: None,
            damage: None,
        })
    })
}

fn decode<R: Read>(
    mut r: TraceReader<R>,
    tx: &mpsc::SyncSender<Packet>,
    recycled: &mpsc::Receiver<Vec<Event>>,
) {
    let mut known = r.objects().count();
    let mut batch = Vec::with_capacity(BATCH);
    let end = loop {
        let next = r.next_event();
        // an object chunk read by this call comes before the event it returns
        let n = r.objects().count();
        if n != known {
            if !batch.is_empty() && tx.send(Packet::Events(std::mem::take(&mut batch))).is_err() {
                return;
            }
            let objs = r.objects().skip(known).cloned().collect();
            known = n;
            if tx.send(Packet::Objects(objs)).is_err() {
                return;
            }
        }
        match next {
            Ok(Some(e)) => {
                batch.push(e);
                if batch.len() == BATCH {
                    let fresh = recycled
                        .try_recv()
                        .unwrap_or_else(|_| Vec::with_capacity(BATCH));
                    if tx
                        .send(Packet::Events(std::mem::replace(&mut batch, fresh)))
                        .is_err()
                    {
                        return;
                    }
                }
            }
            Ok(None) => {
                break Ok(End {
                    footer: r.footer().cloned(),
                    truncation: r.truncation().cloned(),
                    damage: r.damage(),
                });
            }
            Err(e) => break Err(e),
        }
    };
    if !batch.is_empty() && tx.send(Packet::Events(batch)).is_err() {
        return;
    }
    let _ = tx.send(Packet::End(end));
}
