//! The vendor part of the ECS document: readable ATP fields under `o365.atp.*` and AIR fields under
//! `o365.air.*` (snake_case names; enumerations as names, with their numeric code beside them).

use super::ecs::{attachment, sha256_fields};
use super::json_writer::Obj;
use crate::event::time::{Rfc3339, Timestamp};
use crate::event::{AirInvestigation, AtpContentData, MailData, UrlClickData};

fn instant(ts: &Option<Timestamp>) -> Option<Rfc3339> {
    ts.as_ref().and_then(Timestamp::instant).map(Rfc3339)
}

/// `o365.atp` of a TIMailData record.
pub(crate) fn mail(m: &MailData, o: &mut Obj<'_>) {
    o.text("verdict", m.verdict.as_deref());
    o.opt("policy", m.policy.as_ref());
    o.opt(
        "policy_code",
        m.policy.as_ref().and_then(|p| p.code()).as_ref(),
    );
    o.opt("policy_action", m.policy_action.as_ref());
    o.opt(
        "policy_action_code",
        m.policy_action.as_ref().and_then(|p| p.code()).as_ref(),
    );
    o.opt("detection_type", m.detection_type.as_ref());
    o.text("detection_method", m.detection_method.as_deref());
    o.strs("threats_and_detection_tech", &m.threats_and_detection_tech);
    o.text("delivery_action", m.delivery_action.as_deref());
    o.text(
        "original_delivery_location",
        m.original_delivery_location.as_deref(),
    );
    o.text(
        "latest_delivery_location",
        m.latest_delivery_location.as_deref(),
    );
    o.text("directionality", m.directionality.as_deref());
    o.strs(
        "additional_actions_and_results",
        &m.additional_actions_and_results,
    );
    o.text("connector", m.connector.as_deref());
    o.text(
        "phish_confidence_level",
        m.phish_confidence_level.as_deref(),
    );
    o.object("auth", |auth| {
        let mut seen: Vec<String> = Vec::with_capacity(m.auth_details.len());
        for detail in &m.auth_details {
            let Some(name) = detail.name.as_deref().filter(|n| !n.trim().is_empty()) else {
                continue;
            };
            let key = auth_key(name);
            if !seen.contains(&key) {
                auth.text(&key, detail.value.as_deref());
                seen.push(key);
            }
        }
    });
    o.list("system_overrides", &m.system_overrides);
    o.objects("attachments", &m.attachments, |item, a| attachment(a, item));
}

/// `SPF` → `spf`, `Comp Auth` → `comp_auth`: letters, digits and `_` only, so a key `Obj::key` writes as it is.
fn auth_key(name: &str) -> String {
    let key: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if key == "compauth" {
        "comp_auth".to_owned()
    } else {
        key
    }
}

/// `o365.atp` of a TIUrlClickData record.
pub(crate) fn url_click(m: &UrlClickData, o: &mut Obj<'_>) {
    o.opt("url_click_action", m.url_click_action.as_ref());
    o.opt(
        "url_click_action_code",
        m.url_click_action.as_ref().and_then(|a| a.code()).as_ref(),
    );
    o.opt("click_outcome", m.outcome());
    o.time("time_of_click", instant(&m.time_of_click));
    o.text("source_id", m.source_id.as_deref());
}

/// `o365.atp` of an AtpDetection record.
pub(crate) fn atp_content(m: &AtpContentData, o: &mut Obj<'_>) {
    let f = &m.file;
    o.opt("file_verdict", f.file_verdict.as_ref());
    o.opt(
        "file_verdict_code",
        f.file_verdict.as_ref().and_then(|v| v.code()).as_ref(),
    );
    o.opt("source_workload", m.source_workload.as_ref());
    o.opt(
        "source_workload_code",
        m.source_workload.as_ref().and_then(|w| w.code()).as_ref(),
    );
    o.text("detection_method", m.detection_method.as_deref());
    o.time("detection_date", instant(&m.detection_date));
    o.text("last_modified_by", m.last_modified_by.as_deref());
    o.text("document_id", f.document_id.as_deref());
    if m.file_size().is_none() {
        o.opt("file_size", f.file_size.as_ref());
    }
    sha256_fields(&f.sha256, o);
}

/// `o365.air` of an AirInvestigationData record.
pub(crate) fn air(m: &AirInvestigation, o: &mut Obj<'_>) {
    o.text("investigation_id", m.investigation_id.as_deref());
    o.text("investigation_name", m.investigation_name.as_deref());
    o.text("investigation_type", m.investigation_type.as_deref());
    o.text("status", m.status.as_deref());
    o.time("start_time", instant(&m.start_time));
    o.time("end_time", instant(&m.end_time));
    o.time("last_update_time", instant(&m.last_update_time));
    o.opt("running_time", m.running_seconds().as_ref());
    o.text("deep_link_url", m.deep_link_url.as_deref());
    o.text("alert_name", m.alert_field("AlertDisplayName"));
    o.text("alert_severity", m.alert_field("Severity"));
    o.strs("urls", &m.entities().urls);
    o.strs("files", &m.entities().files);
    if let Some(data) = m.data_json() {
        o.key("data");
        data.write(o.out);
    }
    let actions = m.actions_json();
    if actions.len() > 0 {
        o.key("actions");
        o.out.push(b'[');
        for (i, action) in actions.enumerate() {
            if i > 0 {
                o.out.push(b',');
            }
            action.write(o.out);
        }
        o.out.push(b']');
    }
}

#[cfg(test)]
mod tests {
    use super::auth_key;
    use crate::json_bytes::first_special;

    #[test]
    fn auth_names_become_keys_that_need_no_escaping() {
        for name in [
            "SPF",
            "Comp Auth",
            "CompAuth",
            "a\"b\\c",
            "tab\there\u{1}",
            " dkim\n",
            "Über-Prüfung",
        ] {
            let key = auth_key(name);
            assert!(
                first_special(key.as_bytes()).is_none(),
                "{name:?} → {key:?}"
            );
        }
        assert_eq!(auth_key("Comp Auth"), "comp_auth");
        assert_eq!(auth_key("CompAuth"), "comp_auth");
    }
}
