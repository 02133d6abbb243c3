//! Deterministic audit records: a cheap *plan* per record (Id, RecordType, creation time, body seed) and a
//! *render* step that writes the full JSON body from the plan.
//!
//! `expected_records` only needs plans, so it stays cheap for a million-record history; blob bodies are
//! rendered lazily when fetched. One generator file per ATP record type (28 `mail`, 41 `url_click`,
//! 47 `atp_content`, 64 `air`), plus `other` for the non-ATP types.

mod air;
mod air_entities;
mod atp_content;
mod mail;
mod obj;
mod other;
mod text;
mod url_click;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::rng::{hash_n, DetRng};
use obj::Obj;

/// The ATP record types and their share among ATP records in `Audit.General`.
const ATP_WEIGHTS: &[(i64, u64)] = &[(28, 45), (41, 20), (47, 10), (64, 25)];

/// The documented fields of each ATP record type (beyond the common ones), for tests and for readers.
/// Alternatives are written `A|B` (either spelling is present).
#[cfg(test)]
pub(crate) const DOCUMENTED_FIELDS: &[(i64, &[&str])] = &[
    (
        28,
        &[
            "AttachmentData",
            "DetectionType",
            "DetectionMethod",
            "InternetMessageId",
            "NetworkMessageId",
            "P1Sender",
            "P2Sender",
            "Policy",
            "PolicyAction",
            "Recipients",
            "SenderIp",
            "Subject",
            "Verdict",
            "MessageTime",
            "EventDeepLink",
            "DeliveryAction",
            "OriginalDeliveryLocation",
            "LatestDeliveryLocation",
            "Directionality",
            "ThreatsAndDetectionTech",
            "AdditionalActionsAndResults",
            "Connector",
            "AuthDetails",
            "SystemOverrides",
            "PhishConfidenceLevel",
        ],
    ),
    (
        41,
        &[
            "UserId",
            "AppName",
            "AppVersion",
            "UrlClickAction|URLClickAction",
            "SourceId",
            "TimeOfClick",
            "Url|URL",
            "UserIp",
            "EventDeepLink",
        ],
    ),
    (
        47,
        &[
            "FileData",
            "SourceWorkload",
            "DetectionMethod",
            "LastModifiedDate",
            "LastModifiedBy",
            "EventDeepLink",
            "DetectionDate",
        ],
    ),
    (
        64,
        &[
            "InvestigationId",
            "InvestigationName",
            "InvestigationType",
            "LastUpdateTimeUtc",
            "StartTimeUtc",
            "EndTimeUtc",
            "RunningTime",
            "Status",
            "DeepLinkUrl|DeeplinkURL",
            "Actions",
            "Data",
        ],
    ),
];

/// The common fields every record carries.
#[cfg(test)]
pub(crate) const COMMON_FIELDS: &[&str] = &[
    "CreationTime",
    "Id",
    "Operation",
    "OrganizationId",
    "RecordType",
    "UserKey",
    "UserType",
    "Version",
    "Workload",
    "UserId",
];

/// Whether a record type is one of the four ATP types.
#[cfg(test)]
pub(crate) fn is_atp(record_type: i64) -> bool {
    ATP_WEIGHTS.iter().any(|(t, _)| *t == record_type)
}

/// What the tenant looks like to the generators.
#[derive(Debug, Clone)]
pub(crate) struct TenantCtx {
    pub tenant_id: String,
    pub domain: &'static str,
}

impl TenantCtx {
    pub(crate) fn new(tenant_id: &str) -> Self {
        let mut rng = DetRng::derive(0, &tenant_id.to_ascii_lowercase());
        Self {
            tenant_id: tenant_id.to_owned(),
            domain: *rng.pick(text::TENANT_DOMAINS),
        }
    }
}

/// The cheap part of a record: enough to know its identity without rendering it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordPlan {
    pub id: Uuid,
    pub record_type: i64,
    pub creation: DateTime<Utc>,
    pub seed: u64,
}

/// Plans record `index` of a blob (from the blob's seed, its content type and its contentCreated).
pub(crate) fn plan(
    blob_seed: u64,
    index: u64,
    content_type: &str,
    created: DateTime<Utc>,
    atp_fraction: f64,
) -> RecordPlan {
    let mut rng = DetRng::new(hash_n(blob_seed, index));
    let id = rng.uuid();
    let record_type = if content_type == "Audit.General" && rng.chance(atp_fraction) {
        let total: u64 = ATP_WEIGHTS.iter().map(|(_, w)| w).sum();
        let mut roll = rng.below(total);
        ATP_WEIGHTS
            .iter()
            .find(|(_, w)| {
                let hit = roll < *w;
                roll = roll.saturating_sub(*w);
                hit
            })
            .map_or(28, |(t, _)| *t)
    } else {
        *rng.pick(other::types_for(content_type))
    };
    // Events happen some time before the blob that carries them becomes available.
    let lag_ms = rng.range(5_000, 90 * 60 * 1000);
    RecordPlan {
        id,
        record_type,
        creation: created - Duration::milliseconds(lag_ms),
        seed: rand::RngCore::next_u64(&mut rng),
    }
}

/// Renders the full JSON body of a planned record.
pub(crate) fn render(plan: &RecordPlan, ctx: &TenantCtx) -> String {
    let mut rng = DetRng::new(plan.seed);
    match plan.record_type {
        28 => mail::render(plan, ctx, &mut rng),
        41 => url_click::render(plan, ctx, &mut rng),
        47 => atp_content::render(plan, ctx, &mut rng),
        64 => air::render(plan, ctx, &mut rng),
        _ => other::render(plan, ctx, &mut rng),
    }
}

/// The common part of a record that the type-specific generators fill in.
pub(crate) struct Header {
    pub operation: &'static str,
    pub workload: &'static str,
    pub user_key: &'static str,
    pub user_type: i64,
    pub user_id: String,
    pub object_id: Option<String>,
}

/// Starts a record with the common fields, in the order real records use.
pub(crate) fn header(plan: &RecordPlan, ctx: &TenantCtx, rng: &mut DetRng, h: Header) -> Obj {
    let user_key = if h.user_key.is_empty() {
        format!("{}", 1_003_200_000_000_000u64 + rng.below(999_999_999))
    } else {
        h.user_key.to_owned()
    };
    let mut o = Obj::new()
        .set("CreationTime", text::creation_time(rng, plan.creation))
        .set("Id", plan.id.to_string())
        .set("Operation", h.operation)
        .set("OrganizationId", &ctx.tenant_id)
        .set("RecordType", plan.record_type)
        .set("UserKey", user_key)
        .set("UserType", h.user_type)
        .set("Version", 1)
        .set("Workload", h.workload);
    if let Some(object_id) = h.object_id {
        o.push("ObjectId", object_id);
    }
    o.push("UserId", h.user_id);
    o
}

#[cfg(test)]
mod tests;
