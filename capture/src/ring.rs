//! Consumer side of the BPF ring buffer, read through its memory mapping.
//!
//! libbpf-rs's `RingBuffer` fixes its callback when it is built; we want to hand records
//! to whatever sink the caller passes to each poll, decode them in place (no copy, no
//! allocation) and bound a batch. The protocol is the kernel's (kernel/bpf/ringbuf.c,
//! mirrored by libbpf's ringbuf.c): a consumer position page we write, a producer position
//! page and the data area mapped twice in a row so that a record wrapping around the end
//! is contiguous; each record has an 8-byte header whose length word carries a BUSY bit
//! (being written) and a DISCARD bit.

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::mmap::Mapping;

const BUSY: u32 = 1 << 31;
const DISCARD: u32 = 1 << 30;
const HEADER: u64 = 8;

pub(crate) struct Ring {
    consumer: Mapping,
    producer: Mapping,
    page: usize,
    mask: u64,
}

impl Ring {
    /// Maps the ring buffer map `fd` whose data area is `size` bytes (a power of two).
    pub(crate) fn new(fd: BorrowedFd<'_>, size: usize, page: usize) -> io::Result<Ring> {
        let consumer = Mapping::new(fd, page, 0, true)?;
        let producer = Mapping::new(fd, page + 2 * size, page, false)?;
        Ok(Ring {
            consumer,
            producer,
            page,
            mask: size as u64 - 1,
        })
    }

    fn consumer_pos(&self) -> &AtomicU64 {
        // SAFETY: the first 8 bytes of the page-aligned consumer page are the kernel's
        // consumer position, a u64 it reads concurrently; the mapping outlives &self.
        unsafe { AtomicU64::from_ptr(self.consumer.as_ptr().cast()) }
    }

    fn producer_pos(&self) -> &AtomicU64 {
        // SAFETY: as above, for the producer position the kernel writes.
        unsafe { AtomicU64::from_ptr(self.producer.as_ptr().cast()) }
    }

    /// Bytes committed or being written and not consumed yet.
    pub(crate) fn backlog(&self) -> u64 {
        let prod = self.producer_pos().load(Ordering::Acquire);
        let cons = self.consumer_pos().load(Ordering::Relaxed);
        prod.saturating_sub(cons)
    }

    /// Hands the records committed when it is called to `f`, in order, and releases
    /// their space to the producer. Returns how many records were handed over. Records
    /// produced meanwhile wait for the next call, so a fast producer cannot keep it
    /// running forever.
    pub(crate) fn consume(&mut self, mut f: impl FnMut(&[u8])) -> usize {
        let data = self.page;
        let mut cons = self.consumer_pos().load(Ordering::Relaxed);
        let prod = self.producer_pos().load(Ordering::Acquire);
        let mut n = 0;
        while cons < prod {
            let off = data + (cons & self.mask) as usize;
            // SAFETY: `off` is 8-aligned (positions advance in multiples of 8) and inside
            // the first copy of the data area; the kernel writes this header word
            // concurrently (clearing BUSY with release semantics).
            let hdr = unsafe { AtomicU32::from_ptr(self.producer.as_ptr().add(off).cast()) }
                .load(Ordering::Acquire);
            if hdr & BUSY != 0 {
                break; // reserved, not committed yet: records are consumed in order
            }
            let len = (hdr & !(BUSY | DISCARD)) as usize;
            let start = off + HEADER as usize;
            if start + len > self.producer.len() {
                // Cannot happen with a sane kernel; never read out of the mapping.
                break;
            }
            if hdr & DISCARD == 0 {
                // SAFETY: a committed record is not written again until the consumer
                // position moves past it, which happens after `f` returns; the double
                // mapping makes [start, start + len) contiguous and in bounds (checked).
                let rec =
                    unsafe { std::slice::from_raw_parts(self.producer.as_ptr().add(start), len) };
                f(rec);
                n += 1;
            }
            cons += (len as u64 + HEADER + 7) & !7;
            self.consumer_pos().store(cons, Ordering::Release);
        }
        n
    }
}
