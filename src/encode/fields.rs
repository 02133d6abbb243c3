//! The key fields of an event for the flat formats (CEF and LEEF), in one place.
//!
//! [`visit`] walks an event and hands each value to a [`FieldSink`] together with its [`Slot`]: the CEF key
//! (with its custom label, if any) and the LEEF key. The CEF and LEEF encoders are sinks, so both formats carry
//! the same values under their own names, and `docs/formats.md` documents one table. Within one event every
//! CEF key and every LEEF key is written at most once; empty values are skipped.

use chrono::{DateTime, Utc};

use crate::event::enums::FileVerdict;
use crate::event::{Body, Event};

/// Where one value goes: its CEF key (empty: not in CEF), CEF label, and LEEF key (empty: not in LEEF).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot {
    pub cef: &'static str,
    pub cef_label: Option<(&'static str, &'static str)>,
    pub leef: &'static str,
}

const fn both(cef: &'static str, leef: &'static str) -> Slot {
    Slot {
        cef,
        cef_label: None,
        leef,
    }
}

const fn labelled(
    cef: &'static str,
    label_key: &'static str,
    label: &'static str,
    leef: &'static str,
) -> Slot {
    Slot {
        cef,
        cef_label: Some((label_key, label)),
        leef,
    }
}

// Common to every record.
pub(crate) const EXTERNAL_ID: Slot = both("externalId", "externalId");
pub(crate) const CAT: Slot = both("cat", "cat");
pub(crate) const ORGANIZATION_ID: Slot = both("deviceExternalId", "organizationId");
pub(crate) const WORKLOAD: Slot = both("deviceFacility", "workload");
pub(crate) const TENANT: Slot = both("", "tenant");
pub(crate) const NAME: Slot = both("", "msg");
pub(crate) const USER_ID: Slot = both("", "userId");
pub(crate) const USER_TYPE: Slot = both("", "userType");
pub(crate) const DECODE_ERROR: Slot = both("reason", "decodeError");
pub(crate) const DEEP_LINK: Slot = labelled("cs6", "cs6Label", "DeepLink", "deepLink");
pub(crate) const RESOURCE: Slot = both("", "resource");
pub(crate) const SUSER: Slot = both("suser", "usrName");
pub(crate) const SRC: Slot = both("src", "src");
// 28 TIMailData.
pub(crate) const MAIL_FROM: Slot = both("suser", "sender");
pub(crate) const MAIL_P1_SENDER: Slot = both("", "p1Sender");
pub(crate) const MAIL_TO: Slot = both("duser", "recipient");
pub(crate) const MAIL_SUBJECT: Slot = both("msg", "subject");
pub(crate) const VERDICT: Slot = labelled("cs1", "cs1Label", "Verdict", "verdict");
pub(crate) const NETWORK_MESSAGE_ID: Slot =
    labelled("cs2", "cs2Label", "NetworkMessageId", "networkMessageId");
pub(crate) const INTERNET_MESSAGE_ID: Slot =
    labelled("cs3", "cs3Label", "InternetMessageId", "internetMessageId");
pub(crate) const POLICY: Slot = labelled("cs4", "cs4Label", "Policy", "policy");
pub(crate) const MAIL_ACT: Slot = both("act", "");
pub(crate) const POLICY_ACTION: Slot = both("", "policyAction");
pub(crate) const DELIVERY_ACTION: Slot = both("outcome", "deliveryAction");
pub(crate) const DETECTION_TECH: Slot =
    labelled("cs5", "cs5Label", "DetectionTechnologies", "detectionTech");
pub(crate) const DETECTION_METHOD: Slot = both("", "detectionMethod");
pub(crate) const DETECTION_TYPE: Slot = both("", "detectionType");
pub(crate) const MALWARE_FAMILY: Slot = labelled(
    "flexString1",
    "flexString1Label",
    "MalwareFamily",
    "malwareFamily",
);
pub(crate) const DELIVERY_LOCATION: Slot = labelled(
    "flexString2",
    "flexString2Label",
    "DeliveryLocation",
    "deliveryLocation",
);
pub(crate) const ORIGINAL_LOCATION: Slot = both("", "originalDeliveryLocation");
pub(crate) const DEVICE_DIRECTION: Slot = both("deviceDirection", "");
pub(crate) const DIRECTION: Slot = both("", "direction");
pub(crate) const MESSAGE_TIME: Slot = both("start", "messageTime");
pub(crate) const PRIMARY_FILE_NAME: Slot = both("fname", "");
pub(crate) const PRIMARY_FILE_HASH: Slot = both("fileHash", "");
pub(crate) const PRIMARY_FILE_TYPE: Slot = both("fileType", "");
pub(crate) const ATTACHMENT_NAMES: Slot = both("", "fileName");
pub(crate) const ATTACHMENT_HASHES: Slot = both("", "fileHash");
pub(crate) const ATTACHMENT_TYPES: Slot = both("", "fileType");
pub(crate) const ATTACHMENT_VERDICTS: Slot = both("", "fileVerdict");
pub(crate) const AUTH_DETAILS: Slot = both("", "authDetails");
pub(crate) const SYSTEM_OVERRIDES: Slot = both("", "systemOverrides");
pub(crate) const ADDITIONAL_ACTIONS: Slot = both("", "additionalActions");
pub(crate) const CONNECTOR: Slot = both("", "connector");
pub(crate) const PHISH_CONFIDENCE: Slot = both("", "phishConfidenceLevel");
// 41 TIUrlClickData.
pub(crate) const URL: Slot = both("request", "url");
pub(crate) const CLIENT_APP: Slot = both("requestClientApplication", "");
pub(crate) const APP_NAME: Slot = both("", "appName");
pub(crate) const APP_VERSION: Slot = both("", "appVersion");
pub(crate) const CLICK_ACTION: Slot = both("act", "clickAction");
pub(crate) const CLICK_OUTCOME: Slot = both("outcome", "outcome");
pub(crate) const SOURCE_ID: Slot = labelled("cs2", "cs2Label", "SourceId", "sourceId");
pub(crate) const TIME_OF_CLICK: Slot = both("start", "timeOfClick");
// 47 AtpDetection.
pub(crate) const FILE_NAME: Slot = both("fname", "fileName");
pub(crate) const FILE_PATH: Slot = both("filePath", "filePath");
pub(crate) const FILE_SIZE: Slot = both("fsize", "fileSize");
pub(crate) const FILE_HASH: Slot = both("fileHash", "fileHash");
pub(crate) const DOCUMENT_ID: Slot = both("fileId", "documentId");
pub(crate) const FILE_VERDICT: Slot = labelled("cs1", "cs1Label", "FileVerdict", "fileVerdict");
pub(crate) const SOURCE_WORKLOAD: Slot =
    labelled("cs4", "cs4Label", "SourceWorkload", "sourceWorkload");
pub(crate) const FILE_DETECTION_METHOD: Slot =
    labelled("cs5", "cs5Label", "DetectionMethod", "detectionMethod");
pub(crate) const DETECTION_DATE: Slot = both("start", "detectionDate");
pub(crate) const LAST_MODIFIED: Slot = both("fileModificationTime", "lastModifiedDate");
// 64 AirInvestigationData.
pub(crate) const INVESTIGATION_STATUS: Slot = labelled(
    "cs1",
    "cs1Label",
    "InvestigationStatus",
    "investigationStatus",
);
pub(crate) const INVESTIGATION_ID: Slot =
    labelled("cs4", "cs4Label", "InvestigationId", "investigationId");
pub(crate) const ALERT_DETECTION_TECH: Slot =
    labelled("cs5", "cs5Label", "DetectionTechnology", "detectionTech");
pub(crate) const INVESTIGATION_TYPE: Slot = labelled(
    "flexString1",
    "flexString1Label",
    "InvestigationType",
    "investigationType",
);
pub(crate) const ALERT_NAME: Slot =
    labelled("flexString2", "flexString2Label", "AlertName", "alertName");
pub(crate) const ALERT_SEVERITY: Slot = both("", "alertSeverity");
pub(crate) const INVESTIGATION_NAME: Slot = both("msg", "investigationName");
pub(crate) const INVESTIGATION_START: Slot = both("start", "startTime");
pub(crate) const INVESTIGATION_END: Slot = both("end", "endTime");
pub(crate) const LAST_UPDATE: Slot = labelled(
    "deviceCustomDate1",
    "deviceCustomDate1Label",
    "LastUpdateTime",
    "lastUpdateTime",
);
pub(crate) const RUNNING_TIME: Slot =
    labelled("cn1", "cn1Label", "RunningTimeSeconds", "runningTime");
pub(crate) const ACTIONS: Slot = both("act", "actions");
pub(crate) const AIR_USERS: Slot = both("duser", "usrName");
pub(crate) const AIR_SENDERS: Slot = both("suser", "sender");
pub(crate) const AIR_RECIPIENTS: Slot = both("", "recipient");
pub(crate) const AIR_FIRST_URL: Slot = both("request", "url");
pub(crate) const AIR_URLS: Slot = both("", "urls");
pub(crate) const AIR_FIRST_HASH: Slot = both("fileHash", "");
pub(crate) const AIR_HASHES: Slot = both("", "fileHash");
pub(crate) const AIR_SUBJECTS: Slot = both("", "subject");

/// Receives the key fields of an event.
pub(crate) trait FieldSink {
    /// One text value.
    fn text(&mut self, slot: &Slot, value: &str);
    /// Several texts written as one value, joined by `sep`.
    fn list<'a, I: IntoIterator<Item = &'a str>>(&mut self, slot: &Slot, values: I, sep: &str);
    /// An integer.
    fn int(&mut self, slot: &Slot, value: i64);
    /// An instant.
    fn time(&mut self, slot: &Slot, value: DateTime<Utc>);
}

/// Writes an optional text.
fn opt<S: FieldSink>(sink: &mut S, slot: &Slot, value: Option<&str>) {
    if let Some(v) = value {
        sink.text(slot, v);
    }
}

/// The value of `cat`: the event's first ECS category, else the Workload.
fn category(event: &Event) -> &str {
    match event.assessment.category.first() {
        Some(first) => first,
        None => event.common.workload.as_deref().unwrap_or("audit"),
    }
}

/// Hands every key field of `event` to `sink`.
pub(crate) fn visit<S: FieldSink>(event: &Event, sink: &mut S) {
    let common = &event.common;
    sink.text(&EXTERNAL_ID, &event.record.id);
    sink.text(&NAME, event.name());
    sink.text(&CAT, category(event));
    opt(sink, &ORGANIZATION_ID, common.organization_id.as_deref());
    sink.text(&TENANT, &event.tenant);
    opt(sink, &WORKLOAD, common.workload.as_deref());
    opt(sink, &USER_ID, common.user_id.as_deref());
    if let Some(user_type) = &common.user_type {
        sink.text(&USER_TYPE, &user_type.name());
    }
    match &event.body {
        Body::Mail(m) => mail(m, sink),
        Body::UrlClick(m) => url_click(m, common.user_id.as_deref(), sink),
        Body::AtpContent(m) => atp_content(m, common.user_id.as_deref(), sink),
        Body::Air(m) => air(m, sink),
        Body::Untyped => {
            opt(sink, &SUSER, common.user_id.as_deref());
            opt(sink, &SRC, common.client_ip.as_deref());
        }
    }
    opt(sink, &DECODE_ERROR, event.decode_error());
}

fn mail<S: FieldSink>(m: &crate::event::MailData, sink: &mut S) {
    opt(sink, &MAIL_FROM, m.p2_sender.as_deref());
    opt(sink, &MAIL_P1_SENDER, m.p1_sender.as_deref());
    sink.list(&MAIL_TO, m.recipients.iter().map(String::as_str), ",");
    opt(sink, &SRC, m.sender_ip.as_deref());
    opt(sink, &MAIL_SUBJECT, m.subject.as_deref());
    opt(sink, &VERDICT, m.verdict.as_deref());
    opt(sink, &NETWORK_MESSAGE_ID, m.network_message_id.as_deref());
    opt(sink, &RESOURCE, m.network_message_id.as_deref());
    opt(sink, &INTERNET_MESSAGE_ID, m.internet_message_id.as_deref());
    if let Some(policy) = &m.policy {
        sink.text(&POLICY, &policy.name());
    }
    let policy_action = m.policy_action.as_ref().map(|a| a.name());
    match (&policy_action, &m.delivery_action) {
        (Some(action), _) => sink.text(&MAIL_ACT, action),
        (None, Some(delivery)) => sink.text(&MAIL_ACT, delivery),
        (None, None) => {}
    }
    opt(sink, &POLICY_ACTION, policy_action.as_deref());
    opt(sink, &DELIVERY_ACTION, m.delivery_action.as_deref());
    if m.threats_and_detection_tech.is_empty() {
        opt(sink, &DETECTION_TECH, m.detection_method.as_deref());
    } else {
        sink.list(
            &DETECTION_TECH,
            m.threats_and_detection_tech.iter().map(String::as_str),
            "; ",
        );
    }
    opt(sink, &DETECTION_METHOD, m.detection_method.as_deref());
    if let Some(detection_type) = &m.detection_type {
        sink.text(&DETECTION_TYPE, &detection_type.name());
    }
    let mut families: Vec<&str> = Vec::new();
    for family in m
        .attachments
        .iter()
        .filter_map(|a| a.malware_family.as_deref())
    {
        if !families.contains(&family) {
            families.push(family);
        }
    }
    sink.list(&MALWARE_FAMILY, families, ",");
    opt(
        sink,
        &DELIVERY_LOCATION,
        m.latest_delivery_location.as_deref(),
    );
    opt(
        sink,
        &ORIGINAL_LOCATION,
        m.original_delivery_location.as_deref(),
    );
    match m.direction() {
        Some("inbound") => sink.int(&DEVICE_DIRECTION, 0),
        Some("outbound") => sink.int(&DEVICE_DIRECTION, 1),
        _ => {}
    }
    opt(sink, &DIRECTION, m.direction());
    if let Some(at) = m.message_time.as_ref().and_then(|t| t.instant()) {
        sink.time(&MESSAGE_TIME, at);
    }
    if let Some(primary) = m.primary_attachment() {
        opt(sink, &PRIMARY_FILE_NAME, primary.file_name.as_deref());
        opt(
            sink,
            &PRIMARY_FILE_HASH,
            primary.sha256.as_ref().map(|h| h.best()),
        );
        opt(sink, &PRIMARY_FILE_TYPE, primary.file_type.as_deref());
    }
    sink.list(
        &ATTACHMENT_NAMES,
        m.attachments.iter().filter_map(|a| a.file_name.as_deref()),
        ",",
    );
    sink.list(
        &ATTACHMENT_HASHES,
        m.attachments
            .iter()
            .filter_map(|a| a.sha256.as_ref().map(|h| h.best())),
        ",",
    );
    sink.list(
        &ATTACHMENT_TYPES,
        m.attachments.iter().filter_map(|a| a.file_type.as_deref()),
        ",",
    );
    let verdicts: Vec<_> = m
        .attachments
        .iter()
        .filter_map(|a| a.file_verdict.as_ref().map(FileVerdict::name))
        .collect();
    sink.list(
        &ATTACHMENT_VERDICTS,
        verdicts.iter().map(|v| v.as_ref()),
        ",",
    );
    let auth: Vec<String> = m
        .auth_details
        .iter()
        .map(|d| {
            format!(
                "{}:{}",
                d.name.as_deref().unwrap_or(""),
                d.value.as_deref().unwrap_or("")
            )
        })
        .collect();
    sink.list(&AUTH_DETAILS, auth.iter().map(String::as_str), "; ");
    let overrides: Vec<String> = m
        .system_overrides
        .iter()
        .map(|o| {
            let part = |v: &Option<String>| v.clone().unwrap_or_default();
            format!(
                "{} {}: {} (final: {})",
                part(&o.source),
                part(&o.result),
                part(&o.details),
                part(&o.final_override)
            )
        })
        .collect();
    sink.list(
        &SYSTEM_OVERRIDES,
        overrides.iter().map(String::as_str),
        "; ",
    );
    sink.list(
        &ADDITIONAL_ACTIONS,
        m.additional_actions_and_results.iter().map(String::as_str),
        "; ",
    );
    opt(sink, &CONNECTOR, m.connector.as_deref());
    opt(sink, &PHISH_CONFIDENCE, m.phish_confidence_level.as_deref());
    opt(sink, &DEEP_LINK, m.event_deep_link.as_deref());
}

fn url_click<S: FieldSink>(m: &crate::event::UrlClickData, user_id: Option<&str>, sink: &mut S) {
    opt(sink, &SUSER, user_id);
    opt(sink, &SRC, m.user_ip.as_deref());
    opt(sink, &URL, m.url.as_deref());
    opt(sink, &RESOURCE, m.url.as_deref());
    match (m.app_name.as_deref(), m.app_version.as_deref()) {
        (Some(name), Some(version)) => sink.list(&CLIENT_APP, [name, version], "/"),
        (Some(one), None) | (None, Some(one)) => sink.text(&CLIENT_APP, one),
        (None, None) => {}
    }
    opt(sink, &APP_NAME, m.app_name.as_deref());
    opt(sink, &APP_VERSION, m.app_version.as_deref());
    if let Some(action) = &m.url_click_action {
        sink.text(&CLICK_ACTION, &action.name());
    }
    opt(sink, &CLICK_OUTCOME, m.outcome());
    match m.source_id.as_deref() {
        Some(id) if crate::event::common::is_guid(id) => sink.text(&NETWORK_MESSAGE_ID, id),
        other => opt(sink, &SOURCE_ID, other),
    }
    if let Some(at) = m.time_of_click.as_ref().and_then(|t| t.instant()) {
        sink.time(&TIME_OF_CLICK, at);
    }
    opt(sink, &DEEP_LINK, m.event_deep_link.as_deref());
}

fn atp_content<S: FieldSink>(
    m: &crate::event::AtpContentData,
    user_id: Option<&str>,
    sink: &mut S,
) {
    opt(sink, &SUSER, m.user(user_id));
    let file = &m.file;
    opt(sink, &FILE_NAME, file.file_name.as_deref());
    opt(sink, &FILE_PATH, file.file_path.as_deref());
    opt(sink, &RESOURCE, file.file_path.as_deref());
    match (m.file_size(), &file.file_size) {
        (Some(size), _) => sink.int(&FILE_SIZE, size),
        (None, Some(other)) => sink.text(&FILE_SIZE, &other.to_string()),
        (None, None) => {}
    }
    opt(sink, &FILE_HASH, file.sha256.as_ref().map(|h| h.best()));
    opt(sink, &DOCUMENT_ID, file.document_id.as_deref());
    if let Some(verdict) = &file.file_verdict {
        sink.text(&FILE_VERDICT, &verdict.name());
    }
    opt(sink, &MALWARE_FAMILY, file.malware_family.as_deref());
    if let Some(workload) = &m.source_workload {
        sink.text(&SOURCE_WORKLOAD, &workload.name());
    }
    opt(sink, &FILE_DETECTION_METHOD, m.detection_method.as_deref());
    if let Some(at) = m.detection_date.as_ref().and_then(|t| t.instant()) {
        sink.time(&DETECTION_DATE, at);
    }
    if let Some(at) = m.last_modified_date.as_ref().and_then(|t| t.instant()) {
        sink.time(&LAST_MODIFIED, at);
    }
    opt(sink, &DEEP_LINK, m.event_deep_link.as_deref());
}

fn air<S: FieldSink>(m: &crate::event::AirInvestigation, sink: &mut S) {
    let e = m.entities();
    opt(sink, &INVESTIGATION_STATUS, m.status.as_deref());
    opt(sink, &INVESTIGATION_ID, m.investigation_id.as_deref());
    opt(sink, &RESOURCE, m.investigation_id.as_deref());
    opt(sink, &INVESTIGATION_NAME, m.investigation_name.as_deref());
    opt(sink, &INVESTIGATION_TYPE, m.investigation_type.as_deref());
    opt(sink, &ALERT_NAME, m.alert_field("AlertDisplayName"));
    opt(sink, &ALERT_SEVERITY, m.alert_field("Severity"));
    opt(
        sink,
        &ALERT_DETECTION_TECH,
        m.alert_field("DetectionTechnology"),
    );
    for (slot, ts) in [
        (&INVESTIGATION_START, &m.start_time),
        (&INVESTIGATION_END, &m.end_time),
        (&LAST_UPDATE, &m.last_update_time),
    ] {
        if let Some(at) = ts.as_ref().and_then(|t| t.instant()) {
            sink.time(slot, at);
        }
    }
    match (m.running_seconds(), &m.running_time) {
        (Some(secs), _) => sink.int(&RUNNING_TIME, secs),
        (None, Some(other)) => sink.text(&RUNNING_TIME, &other.to_string()),
        (None, None) => {}
    }
    let actions: Vec<_> = m.action_summaries().collect();
    sink.list(&ACTIONS, actions.iter().map(|a| a.as_ref()), ", ");
    sink.list(&AIR_USERS, e.users.iter().map(String::as_str), ",");
    sink.list(&AIR_SENDERS, e.senders.iter().map(String::as_str), ",");
    sink.list(
        &AIR_RECIPIENTS,
        e.recipients.iter().map(String::as_str),
        ",",
    );
    opt(sink, &SRC, e.ips.first().map(String::as_str));
    opt(sink, &AIR_FIRST_URL, e.urls.first().map(String::as_str));
    sink.list(&AIR_URLS, e.urls.iter().map(String::as_str), " ");
    opt(sink, &AIR_FIRST_HASH, e.hashes.first().map(String::as_str));
    sink.list(&AIR_HASHES, e.hashes.iter().map(String::as_str), ",");
    sink.list(
        &NETWORK_MESSAGE_ID,
        e.network_message_ids.iter().map(String::as_str),
        ",",
    );
    sink.list(
        &INTERNET_MESSAGE_ID,
        e.internet_message_ids.iter().map(String::as_str),
        ",",
    );
    sink.list(&AIR_SUBJECTS, e.subjects.iter().map(String::as_str), "; ");
    opt(sink, &DEEP_LINK, m.deep_link_url.as_deref());
}
