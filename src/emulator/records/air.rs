//! RecordType 64 (`AirInvestigation`, operation `AirInvestigationData`): one status change of an automated
//! investigation.
//!
//! Variants, mixed deterministically: `Actions` as objects or as JSON strings, `Data` always a JSON-encoded
//! string (sometimes with a duplicated `QueryTime` inside), `RunningTime` as number or string, `DeepLinkUrl`
//! or `DeeplinkURL`, entity `Type` in both spellings.

use chrono::{DateTime, Duration, Utc};

use super::super::rng::DetRng;
use super::air_entities::{self as ent, Ids, Subject};
use super::obj::Obj;
use super::text::{self, dotnet, plain};
use super::{header, Header, RecordPlan, TenantCtx};

const KINDS: &[(&str, &str, &str)] = &[
    (
        "ZappedUrlInvestigation",
        "Mail with malicious urls is zapped",
        "Email messages containing malicious URL removed after delivery\u{200b}",
    ),
    (
        "ZappedFileInvestigation",
        "Mail with malicious file is zapped",
        "Email messages containing malicious file removed after delivery",
    ),
    (
        "ZappedEmailInvestigation",
        "Malicious mail is zapped",
        "Email messages removed after delivery\u{200b}",
    ),
    (
        "UrlInvestigation",
        "A potentially malicious URL click was detected",
        "A potentially malicious URL click was detected",
    ),
    (
        "SubmissionInvestigation",
        "User reported a message as phish",
        "Email reported by user as malware or phish",
    ),
];

const STATUSES: &[&str] = &[
    "Investigation Started",
    "Running",
    "Pending Action",
    "Threats Found",
    "Remediated",
    "No threats found",
    "Terminated by System",
    "Terminated By User",
    "Terminated by throttling",
    "Failed",
];

/// Renders one AirInvestigationData record.
pub(crate) fn render(plan: &RecordPlan, ctx: &TenantCtx, rng: &mut DetRng) -> String {
    let (kind, name, alert) = *rng.pick(KINDS);
    let inv = format!("urn:{kind}:{}", text::urn_hex(rng));
    let status = *rng.pick(STATUSES);
    let start = plan.creation - Duration::seconds(rng.range(60, 4 * 3600));
    let finished = matches!(status, "Remediated" | "No threats found" | "Failed")
        || status.starts_with("Terminated");
    let end: Option<DateTime<Utc>> =
        finished.then(|| plan.creation - Duration::seconds(rng.range(1, 50)));
    let running = (end.unwrap_or(plan.creation) - start).num_seconds().max(0);
    let seen = start - Duration::minutes(rng.range(5, 600));
    let subject = Subject::new(rng, ctx.domain, seen);
    let alert_id = rng.uuid().to_string();

    let mut o = header(
        plan,
        ctx,
        rng,
        Header {
            operation: "AirInvestigationData",
            workload: "AirInvestigation",
            user_key: "AirInvestigation",
            user_type: 4,
            user_id: "AirInvestigation".to_owned(),
            object_id: Some(plan.id.to_string()),
        },
    );
    let as_strings = rng.chance(0.6);
    let action_count = match status {
        "Investigation Started" | "Running" => 0,
        _ if rng.chance(0.8) => 1,
        _ => 2,
    };
    let actions: Vec<Obj> = (0..action_count)
        .map(|_| action(rng, &inv, &alert_id, &subject, status, as_strings))
        .collect();
    if as_strings {
        o.push(
            "Actions",
            actions.iter().map(Obj::to_json).collect::<Vec<_>>(),
        );
    } else {
        o.push("Actions", actions);
    }
    o.push(
        "Data",
        data(rng, &inv, &alert_id, alert, &subject, start, plan.creation).to_json(),
    );
    o.push(
        if rng.chance(0.8) {
            "DeepLinkUrl"
        } else {
            "DeeplinkURL"
        },
        format!("https://security.microsoft.com/mtp-investigation/{inv}"),
    );
    o.push(
        "EndTimeUtc",
        end.map_or_else(|| "0001-01-01T00:00:00".to_owned(), plain),
    );
    o.push("InvestigationId", &inv);
    o.push("InvestigationName", format!("{name} - {inv}"));
    o.push("InvestigationType", kind);
    o.push(
        "LastUpdateTimeUtc",
        plain(plan.creation - Duration::seconds(rng.range(1, 60))),
    );
    if rng.chance(0.5) {
        o.push("RunningTime", running);
    } else {
        o.push("RunningTime", running.to_string());
    }
    o.push("StartTimeUtc", plain(start));
    o.push("Status", status);
    o.to_json()
}

fn action(
    rng: &mut DetRng,
    inv: &str,
    alert_id: &str,
    s: &Subject,
    status: &str,
    in_string: bool,
) -> Obj {
    let mut ids = Ids::new();
    let at = s.seen + Duration::minutes(rng.range(5, 90));
    let action_status = match status {
        "Pending Action" => "Pending",
        "Remediated" => "Completed",
        _ => *rng.pick(&["Pending", "Approved", "Skipped", "Completed"]),
    };
    let approved = matches!(action_status, "Approved" | "Completed");
    let action_id = ids.next();
    let dup = in_string && rng.chance(0.5);
    let entity = if rng.chance(0.5) {
        ent::mail_cluster(rng, &mut ids, s, dup)
    } else {
        ent::mail_message(rng, &mut ids, s)
    };
    let mut o = Obj::new()
        .set("$id", action_id)
        .set("ID", rng.uuid().to_string())
        .set(
            "ActionId",
            format!("urn:EmailZapper:{}", text::urn_hex(rng)),
        )
        .set("InvestigationId", inv)
        .set("ActionApproval", if approved { "Approved" } else { "None" })
        .set(
            "ActionType",
            *rng.pick(&["EmailRemediation", "SoftDelete", "BlockUrl", "MoveToJunk"]),
        )
        .set("ActionStatus", action_status)
        .set(
            "ApprovedBy",
            if approved {
                "soc.analyst@contoso.com"
            } else {
                ""
            },
        )
        .set("Entities", [entity])
        .set("RelatedAlertIds", [alert_id])
        .set("StartTimeUtc", plain(at))
        .set(
            "EndTimeUtc",
            plain(at + Duration::seconds(rng.range(5, 600))),
        )
        .set("LastUpdateTimeUtc", dotnet(at))
        .set("TimestampUtc", plain(at));
    o.push(
        "BulkName",
        format!("Mail with malicious urls is zapped - {inv}"),
    );
    o.push("PendingType", "User");
    o.push("LogCreationTime", dotnet(at));
    o.push(
        "MachineName",
        format!(
            "AM{}PR{:02}MB{:04}",
            rng.range(0, 9),
            rng.range(1, 99),
            rng.below(10000)
        ),
    );
    o.push(
        "Description",
        "For malicious emails, you can move to junk, soft or hard delete from user's mailbox.",
    );
    o
}

fn data(
    rng: &mut DetRng,
    inv: &str,
    alert_id: &str,
    alert: &str,
    s: &Subject,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Obj {
    let mut ids = Ids::new();
    let investigation = Obj::new()
        .set("$id", ids.next())
        .set("Id", inv)
        .set("InvestigationStatus", "Running");
    let resource = Obj::new()
        .set("$id", ids.next())
        .set("AadTenantId", rng.uuid().to_string())
        .set("Type", "AAD");
    let mut entities = vec![
        ent::mailbox(rng, &mut ids, s),
        ent::mail_message(rng, &mut ids, s),
    ];
    let dup = rng.chance(0.5);
    match rng.below(6) {
        0 => entities.push(ent::url(rng, &mut ids, s)),
        1 => entities.push(ent::ip(rng, &mut ids, s)),
        2 => entities.push(ent::file(rng, &mut ids, s, true)),
        3 => entities.push(ent::mail_cluster(rng, &mut ids, s, dup)),
        _ => {}
    }
    Obj::new()
        .set("Version", "3.0")
        .set("VendorName", "Microsoft")
        .set("ProviderName", "OATP")
        .set("AlertType", rng.uuid().to_string())
        .set("StartTimeUtc", dotnet(start))
        .set("EndTimeUtc", dotnet(start))
        .set("TimeGenerated", dotnet(start + Duration::seconds(30)))
        .set("ProcessingEndTime", dotnet(now))
        .set("Status", *rng.pick(&["InProgress", "New", "Resolved"]))
        .set(
            "DetectionTechnology",
            *rng.pick(&[
                "URLList",
                "UrlReputation",
                "FingerPrintMatch",
                "FileHashList",
            ]),
        )
        .set(
            "Severity",
            *rng.pick(&["Informational", "Low", "Medium", "High"]),
        )
        .set("ConfidenceLevel", "Unknown")
        .set("ConfidenceScore", 1.0)
        .set("IsIncident", false)
        .set("ProviderAlertId", alert_id)
        .set("SystemAlertId", ())
        .set("CorrelationKey", rng.uuid().to_string())
        .set("Investigations", [investigation])
        .set("InvestigationIds", [inv])
        .set("Intent", "Probing")
        .set("ResourceIdentifiers", [resource])
        .set("AzureResourceId", ())
        .set("WorkspaceId", ())
        .set("AgentId", ())
        .set("AlertDisplayName", alert)
        .set("Description", format!("{alert} -V1.0.0.3"))
        .set(
            "ExtendedLinks",
            [Obj::new()
                .set(
                    "Href",
                    format!("https://security.microsoft.com/alerts/{alert_id}"),
                )
                .set("Category", ())
                .set("Label", "alert")
                .set("Type", "webLink")],
        )
        .set(
            "Metadata",
            Obj::new().set("CustomApps", ()).set("GenericInfo", ()),
        )
        .set("Entities", entities)
        .set("LogCreationTime", dotnet(now))
        .set(
            "MachineName",
            format!(
                "DB{}EUR{:02}BG{:03}",
                rng.range(1, 9),
                rng.range(1, 9),
                rng.below(1000)
            ),
        )
        .set("SourceTemplateType", "Threat_Single")
        .set("Category", "ThreatManagement")
        .set("SourceAlertType", "System")
}
