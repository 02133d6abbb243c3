//! Every documented field of the four ATP record types reaches the ECS output as a typed ECS field or a
//! readable `o365.*` field — not only inside the raw copy under `o365.audit`. Each test walks a full record of
//! one type field by field; a final check per test makes sure the walk covered every key of the record.

mod formats_support;

use std::collections::BTreeSet;

use formats_support::{ecs, event, fixture};
use serde_json::{json, Value};

/// The value at a dotted path (`email.attachments.0.file.name`); numeric segments index arrays.
fn at<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(doc, |v, seg| match seg.parse::<usize>() {
            Ok(i) if v.is_array() => v.get(i),
            _ => v.get(seg),
        })
}

/// Asserts each `(source field, ECS path, expected)` and that the source fields cover every key of `raw`.
/// An empty path marks a field that is `null` in the record.
fn walk(raw: &[u8], table: &[(&str, &str, Value)]) {
    let ev = event(raw);
    assert_eq!(ev.decode_error(), None);
    let doc = ecs(&ev);
    for (source, path, expected) in table.iter().filter(|(_, path, _)| !path.is_empty()) {
        assert!(
            !path.starts_with("o365.audit"),
            "{source}: the raw copy does not count"
        );
        let found = at(&doc, path);
        assert_eq!(found, Some(expected), "{source} → {path}");
    }
    let record: Value = serde_json::from_slice(raw).expect("fixture is JSON");
    let keys: BTreeSet<&str> = record
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let covered: BTreeSet<&str> = table
        .iter()
        .map(|(s, _, _)| s.split(['.', '[']).next().unwrap_or(s))
        .collect();
    let missing: Vec<_> = keys.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "fields of the record not walked: {missing:?}"
    );
}

#[test]
fn every_tim_mail_data_field_appears_in_ecs() {
    let raw = fixture("mail_phish_quarantined.json");
    walk(raw.trim_ascii(), &[
        ("Id", "event.id", json!("5f0c1e9a-7d1b-4c1e-9a55-1f2e3d4c5b6a")),
        ("RecordType", "event.code", json!("28")),
        ("CreationTime", "@timestamp", json!("2025-11-24T10:03:19Z")),
        ("Operation", "event.action", json!("TIMailData")),
        ("OrganizationId", "organization.id", json!("b2c3d4e5-1111-4a4a-9b9b-0123456789ab")),
        ("UserKey", "o365.user_key", json!("ThreatIntel")),
        ("UserType", "o365.user_type", json!("System")),
        ("UserType", "o365.user_type_code", json!(4)),
        ("Version", "o365.version", json!(1)),
        ("Workload", "event.provider", json!("ThreatIntelligence")),
        ("ObjectId", "o365.object_id", json!("c4a1d2e3-0f9e-4d8c-b7a6-543210fedcba")),
        ("UserId", "o365.user_id", json!("ThreatIntel")),
        ("ResultStatus", "o365.result_status", json!("Succeeded")),
        ("ResultStatus", "event.outcome", json!("success")),
        ("Scope", "o365.scope", json!(0)),
        ("ClientIP", "", Value::Null), // null in this record: nothing to map (see the common-field test)
        ("AdditionalActionsAndResults", "o365.atp.additional_actions_and_results.1", json!("ZAP: [Success: Message moved to quarantine]")),
        ("AttachmentData.FileName", "email.attachments.0.file.name", json!("Invoice_2025-11.pdf.html")),
        ("AttachmentData.FileName", "email.attachments.0.file.extension", json!("html")),
        ("AttachmentData.FileName", "o365.atp.attachments.0.file_name", json!("Invoice_2025-11.pdf.html")),
        ("AttachmentData.FileType", "o365.atp.attachments.0.file_type", json!("html")),
        ("AttachmentData.FileVerdict", "o365.atp.attachments.0.file_verdict", json!("Bad")),
        ("AttachmentData.FileVerdict", "o365.atp.attachments.0.file_verdict_code", json!(1)),
        ("AttachmentData.MalwareFamily", "threat.software.name", json!("HTML/Phish.AGK!MTB")),
        ("AttachmentData.MalwareFamily", "o365.atp.attachments.0.malware_family", json!("HTML/Phish.AGK!MTB")),
        ("AttachmentData.SHA256", "email.attachments.0.file.hash.sha256", json!("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")),
        ("AttachmentData.SHA256", "related.hash.0", json!("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")),
        ("AttachmentData.SHA256", "o365.atp.attachments.0.sha256_original", json!("9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08")),
        ("AuthDetails.SPF", "o365.atp.auth.spf", json!("Fail")),
        ("AuthDetails.DKIM", "o365.atp.auth.dkim", json!("None")),
        ("AuthDetails.DMARC", "o365.atp.auth.dmarc", json!("Fail")),
        ("AuthDetails.CompAuth", "o365.atp.auth.comp_auth", json!("fail")),
        ("Connector", "o365.atp.connector", json!("0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9: [Inbound from Partner Relay]")),
        ("DeliveryAction", "o365.atp.delivery_action", json!("Blocked")),
        ("DetectionMethod", "o365.atp.detection_method", json!("Spoof DMARC")),
        ("DetectionType", "o365.atp.detection_type", json!("Inline")),
        ("Directionality", "email.direction", json!("inbound")),
        ("Directionality", "o365.atp.directionality", json!("Inbound")),
        ("EventDeepLink", "event.url", json!("https://security.microsoft.com/?hash=/threatexplorer?messageParams=d3d1ecd6-52e8-42a7-9029-08db7c7febfc,d3d1ecd6-52e8-42a7-9029-08db7c7febfc-4613299951868376388-1,2025-11-24T00:00:00,2025-11-24T23:59:59&view=Phish")),
        ("InternetMessageId", "email.message_id", json!("<CAF7uB3x+payroll@mail.fabrikam-payroll.example>")),
        ("LatestDeliveryLocation", "o365.atp.latest_delivery_location", json!("Quarantine")),
        ("MessageTime", "email.origination_timestamp", json!("2025-11-24T10:02:51Z")),
        ("NetworkMessageId", "email.local_id", json!("d3d1ecd6-52e8-42a7-9029-08db7c7febfc")),
        ("OriginalDeliveryLocation", "o365.atp.original_delivery_location", json!("Quarantine")),
        ("P1Sender", "email.sender.address", json!("bounces+4471@mail.fabrikam-payroll.example")),
        ("P2Sender", "email.from.address", json!(["payroll@fabrikam-payroll.example"])),
        ("PhishConfidenceLevel", "o365.atp.phish_confidence_level", json!("High")),
        ("Policy", "rule.name", json!("HighConfidencePhish")),
        ("Policy", "o365.atp.policy_code", json!(15)),
        ("PolicyAction", "o365.atp.policy_action", json!("Quarantine")),
        ("Recipients", "email.to.address", json!(["megan.bowen@contoso.com"])),
        ("Recipients", "related.user.0", json!("megan.bowen@contoso.com")),
        ("SenderIp", "source.ip", json!("203.0.113.45")),
        ("SenderIp", "related.ip", json!(["203.0.113.45"])),
        ("Subject", "email.subject", json!("Action required: confirm your November payroll details")),
        ("SystemOverrides.Details", "o365.atp.system_overrides.0.details", json!("Exchange transport rule")),
        ("SystemOverrides.FinalOverride", "o365.atp.system_overrides.0.final_override", json!("No")),
        ("SystemOverrides.Result", "o365.atp.system_overrides.0.result", json!("Block")),
        ("SystemOverrides.Source", "o365.atp.system_overrides.0.source", json!("Tenant")),
        ("ThreatsAndDetectionTech", "o365.atp.threats_and_detection_tech", json!(["Phish: [Spoof DMARC, URL malicious reputation]", "Spam: [Advanced filter]"])),
        ("Verdict", "o365.atp.verdict", json!("Phish")),
        ("Verdict", "event.kind", json!("alert")),
    ]);
}

#[test]
fn every_tim_url_click_data_field_appears_in_ecs() {
    let raw = fixture("url_click_block_page.json");
    walk(raw.trim_ascii(), &[
        ("Id", "event.id", json!("3b4c5d6e-7f80-4192-a3b4-c5d6e7f80912")),
        ("RecordType", "event.code", json!("41")),
        ("CreationTime", "@timestamp", json!("2025-11-24T10:05:00Z")),
        ("Operation", "event.action", json!("TIUrlClickData")),
        ("OrganizationId", "organization.id", json!("b2c3d4e5-1111-4a4a-9b9b-0123456789ab")),
        ("UserKey", "o365.user_key", json!("ThreatIntel")),
        ("UserType", "o365.user_type", json!("System")),
        ("Version", "o365.version", json!(1)),
        ("Workload", "event.provider", json!("ThreatIntelligence")),
        ("UserId", "user.email", json!("megan.bowen@contoso.com")),
        ("UserId", "user.name", json!("megan.bowen")),
        ("UserId", "user.domain", json!("contoso.com")),
        ("UserId", "related.user", json!(["megan.bowen@contoso.com"])),
        ("AppName", "user_agent.name", json!("Outlook")),
        ("AppVersion", "user_agent.version", json!("16.0.17928.20114")),
        ("URLClickAction", "o365.atp.url_click_action", json!("BlockPage")),
        ("URLClickAction", "o365.atp.url_click_action_code", json!(2)),
        ("URLClickAction", "event.type", json!(["denied"])),
        ("SourceId", "email.local_id", json!("d3d1ecd6-52e8-42a7-9029-08db7c7febfc")),
        ("SourceId", "o365.atp.source_id", json!("d3d1ecd6-52e8-42a7-9029-08db7c7febfc")),
        ("TimeOfClick", "o365.atp.time_of_click", json!("2025-11-24T10:04:57Z")),
        ("URL", "url.original", json!("https://login.micros0ft-verify.example:8443/owa/auth.php?user=megan.bowen%40contoso.com&ref=mail#step2")),
        ("URL", "url.scheme", json!("https")),
        ("URL", "url.domain", json!("login.micros0ft-verify.example")),
        ("URL", "url.port", json!(8443)),
        ("URL", "url.path", json!("/owa/auth.php")),
        ("URL", "url.query", json!("user=megan.bowen%40contoso.com&ref=mail")),
        ("URL", "url.fragment", json!("step2")),
        ("UserIp", "source.ip", json!("192.0.2.44")),
        ("EventDeepLink", "event.url", json!("https://security.microsoft.com/threatexplorer?dltarget=Explorer&dlstorage=Url&viewid=UrlClicks&query-NetworkMessageId=d3d1ecd6-52e8-42a7-9029-08db7c7febfc")),
    ]);
}

#[test]
fn every_atp_detection_field_appears_in_ecs() {
    let raw = fixture("atp_sharepoint_hex.json");
    walk(raw.trim_ascii(), &[
        ("Id", "event.id", json!("6e7f8091-a2b3-44c5-d6e7-f8091a2b3c4d")),
        ("RecordType", "event.code", json!("47")),
        ("CreationTime", "@timestamp", json!("2025-11-24T09:12:44Z")),
        ("Operation", "event.action", json!("AtpDetection")),
        ("OrganizationId", "organization.id", json!("b2c3d4e5-1111-4a4a-9b9b-0123456789ab")),
        ("UserKey", "o365.user_key", json!("ThreatIntel")),
        ("UserType", "o365.user_type", json!("System")),
        ("Version", "o365.version", json!(1)),
        ("Workload", "event.provider", json!("ThreatIntelligence")),
        ("UserId", "user.id", json!("lidia.holloway@contoso.com")),
        ("FileData.DocumentId", "o365.atp.document_id", json!("8f9e0d1c-2b3a-4958-8677-a6b5c4d3e2f1")),
        ("FileData.FileName", "file.name", json!("Q4 forecast.xlsm")),
        ("FileData.FileName", "file.extension", json!("xlsm")),
        ("FileData.FilePath", "file.path", json!("https://contoso.sharepoint.com/sites/Finance/Shared Documents/Q4 forecast.xlsm")),
        ("FileData.FileSize", "file.size", json!(48213)),
        ("FileData.FileVerdict", "o365.atp.file_verdict", json!("Bad")),
        ("FileData.FileVerdict", "o365.atp.file_verdict_code", json!(1)),
        ("FileData.MalwareFamily", "threat.software.name", json!("TrojanDownloader:O97M/Qakbot")),
        ("FileData.SHA256", "file.hash.sha256", json!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")),
        ("FileData.SHA256", "related.hash", json!(["ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"])),
        ("FileData.SHA256", "o365.atp.sha256_original", json!("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD")),
        ("SourceWorkload", "o365.atp.source_workload", json!("SharePoint")),
        ("SourceWorkload", "o365.atp.source_workload_code", json!(0)),
        ("SourceWorkload", "message", json!("Malicious file detected in SharePoint")),
        ("DetectionMethod", "o365.atp.detection_method", json!("AntiMalware")),
        ("LastModifiedDate", "file.mtime", json!("2025-11-24T09:10:31Z")),
        ("LastModifiedBy", "user.email", json!("lidia.holloway@contoso.com")),
        ("LastModifiedBy", "o365.atp.last_modified_by", json!("lidia.holloway@contoso.com")),
        ("EventDeepLink", "event.url", json!("https://security.microsoft.com/threatexplorer?dltarget=Explorer&dlstorage=Url&viewid=MalwareContent&query-Id=6e7f8091-a2b3-44c5-d6e7-f8091a2b3c4d")),
        ("DetectionDate", "o365.atp.detection_date", json!("2025-11-24T09:12:02Z")),
    ]);
}

#[test]
fn every_air_investigation_field_and_entity_appears_in_ecs() {
    let raw = fixture("air_threats_found_strings.json");
    walk(raw.trim_ascii(), &[
        ("Id", "event.id", json!("9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d")),
        ("RecordType", "event.code", json!("64")),
        ("CreationTime", "@timestamp", json!("2025-11-24T11:00:02.517Z")),
        ("Operation", "event.action", json!("AirInvestigationData")),
        ("OrganizationId", "organization.id", json!("b2c3d4e5-1111-4a4a-9b9b-0123456789ab")),
        ("UserKey", "o365.user_key", json!("AirInvestigation")),
        ("UserType", "o365.user_type", json!("System")),
        ("Version", "o365.version", json!(1)),
        ("Workload", "event.provider", json!("AirInvestigation")),
        ("ObjectId", "o365.object_id", json!("9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d")),
        ("UserId", "o365.user_id", json!("AirInvestigation")),
        ("InvestigationId", "o365.air.investigation_id", json!("urn:ZappedUrlInvestigation:5e4d3c2b")),
        ("InvestigationName", "o365.air.investigation_name", json!("Mail with malicious urls is zapped - urn:ZappedUrlInvestigation:5e4d3c2b")),
        ("InvestigationType", "o365.air.investigation_type", json!("ZappedUrlInvestigation")),
        ("LastUpdateTimeUtc", "o365.air.last_update_time", json!("2025-11-24T10:59:55Z")),
        ("StartTimeUtc", "event.start", json!("2025-11-24T10:29:21Z")),
        ("StartTimeUtc", "o365.air.start_time", json!("2025-11-24T10:29:21Z")),
        ("EndTimeUtc", "event.end", json!("2025-11-24T10:59:55Z")),
        ("EndTimeUtc", "o365.air.end_time", json!("2025-11-24T10:59:55Z")),
        ("RunningTime", "o365.air.running_time", json!(1834)),
        ("Status", "o365.air.status", json!("Threats Found")),
        ("Status", "event.kind", json!("alert")),
        ("Status", "message", json!("Automated investigation: Threats Found")),
        ("DeeplinkURL", "event.url", json!("https://security.microsoft.com/mtp-investigation/urn:ZappedUrlInvestigation:5e4d3c2b")),
        ("DeeplinkURL", "o365.air.deep_link_url", json!("https://security.microsoft.com/mtp-investigation/urn:ZappedUrlInvestigation:5e4d3c2b")),
        ("Data", "o365.air.data.AlertDisplayName", json!("Email messages containing malicious URL removed after delivery")),
        ("Data", "o365.air.data.QueryTime", json!("11/24/2025 10:31:02 AM")),
        ("Data", "o365.air.alert_severity", json!("High")),
        ("Data", "event.reference", json!("https://security.microsoft.com/alerts/fafa11ce5e-0000-4000-8000-00000000a1e7")),
        ("Data.Entities[mail-message].Recipient", "email.to.address", json!(["megan.bowen@contoso.com"])),
        ("Data.Entities[mail-message].Sender", "email.from.address", json!(["payroll@fabrikam-payroll.example"])),
        ("Data.Entities[mail-message].InternetMessageId", "email.message_id", json!(["<CAF7uB3x+payroll@mail.fabrikam-payroll.example>"])),
        ("Data.Entities[mail-message].NetworkMessageId", "email.local_id.0", json!("d3d1ecd6-52e8-42a7-9029-08db7c7febfc")),
        ("Data.Entities[MailCluster].NetworkMessageIds", "email.local_id.1", json!("e4e5e6e7-f8f9-4a0b-8c1d-2e3f4a5b6c7d")),
        ("Actions[0].Entities[mailCluster].NetworkMessageIds", "email.local_id.2", json!("f0f1f2f3-a4a5-4b6b-8c7c-d8d9dadbdcdd")),
        ("Data.Entities[mail-message].Subject", "email.subject", json!(["Action required: confirm your November payroll details"])),
        ("Data.Entities[mail-message].SenderIP", "related.ip", json!(["203.0.113.45"])),
        ("Data.Entities[ip].Address", "related.ip.0", json!("203.0.113.45")),
        ("Data.Entities[url].Url", "o365.air.urls.0", json!("https://login.micros0ft-verify.example/owa")),
        ("Actions[1].Entities[url].Url", "o365.air.urls.1", json!("https://cdn.micros0ft-verify.example/kit.js")),
        ("Data.Entities[mailbox].MailboxPrimaryAddress", "related.user.0", json!("megan.bowen@contoso.com")),
        ("Data.Entities[file].FileHashes", "related.hash.0", json!("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")),
        ("Data.Entities[file].FileHashes(SHA1)", "related.hash.1", json!("a94a8fe5ccb19ba61c4c0873d391e987982fbbd3")),
        ("Data.Entities[filehash].Value(base64)", "related.hash.2", json!("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")),
        ("Data.Entities[file].Name", "o365.air.files", json!(["Invoice_2025-11.pdf.html", "payload.js"])),
        ("Actions", "o365.air.actions.0.ActionType", json!("EmailRemediation")),
        ("Actions", "o365.air.actions.1.ApprovedBy", json!("secops@contoso.com")),
    ]);
}

#[test]
fn every_common_field_appears_in_ecs() {
    let raw = json!({
        "CreationTime": "2025-11-24T07:58:12", "Id": "cd2e3f4a-5b6c-4d7e-8f9a-0b1c2d3e4f5a", "Operation": "UserLoggedIn",
        "OrganizationId": "b2c3d4e5-1111-4a4a-9b9b-0123456789ab", "RecordType": 15, "ResultStatus": "Failed",
        "UserKey": "10032001A1B2C3D4", "UserType": 2, "Version": 1, "Workload": "AzureActiveDirectory",
        "ClientIP": "192.0.2.10", "ObjectId": "00000002-0000-0ff1-ce00-000000000000",
        "UserId": "megan.bowen@contoso.com", "Scope": 1,
    });
    walk(
        &serde_json::to_vec(&raw).expect("json"),
        &[
            ("CreationTime", "@timestamp", json!("2025-11-24T07:58:12Z")),
            (
                "Id",
                "event.id",
                json!("cd2e3f4a-5b6c-4d7e-8f9a-0b1c2d3e4f5a"),
            ),
            ("Operation", "event.action", json!("UserLoggedIn")),
            (
                "OrganizationId",
                "organization.id",
                json!("b2c3d4e5-1111-4a4a-9b9b-0123456789ab"),
            ),
            ("RecordType", "event.code", json!("15")),
            ("ResultStatus", "event.outcome", json!("failure")),
            ("ResultStatus", "o365.result_status", json!("Failed")),
            ("UserKey", "o365.user_key", json!("10032001A1B2C3D4")),
            ("UserType", "o365.user_type", json!("Admin")),
            ("UserType", "o365.user_type_code", json!(2)),
            ("Version", "o365.version", json!(1)),
            ("Workload", "event.provider", json!("AzureActiveDirectory")),
            ("ClientIP", "client.ip", json!("192.0.2.10")),
            ("ClientIP", "related.ip", json!(["192.0.2.10"])),
            (
                "ObjectId",
                "o365.object_id",
                json!("00000002-0000-0ff1-ce00-000000000000"),
            ),
            ("UserId", "user.id", json!("megan.bowen@contoso.com")),
            ("UserId", "user.name", json!("megan.bowen")),
            ("UserId", "user.domain", json!("contoso.com")),
            ("Scope", "o365.scope", json!(1)),
        ],
    );
}
