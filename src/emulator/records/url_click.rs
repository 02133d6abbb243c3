//! RecordType 41 (`ThreatIntelligenceUrl`, operation `TIUrlClickData`): a Safe Links time-of-click event.
//!
//! Spellings vary as in the wild and in the docs: `Url` or `URL`, `UrlClickAction` or `URLClickAction`.

use chrono::Duration;

use super::super::rng::DetRng;
use super::text::{self, plain};
use super::{header, Header, RecordPlan, TenantCtx};

const APPS: &[(&str, &str)] = &[
    ("Mail", "0.0.0000"),
    ("Outlook", "16.0.17928.20114"),
    ("Teams", "1.6.00.27573"),
    ("Word", "16.0.17928.20114"),
    ("OneNote", "16.0.17928.20114"),
];

/// Renders one TIUrlClickData record.
pub(crate) fn render(plan: &RecordPlan, ctx: &TenantCtx, rng: &mut DetRng) -> String {
    let user = text::internal_address(rng, ctx.domain);
    let source_id = rng.uuid().to_string();
    let (app, version) = *rng.pick(APPS);
    let mut o = header(
        plan,
        ctx,
        rng,
        Header {
            operation: "TIUrlClickData",
            workload: "ThreatIntelligence",
            user_key: "ThreatIntel",
            user_type: 4,
            user_id: user.clone(),
            object_id: None,
        },
    );
    o.push("AppName", app);
    o.push("AppVersion", version);
    o.push(
        "EventDeepLink",
        format!(
            "https://security.microsoft.com/threatexplorer?dltarget=Explorer&dlstorage=Url&viewid=Phish&query-Recipients={user}&query-NetworkMessageId={source_id}"
        ),
    );
    o.push("SourceId", &source_id);
    o.push(
        "TimeOfClick",
        plain(plan.creation - Duration::seconds(rng.range(1, 120))),
    );
    let url = *rng.pick(text::MALICIOUS_URLS);
    o.push(if rng.chance(0.7) { "Url" } else { "URL" }, url);
    let action = *rng.pick(&[2, 2, 2, 3, 4, 5]);
    o.push(
        if rng.chance(0.5) {
            "UrlClickAction"
        } else {
            "URLClickAction"
        },
        action,
    );
    o.push("UserIp", text::ipv4(rng));
    o.to_json()
}
