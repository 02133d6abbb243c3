//! RecordType 47 (`ThreatIntelligenceAtpContent`, operation `AtpDetection`): a malicious file found in
//! SharePoint, OneDrive or Teams.
//!
//! `FileData.SHA256` comes as base64 or hex, `FileVerdict` as int or string, `FileSize` always as a string.

use chrono::Duration;

use super::super::rng::DetRng;
use super::obj::Obj;
use super::text::{self, plain};
use super::{header, Header, RecordPlan, TenantCtx};

const FILES: &[&str] = &[
    "Invoice 48213 (final).docm",
    "Q3 Budget|draft.xlsm",
    "setup_update.exe",
    "Shared Scans/scan_0042.zip",
    "Payroll \"2025\".xlsx",
    "Präsentation Kunde.pptm",
];

/// Renders one AtpDetection record.
pub(crate) fn render(plan: &RecordPlan, ctx: &TenantCtx, rng: &mut DetRng) -> String {
    let modified_by = text::internal_address(rng, ctx.domain);
    let workload = rng.range(0, 2);
    let file = *rng.pick(FILES);
    let name = file.rsplit('/').next().unwrap_or(file);
    let site = ctx.domain.split('.').next().unwrap_or("contoso");
    let path = match workload {
        0 => format!("https://{site}.sharepoint.com/sites/Finance/Shared Documents/{file}"),
        1 => format!(
            "https://{site}-my.sharepoint.com/personal/{}/Documents/{file}",
            modified_by.replace(['@', '.'], "_")
        ),
        _ => format!(
            "https://{site}.sharepoint.com/sites/Team-Sales/Shared Documents/General/{file}"
        ),
    };
    let detection_id = rng.uuid();
    let mut o = header(
        plan,
        ctx,
        rng,
        Header {
            operation: "AtpDetection",
            workload: "ThreatIntelligence",
            user_key: "ThreatIntel",
            user_type: 4,
            user_id: modified_by.clone(),
            object_id: Some(path.clone()),
        },
    );
    o.push(
        "DetectionDate",
        plain(plan.creation - Duration::seconds(rng.range(5, 300))),
    );
    o.push(
        "DetectionMethod",
        *rng.pick(&[
            "AntiMalware",
            "Reputation",
            "File detonation",
            "Safe Attachments",
        ]),
    );
    o.push(
        "EventDeepLink",
        format!(
            "https://security.microsoft.com/threatexplorer?dltarget=Explorer&dlstorage=Url&viewid=MalwareContent&query-Id={detection_id}"
        ),
    );
    let mut file_data = Obj::new()
        .set("DocumentId", rng.uuid().to_string())
        .set("FileName", name)
        .set("FilePath", &path)
        .set("FileSize", rng.range(2_000, 4_000_000).to_string());
    if rng.chance(0.25) {
        file_data.push("FileVerdict", "1");
    } else {
        file_data.push("FileVerdict", 1);
    }
    file_data.push("MalwareFamily", *rng.pick(&text::MALWARE_FAMILIES[..7]));
    file_data.push("SHA256", text::sha256(rng, 70));
    o.push("FileData", file_data);
    o.push("LastModifiedBy", &modified_by);
    o.push(
        "LastModifiedDate",
        plain(plan.creation - Duration::minutes(rng.range(10, 60 * 24 * 30))),
    );
    o.push("SourceWorkload", workload);
    o.to_json()
}
