//! The blob catalogue: which blobs exist per tenant and content type, when they became available, which
//! faults they carry, and the record plans inside them.
//!
//! Only metadata is kept (a few dozen bytes per blob); record bodies are rendered on demand from the blob's
//! seed. Content ids look like the service's: `{created:yyyyMMddHHmmssfff}{n:06}${same}${ct lower}${ct}$emea0001`.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};

use super::config::{EmulatorConfig, CONTENT_TYPES};
use super::faults::BlobFaults;
use super::records::{self, RecordPlan};
use super::rng::{hash_all, DetRng};

/// One blob's metadata.
#[derive(Debug, Clone)]
pub(crate) struct BlobMeta {
    pub content_id: String,
    pub content_type: &'static str,
    pub created: DateTime<Utc>,
    pub seed: u64,
    pub records: u64,
    /// The streamed, very large blob (record count decided while rendering).
    pub huge: bool,
    pub faults: BlobFaults,
    /// Seed and creation time of the previous blob, whose first record this blob repeats.
    pub duplicate_of: Option<(u64, DateTime<Utc>)>,
    /// Listing order (the service does not sort by contentCreated).
    pub order_key: u64,
}

/// Key of one stream: lowercase tenant id and canonical content type.
pub(crate) type StreamKey = (String, &'static str);

/// All blobs, per stream in creation order.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    streams: HashMap<StreamKey, Vec<BlobMeta>>,
    by_id: HashMap<(String, String), (StreamKey, usize)>,
    next_index: HashMap<StreamKey, u64>,
}

/// The canonical spelling of a content type, matched case-insensitively.
pub(crate) fn canonical_content_type(s: &str) -> Option<&'static str> {
    CONTENT_TYPES
        .iter()
        .copied()
        .find(|c| c.eq_ignore_ascii_case(s))
}

/// Whether a string has the shape of a content id this emulator (and the service) issues.
pub(crate) fn content_id_well_formed(id: &str) -> bool {
    let parts: Vec<&str> = id.split('$').collect();
    parts.len() >= 4
        && parts[..2]
            .iter()
            .all(|p| p.len() >= 17 && p.bytes().all(|b| b.is_ascii_digit()))
        && parts[2..].iter().all(|p| !p.is_empty())
}

impl Catalog {
    /// Builds the generated history of every tenant, ending at `anchor`.
    pub(crate) fn build(cfg: &EmulatorConfig, anchor: DateTime<Utc>) -> Self {
        let mut cat = Self::default();
        let interval = cfg.blob_interval.max(Duration::from_secs(1));
        let count = (cfg.history.as_millis() / interval.as_millis()) as u64;
        let interval_ms = interval.as_millis() as i64;
        let start = anchor - chrono::Duration::milliseconds(cfg.history.as_millis() as i64);
        for tenant in &cfg.tenants {
            for ct in tenant
                .content_types
                .iter()
                .filter_map(|c| canonical_content_type(c))
            {
                let key: StreamKey = (tenant.tenant_id.to_ascii_lowercase(), ct);
                for i in 0..count {
                    let mut rng =
                        DetRng::new(hash_all(cfg.seed, &[&key.0, ct, "jitter", &i.to_string()]));
                    let jitter = rng.range(0, interval_ms / 3);
                    let created = start
                        + chrono::Duration::milliseconds((i as i64 + 1) * interval_ms - jitter);
                    cat.push(cfg, &key, created);
                }
            }
        }
        if cfg.huge_blob_bytes.is_some() {
            cat.mark_huge(cfg, anchor);
        }
        cat
    }

    /// Appends a blob created at `created` to a stream; returns its content id.
    pub(crate) fn push(
        &mut self,
        cfg: &EmulatorConfig,
        key: &StreamKey,
        created: DateTime<Utc>,
    ) -> String {
        // The wire shows milliseconds; keep no more, so window checks agree with what clients see.
        let created = created.trunc_subsecs(3);
        let index = self.next_index.entry(key.clone()).or_default();
        let n = *index;
        *index += 1;
        let stamp = format!("{}{:06}", created.format("%Y%m%d%H%M%S%3f"), n % 1_000_000);
        let ct_lower = key.1.to_ascii_lowercase().replace('.', "_");
        let content_id = format!(
            "{stamp}${stamp}${ct_lower}${}$emea{:04}",
            key.1.replace('.', "_"),
            hash_all(cfg.seed, &[&key.0, "region"]) % 100
        );
        let seed = hash_all(cfg.seed, &[&key.0, key.1, &n.to_string()]);
        let faults = BlobFaults::choose(&cfg.faults, cfg.seed, &content_id);
        let blobs = self.streams.entry(key.clone()).or_default();
        let duplicate_of = match blobs.last() {
            Some(prev) if faults.duplicate => Some((prev.seed, prev.created)),
            _ => None,
        };
        blobs.push(BlobMeta {
            order_key: hash_all(cfg.seed, &["order", &content_id]),
            content_id: content_id.clone(),
            content_type: key.1,
            created,
            seed,
            records: cfg.records_per_blob as u64,
            huge: false,
            faults: BlobFaults {
                duplicate: duplicate_of.is_some(),
                ..faults
            },
            duplicate_of,
        });
        self.by_id.insert(
            (key.0.clone(), content_id.clone()),
            (key.clone(), blobs.len() - 1),
        );
        content_id
    }

    /// Turns the history blob nearest to one hour before `anchor` in the first tenant's `Audit.General` (or
    /// first) stream into the huge blob.
    fn mark_huge(&mut self, cfg: &EmulatorConfig, anchor: DateTime<Utc>) {
        let Some(tenant) = cfg.tenants.first() else {
            return;
        };
        let cts: Vec<&'static str> = tenant
            .content_types
            .iter()
            .filter_map(|c| canonical_content_type(c))
            .collect();
        let ct = if cts.contains(&"Audit.General") {
            "Audit.General"
        } else if let Some(c) = cts.first() {
            c
        } else {
            return;
        };
        let key: StreamKey = (tenant.tenant_id.to_ascii_lowercase(), ct);
        let target = anchor - chrono::Duration::hours(1);
        if let Some(blob) = self.streams.get_mut(&key).and_then(|b| {
            b.iter_mut()
                .min_by_key(|b| (b.created - target).num_milliseconds().abs())
        }) {
            blob.huge = true;
            blob.faults = BlobFaults::default();
            blob.duplicate_of = None;
        }
    }

    /// Sets the record count of the huge blob from a sizing function.
    pub(crate) fn size_huge_blob(&mut self, size: impl Fn(&BlobMeta) -> u64) {
        for blob in self.streams.values_mut().flatten().filter(|b| b.huge) {
            blob.records = size(blob);
        }
    }

    /// The blobs of one stream, in creation order.
    pub(crate) fn stream(&self, tenant: &str, content_type: &'static str) -> &[BlobMeta] {
        self.streams
            .get(&(tenant.to_ascii_lowercase(), content_type))
            .map_or(&[], Vec::as_slice)
    }

    /// The blob with this content id in this tenant.
    pub(crate) fn find(&self, tenant: &str, content_id: &str) -> Option<&BlobMeta> {
        let (key, i) = self
            .by_id
            .get(&(tenant.to_ascii_lowercase(), content_id.to_owned()))?;
        self.streams.get(key)?.get(*i)
    }

    /// Every blob of a tenant (all content types).
    pub(crate) fn tenant_blobs<'a>(
        &'a self,
        tenant: &str,
    ) -> impl Iterator<Item = &'a BlobMeta> + 'a {
        let t = tenant.to_ascii_lowercase();
        self.streams
            .iter()
            .filter(move |(k, _)| k.0 == t)
            .flat_map(|(_, v)| v.iter())
    }
}

impl BlobMeta {
    /// The record plans of this blob, in body order.
    pub(crate) fn plans(&self, atp_fraction: f64) -> impl Iterator<Item = RecordPlan> + '_ {
        let own = (0..self.records).map(move |i| {
            records::plan(self.seed, i, self.content_type, self.created, atp_fraction)
        });
        let dup = self.duplicate_of.map(|(seed, created)| {
            records::plan(seed, 0, self.content_type, created, atp_fraction)
        });
        own.chain(dup)
    }

    /// contentExpiration: seven days after contentCreated.
    pub(crate) fn expiration(&self) -> DateTime<Utc> {
        self.created + chrono::Duration::days(7)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn anchor() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 11, 24, 12, 0, 0)
            .single()
            .unwrap()
    }

    #[test]
    fn history_covers_the_configured_span_at_the_configured_interval() {
        let cfg = EmulatorConfig::default();
        let cat = Catalog::build(&cfg, anchor());
        let t = &cfg.tenants[0].tenant_id;
        let blobs = cat.stream(t, "Audit.General");
        assert_eq!(blobs.len(), 180);
        assert!(blobs.windows(2).all(|w| w[0].created < w[1].created));
        assert!(blobs[0].created < anchor() - chrono::Duration::hours(29));
        assert!(blobs.last().unwrap().created <= anchor());
        assert!(blobs.iter().all(|b| content_id_well_formed(&b.content_id)));
        assert!(cat.find(&t.to_uppercase(), &blobs[3].content_id).is_some());
    }

    #[test]
    fn content_ids_are_unique_and_shaped_like_the_services() {
        let cat = Catalog::build(&EmulatorConfig::default(), anchor());
        let ids: std::collections::HashSet<&str> = cat
            .tenant_blobs(&EmulatorConfig::default().tenants[0].tenant_id)
            .map(|b| b.content_id.as_str())
            .collect();
        assert_eq!(ids.len(), 180);
        assert!(!content_id_well_formed("not-a-content-id"));
        assert!(content_id_well_formed(
            "20151005180001089114286$20151005180001089114286$audit_sharepoint$Audit_SharePoint"
        ));
    }

    #[test]
    fn content_types_are_matched_case_insensitively() {
        assert_eq!(
            canonical_content_type("audit.general"),
            Some("Audit.General")
        );
        assert_eq!(canonical_content_type("Audit.Everything"), None);
    }
}
