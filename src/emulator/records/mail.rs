//! RecordType 28 (`ThreatIntelligence`, operation `TIMailData`): a Defender verdict on one e-mail.
//!
//! Every documented field is present; the spellings vary as they do in real records: `Policy`/`PolicyAction`
//! as names or as the documented ints, `FileVerdict` as int or string, `DetectionType` as a name or (very old
//! records) 0/1/2, SHA256 in upper- or lowercase hex, AuthDetails keys in either order.

use chrono::Duration;

use super::super::rng::DetRng;
use super::obj::Obj;
use super::text::{self, plain};
use super::{header, Header, RecordPlan, TenantCtx};

/// What happened to the message.
struct Scenario {
    verdict: &'static str,
    policy: (&'static str, i64),
    action: (&'static str, i64),
    method: &'static str,
    tech: &'static str,
    delivery: &'static str,
    location: &'static str,
    view: &'static str,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        verdict: "Malware",
        policy: ("AntiMalware", 9),
        action: ("Quarantine", 5),
        method: "File detonation",
        tech: "Malware: [File detonation]",
        delivery: "Blocked",
        location: "Quarantine",
        view: "Malware",
    },
    Scenario {
        verdict: "Malware",
        policy: ("SafeAttachements", 10),
        action: ("ReplaceAttachment", 8),
        method: "Antimalware protection",
        tech: "Malware: [Antimalware protection]",
        delivery: "Replaced",
        location: "Inbox",
        view: "Malware",
    },
    Scenario {
        verdict: "Phish",
        policy: ("HighConfidencePhish", 15),
        action: ("Quarantine", 5),
        method: "URL detonation reputation",
        tech: "Phish: [URL detonation reputation]",
        delivery: "Blocked",
        location: "Quarantine",
        view: "Phish",
    },
    Scenario {
        verdict: "Phish",
        policy: ("Phish", 4),
        action: ("MoveToJmf", 0),
        method: "Spoof external domain",
        tech: "Phish: [Spoof DMARC]",
        delivery: "DeliveredAsSpam",
        location: "JunkFolder",
        view: "Phish",
    },
    Scenario {
        verdict: "Phish",
        policy: ("Spoof", 7),
        action: ("MoveToJmf", 0),
        method: "Impersonation user",
        tech: "Phish: [Impersonation user]",
        delivery: "DeliveredAsSpam",
        location: "JunkFolder",
        view: "Phish",
    },
    Scenario {
        verdict: "Phish",
        policy: ("ZapPhish", 13),
        action: ("Quarantine", 5),
        method: "Fingerprint matching",
        tech: "Phish: [Fingerprint matching]",
        delivery: "Delivered",
        location: "Inbox",
        view: "Phish",
    },
    Scenario {
        verdict: "Spam",
        policy: ("Spam", 2),
        action: ("MoveToJmf", 0),
        method: "Mixed analysis detection",
        tech: "Spam: [Advanced filter]",
        delivery: "DeliveredAsSpam",
        location: "JunkFolder",
        view: "Spam",
    },
    Scenario {
        verdict: "Spam",
        policy: ("HighConfidenceSpam", 1),
        action: ("Quarantine", 5),
        method: "Domain reputation",
        tech: "Spam: [Domain reputation]",
        delivery: "Blocked",
        location: "Quarantine",
        view: "Spam",
    },
];

/// Renders one TIMailData record.
pub(crate) fn render(plan: &RecordPlan, ctx: &TenantCtx, rng: &mut DetRng) -> String {
    let s = rng.pick(SCENARIOS);
    let nmid = rng.uuid().to_string();
    let suffix = format!(
        "{}{:09}",
        rng.range(1_000_000_000, 9_999_999_999),
        rng.below(1_000_000_000)
    );
    let sender = text::external_address(rng);
    let sender_domain = sender
        .rsplit('@')
        .next()
        .unwrap_or("example.org")
        .to_owned();
    let message_time = plan.creation - Duration::seconds(rng.range(20, 900));
    let day = plan.creation.format("%Y-%m-%d");
    let ints = rng.chance(0.3);

    let mut o = header(
        plan,
        ctx,
        rng,
        Header {
            operation: "TIMailData",
            workload: "ThreatIntelligence",
            user_key: "ThreatIntel",
            user_type: 4,
            user_id: "ThreatIntel".to_owned(),
            object_id: Some(format!("{nmid}{suffix}")),
        },
    );
    let zap = s.policy.0.starts_with("Zap");
    let mut extra = vec!["OriginalDelivery: [N/A]".to_owned()];
    if zap {
        extra.push("Zap: [Success: Message moved to quarantine]".to_owned());
    }
    o.push("AdditionalActionsAndResults", extra);
    o.push("AttachmentData", attachments(rng, s.verdict == "Malware"));
    o.push("AuthDetails", auth_details(rng, s.verdict == "Phish"));
    o.push(
        "Connector",
        format!("{}: [Inbound from {}]", rng.uuid(), ctx.domain),
    );
    o.push("DeliveryAction", s.delivery);
    o.push("DetectionMethod", s.method);
    match rng.below(10) {
        0 => o.push("DetectionType", if zap { 2 } else { rng.range(0, 1) }),
        1 => o.push("DetectionType", "Delayed"),
        _ if zap => o.push("DetectionType", "ZAP"),
        _ => o.push("DetectionType", "Inline"),
    }
    o.push(
        "Directionality",
        *rng.pick(&[
            "Inbound", "Inbound", "Inbound", "Outbound", "IntraOrg", "Intraorg",
        ]),
    );
    o.push(
        "EventDeepLink",
        format!(
            "https://security.microsoft.com/?hash=/threatexplorer?messageParams={nmid},{nmid}-{suffix}-1,{day}T00:00:00,{day}T23:59:59&view={}",
            s.view
        ),
    );
    o.push(
        "InternetMessageId",
        text::internet_message_id(rng, &sender_domain),
    );
    o.push(
        "LatestDeliveryLocation",
        if zap { "Quarantine" } else { s.location },
    );
    o.push("MessageTime", plain(message_time));
    o.push("NetworkMessageId", &nmid);
    o.push("OriginalDeliveryLocation", s.location);
    o.push("P1Sender", format!("prvs={}={sender}", rng.hex(10)));
    o.push("P2Sender", &sender);
    o.push(
        "PhishConfidenceLevel",
        if s.policy.0 == "HighConfidencePhish" {
            "High"
        } else {
            "Normal"
        },
    );
    if ints {
        o.push("Policy", s.policy.1);
        o.push("PolicyAction", s.action.1);
    } else {
        o.push("Policy", s.policy.0);
        o.push("PolicyAction", s.action.0);
    }
    let recipients: Vec<String> = (0..rng.range(1, 3))
        .map(|_| text::internal_address(rng, ctx.domain))
        .collect();
    o.push("Recipients", recipients);
    o.push("SenderIp", text::ipv4(rng));
    o.push("Subject", *rng.pick(text::SUBJECTS));
    o.push("SystemOverrides", system_overrides(rng));
    let mut tech = vec![s.tech.to_owned()];
    if rng.chance(0.4) {
        tech.push("Spam: [General filter]".to_owned());
    }
    o.push("ThreatsAndDetectionTech", tech);
    o.push("Verdict", s.verdict);
    o.to_json()
}

fn attachments(rng: &mut DetRng, malicious: bool) -> Vec<Obj> {
    let n = if malicious {
        rng.range(1, 2)
    } else {
        rng.range(0, 1)
    };
    (0..n)
        .map(|_| {
            let (name, kind) = *rng.pick(text::ATTACHMENTS);
            let verdict: i64 = if malicious {
                1
            } else {
                *rng.pick(&[0, 0, 0, -1, -2, -3])
            };
            let mut a = Obj::new().set("FileName", name).set("FileType", kind);
            if rng.chance(0.2) {
                a.push("FileVerdict", verdict.to_string());
            } else {
                a.push("FileVerdict", verdict);
            }
            let family = if malicious {
                *rng.pick(&text::MALWARE_FAMILIES[..7])
            } else {
                ""
            };
            a.push("MalwareFamily", family);
            a.push("SHA256", text::sha256(rng, 0));
            a
        })
        .collect()
}

fn auth_details(rng: &mut DetRng, failing: bool) -> Vec<Obj> {
    let swapped = rng.chance(0.3);
    let pairs: [(&str, &str); 4] = if failing {
        [
            ("SPF", "Fail"),
            ("DKIM", "None"),
            ("DMARC", "Fail"),
            ("Comp Auth", "fail"),
        ]
    } else {
        [
            ("SPF", "Pass"),
            ("DKIM", "Pass"),
            ("DMARC", "Best guess pass"),
            ("Comp Auth", "pass"),
        ]
    };
    pairs
        .iter()
        .map(|(name, value)| {
            if swapped {
                Obj::new().set("Value", value).set("Name", name)
            } else {
                Obj::new().set("Name", name).set("Value", value)
            }
        })
        .collect()
}

fn system_overrides(rng: &mut DetRng) -> Vec<Obj> {
    if rng.chance(0.6) {
        return Vec::new();
    }
    let (details, source) = *rng.pick(&[
        ("Antimalware policy block by file type", "Tenant"),
        ("Exchange transport rule", "Tenant"),
        ("Allowed by user policy", "User"),
    ]);
    vec![Obj::new()
        .set("Details", details)
        .set("FinalOverride", if rng.chance(0.5) { "Yes" } else { "No" })
        .set("Result", if source == "User" { "Allow" } else { "Block" })
        .set("Source", source)]
}
