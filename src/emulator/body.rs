//! Blob bodies: a JSON array of records rendered lazily in chunks, so even the huge blob is streamed without
//! being held in memory; plus the broken bodies of the fault knobs (cut off, reset, not JSON).

use std::io;

use axum::body::{Body, Bytes};
use futures::stream;

use super::catalog::BlobMeta;
use super::records::{self, RecordPlan, TenantCtx};
use super::rng::DetRng;

/// Size of the chunks the body is produced in.
const CHUNK: usize = 64 * 1024;

/// Renders a blob's JSON array chunk by chunk.
pub(crate) struct BlobWriter {
    plans: Box<dyn Iterator<Item = RecordPlan> + Send>,
    ctx: TenantCtx,
    started: bool,
    count: u64,
    finished: bool,
}

impl BlobWriter {
    pub(crate) fn new(blob: &BlobMeta, ctx: TenantCtx, atp_fraction: f64) -> Self {
        let blob = blob.clone();
        let iter = (0..blob.records)
            .map({
                let blob = blob.clone();
                move |i| records::plan(blob.seed, i, blob.content_type, blob.created, atp_fraction)
            })
            .chain(blob.duplicate_of.map(|(seed, created)| {
                records::plan(seed, 0, blob.content_type, created, atp_fraction)
            }));
        Self {
            plans: Box::new(iter),
            ctx,
            started: false,
            count: 0,
            finished: false,
        }
    }

    /// The next chunk of the body, or `None` when the closing `]` has been written.
    pub(crate) fn next_chunk(&mut self) -> Option<Bytes> {
        if self.finished {
            return None;
        }
        let mut buf = String::with_capacity(CHUNK + 8 * 1024);
        if !self.started {
            buf.push('[');
            self.started = true;
        }
        while buf.len() < CHUNK {
            match self.plans.next() {
                Some(plan) => {
                    if self.count > 0 {
                        buf.push(',');
                    }
                    buf.push_str(&records::render(&plan, &self.ctx));
                    self.count += 1;
                }
                None => {
                    buf.push(']');
                    self.finished = true;
                    break;
                }
            }
        }
        Some(Bytes::from(buf))
    }

    /// The whole body at once (for small blobs that a fault cuts off).
    pub(crate) fn collect(mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(chunk) = self.next_chunk() {
            out.extend_from_slice(&chunk);
        }
        out
    }

    /// A streaming HTTP body.
    pub(crate) fn into_body(self) -> Body {
        let s = stream::unfold(self, |mut w| async move {
            let chunk = w.next_chunk()?;
            Some((Ok::<Bytes, io::Error>(chunk), w))
        });
        Body::from_stream(s)
    }
}

/// A body rendered ahead ([`crate::emulator::Emulator::keep_rendered_bodies`]), streamed in chunks of the
/// same size as a rendered one's, so that the client reads the same bytes in the same framing.
pub(crate) fn kept_body(body: Bytes) -> Body {
    let chunks: Vec<Result<Bytes, io::Error>> = (0..body.len())
        .step_by(CHUNK)
        .map(|start| Ok(body.slice(start..body.len().min(start + CHUNK))))
        .collect();
    Body::from_stream(stream::iter(chunks))
}

/// How many records the huge blob needs to reach about `bytes` (from the average size of its first records;
/// record sizes vary a lot — AIR records are several times larger than the rest — so the sample is large
/// enough for the result to land within a few percent).
pub(crate) fn huge_record_count(
    blob: &BlobMeta,
    ctx: &TenantCtx,
    atp_fraction: f64,
    bytes: u64,
) -> u64 {
    const SAMPLE: u64 = 2048;
    let total: usize = (0..SAMPLE)
        .map(|i| records::plan(blob.seed, i, blob.content_type, blob.created, atp_fraction))
        .map(|p| records::render(&p, ctx).len() + 1)
        .sum();
    let avg = (total as u64 / SAMPLE).max(1);
    bytes.div_ceil(avg).max(1)
}

/// A body that sends the first `keep` bytes of `full` and then breaks the connection.
pub(crate) fn cut_body(full: Vec<u8>, keep: usize) -> Body {
    let head = Bytes::from(full).slice(..keep);
    let parts: Vec<Result<Bytes, io::Error>> = vec![
        Ok(head),
        Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "emulator: injected connection break",
        )),
    ];
    Body::from_stream(stream::iter(parts))
}

/// A body that is not JSON (poison blob), one of a few shapes seen from broken proxies and services.
pub(crate) fn malformed_body(content_id: &str) -> Vec<u8> {
    let mut rng = DetRng::derive(0, content_id);
    let text = match rng.below(3) {
        0 => "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>".to_owned(),
        1 => format!("[{{\"CreationTime\":\"2025-11-24T10:03:19\",\"Id\":\"{}\",\"Operation\":\"TIMailData\",\"RecordType\":28,", rng.uuid()),
        _ => "[{\"CreationTime\":NaN,\"Id\":undefined}]\u{0}\u{0}".to_owned(),
    };
    text.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::catalog::Catalog;
    use crate::emulator::config::EmulatorConfig;

    #[test]
    fn a_blob_body_is_a_json_array_of_its_records_across_chunks() {
        let cfg = EmulatorConfig {
            records_per_blob: 300,
            ..EmulatorConfig::default()
        };
        let cat = Catalog::build(&cfg, chrono::Utc::now());
        let blob = &cat.stream(&cfg.tenants[0].tenant_id, "Audit.General")[0];
        let ctx = TenantCtx::new(&cfg.tenants[0].tenant_id);
        let mut w = BlobWriter::new(blob, ctx.clone(), 0.3);
        let mut chunks = 0;
        let mut all = Vec::new();
        while let Some(c) = w.next_chunk() {
            chunks += 1;
            all.extend_from_slice(&c);
        }
        assert!(chunks > 1, "300 records should span several chunks");
        let v: Vec<serde_json::Value> = serde_json::from_slice(&all).unwrap();
        assert_eq!(v.len(), 300);
        assert_eq!(BlobWriter::new(blob, ctx, 0.3).collect(), all);
    }

    #[test]
    fn malformed_bodies_are_not_json() {
        for i in 0..10 {
            let b = malformed_body(&format!("c{i}"));
            assert!(serde_json::from_slice::<serde_json::Value>(&b).is_err());
        }
    }
}
