//! ECS (Elastic Common Schema) encoder: one JSON object per event, as mapped in `docs/formats.md`.
//!
//! Standard fields carry what ECS has a place for (`@timestamp`, `event.*`, `email.*`, `url.*`, `file.*`,
//! `threat.*`, `related.*`, `user.*`, `source.*`, `rule.*`, `organization.*`, `observer.*`); the whole record
//! sits under `o365.audit` with its original field names (its raw bytes, spliced in, with any line breaks
//! between tokens turned into spaces so the output stays on one line); readable ATP fields sit under
//! `o365.atp.*` (28, 41, 47) or `o365.air.*` (64, with `Data` and `Actions` decoded). A record whose bytes are
//! not well-formed JSON goes out with `event.original` (its text) instead of `o365.audit`.

use super::json_writer::Obj;
use crate::event::common::{is_guid, upn};
use crate::event::hash::Sha256;
use crate::event::mail::Attachment;
use crate::event::time::{Rfc3339, Timestamp};
use crate::event::{AirInvestigation, AtpContentData, Body, Event, MailData, UrlClickData};
use crate::json_bytes;

/// Appends the ECS document of `event` to `out`.
pub(crate) fn encode(event: &Event, out: &mut Vec<u8>) {
    let mut o = Obj::open(out);
    o.time("@timestamp", Some(Rfc3339(event.timestamp())));
    o.str("message", event.name());
    event_fields(event, &mut o);
    o.object("organization", |org| {
        org.text("id", event.common.organization_id.as_deref());
        org.text("name", Some(&event.tenant));
    });
    o.object("observer", |obs| {
        obs.str("vendor", "Microsoft");
        obs.str("product", "Defender for Office 365");
    });
    let user_from_user_id = user(event, &mut o);
    o.object("client", |c| {
        c.text("ip", event.common.client_ip.as_deref())
    });
    match &event.body {
        Body::Mail(m) => mail(m, &mut o),
        Body::UrlClick(m) => url_click(m, &mut o),
        Body::AtpContent(m) => atp_content(m, &mut o),
        Body::Air(m) => air(m, &mut o),
        Body::Untyped => {}
    }
    related(event, &mut o);
    if let Some(reason) = event.decode_error() {
        o.object("error", |e| {
            e.str("type", "decode");
            e.str("message", reason);
        });
    }
    o365(event, user_from_user_id, &mut o);
    o.close();
}

/// The deep link of the record, whichever field carries it.
fn deep_link(body: &Body) -> Option<&str> {
    match body {
        Body::Mail(m) => m.event_deep_link.as_deref(),
        Body::UrlClick(m) => m.event_deep_link.as_deref(),
        Body::AtpContent(m) => m.event_deep_link.as_deref(),
        Body::Air(m) => m.deep_link_url.as_deref(),
        Body::Untyped => None,
    }
}

fn event_fields(event: &Event, o: &mut Obj<'_>) {
    let a = &event.assessment;
    o.object("event", |e| {
        e.str("id", &event.record.id);
        e.str(
            "code",
            super::cef::itoa_buf(event.record.record_type).as_str(),
        );
        e.text("action", Some(&event.record.operation));
        e.text("provider", event.common.workload.as_deref());
        e.str("module", "o365");
        e.str("dataset", &event.dataset);
        e.str("kind", if a.alert { "alert" } else { "event" });
        e.strs("category", a.category);
        e.strs("type", a.types);
        e.field("severity", &a.severity);
        let is = |s: &str, words: [&str; 3]| words.iter().any(|w| s.eq_ignore_ascii_case(w));
        let outcome = event.common.result_status.as_deref().and_then(|s| {
            if is(s, ["succeeded", "success", "true"]) {
                Some("success")
            } else if is(s, ["failed", "failure", "false"]) {
                Some("failure")
            } else {
                None
            }
        });
        if let Some(outcome) = outcome {
            e.str("outcome", outcome);
        }
        e.time("created", Some(Rfc3339(event.fetched_at)));
        let link = deep_link(&event.body);
        e.text("url", link);
        let reference = match &event.body {
            Body::Air(m) => m.alert_link().or(link),
            _ => link,
        };
        e.text("reference", reference);
        if let Body::Air(m) = &event.body {
            e.time("start", instant(&m.start_time));
            e.time("end", instant(&m.end_time));
        }
        if event.include_original || !raw_embeddable(event) {
            e.str("original", &event.record.raw);
        }
    });
}

fn instant(ts: &Option<Timestamp>) -> Option<Rfc3339> {
    ts.as_ref().and_then(Timestamp::instant).map(Rfc3339)
}

/// Whether the raw record can be spliced into the output as `o365.audit` (well-formed JSON and UTF-8).
fn raw_embeddable(event: &Event) -> bool {
    event.raw_is_json
}

/// Writes `user.*`; returns whether it came from `UserId` (else `o365.user_id` carries `UserId`).
fn user(event: &Event, o: &mut Obj<'_>) -> bool {
    let user_id = event.common.user_id.as_deref().filter(|u| !u.is_empty());
    let (who, from_user_id) = match &event.body {
        Body::AtpContent(m) => match m.user(user_id) {
            Some(who) => (Some(who), user_id == Some(who)),
            None => (None, false),
        },
        _ => (user_id, true),
    };
    let Some(who) = who else { return false };
    match upn(who) {
        Some(u) => o.object("user", |obj| {
            obj.str("id", u.full);
            obj.str("email", u.full);
            obj.str("name", u.name);
            obj.str("domain", u.domain);
        }),
        // The clicker and the file owner are users even when not in UPN form.
        None if matches!(event.body, Body::UrlClick(_) | Body::AtpContent(_)) => {
            o.object("user", |obj| obj.str("name", who));
        }
        None => return false,
    }
    from_user_id
}

fn mail(m: &MailData, o: &mut Obj<'_>) {
    o.object("email", |e| {
        e.text("message_id", m.internet_message_id.as_deref());
        e.text("local_id", m.network_message_id.as_deref());
        e.object("sender", |s| s.text("address", m.p1_sender.as_deref()));
        if let Some(from) = m.p2_sender.as_ref().filter(|s| !s.is_empty()) {
            e.object("from", |f| f.strs("address", std::slice::from_ref(from)));
        }
        e.object("to", |t| t.strs("address", &m.recipients));
        e.text("subject", m.subject.as_deref());
        e.opt("direction", m.direction());
        e.time("origination_timestamp", instant(&m.message_time));
        e.objects("attachments", &m.attachments, |item, a| {
            item.object("file", |f| {
                f.text("name", a.file_name.as_deref());
                f.text(
                    "extension",
                    a.file_name.as_deref().and_then(extension).as_deref(),
                );
                f.object("hash", |h| {
                    h.text("sha256", a.sha256.as_ref().and_then(|s| s.hex.as_deref()))
                });
            });
        });
    });
    o.object("source", |s| s.text("ip", m.sender_ip.as_deref()));
    o.object("threat", |t| {
        t.object("software", |s| s.text("name", m.malware_family()))
    });
    if let Some(policy) = &m.policy {
        o.object("rule", |r| r.field("name", policy));
    }
}

fn url_click(m: &UrlClickData, o: &mut Obj<'_>) {
    if let Some(original) = m.url.as_deref().filter(|u| !u.is_empty()) {
        let parsed = url::Url::parse(original).ok();
        o.object("url", |u| {
            u.str("original", original);
            if let Some(p) = &parsed {
                u.str("full", p.as_str());
                u.str("scheme", p.scheme());
                u.text("domain", p.host_str());
                u.opt("port", p.port().as_ref());
                u.text("path", Some(p.path()));
                u.text("query", p.query());
                u.text("fragment", p.fragment());
            }
        });
    }
    o.object("user_agent", |ua| {
        ua.text("name", m.app_name.as_deref());
        ua.text("version", m.app_version.as_deref());
    });
    o.object("source", |s| s.text("ip", m.user_ip.as_deref()));
    if let Some(id) = m.source_id.as_deref().filter(|id| is_guid(id)) {
        o.object("email", |e| e.str("local_id", id));
    }
}

fn atp_content(m: &AtpContentData, o: &mut Obj<'_>) {
    let f = &m.file;
    o.object("file", |file| {
        file.text("name", f.file_name.as_deref());
        file.text("path", f.file_path.as_deref());
        file.text(
            "extension",
            f.file_name.as_deref().and_then(extension).as_deref(),
        );
        file.opt("size", m.file_size().as_ref());
        file.object("hash", |h| {
            h.text("sha256", f.sha256.as_ref().and_then(|s| s.hex.as_deref()))
        });
        file.time("mtime", instant(&m.last_modified_date));
    });
    o.object("threat", |t| {
        t.object("software", |s| s.text("name", f.malware_family.as_deref()))
    });
}

fn air(m: &AirInvestigation, o: &mut Obj<'_>) {
    let e = m.entities();
    o.object("email", |email| {
        email.strs("message_id", &e.internet_message_ids);
        email.strs("local_id", &e.network_message_ids);
        email.object("from", |f| f.strs("address", &e.senders));
        email.object("to", |t| t.strs("address", &e.recipients));
        email.strs("subject", &e.subjects);
    });
}

/// The extension of a file name, lowercased (`invoice.pdf.exe` → `exe`).
fn extension(name: &str) -> Option<String> {
    let (stem, ext) = name.rsplit_once('.')?;
    let plausible =
        !stem.is_empty() && !ext.is_empty() && ext.len() <= 16 && !ext.contains(['/', '\\', ' ']);
    plausible.then(|| ext.to_ascii_lowercase())
}

/// `related.ip`, `related.user`, `related.hash`: every IP, user and hash in the record, once each.
fn related(event: &Event, o: &mut Obj<'_>) {
    let (mut ips, mut users, mut hashes): (Vec<&str>, Vec<&str>, Vec<&str>) = Default::default();
    fn push<'a>(list: &mut Vec<&'a str>, value: Option<&'a str>) {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            if !list.iter().any(|x| x.eq_ignore_ascii_case(v)) {
                list.push(v);
            }
        }
    }
    let c = &event.common;
    push(&mut ips, c.client_ip.as_deref());
    push(
        &mut users,
        c.user_id.as_deref().filter(|u| upn(u).is_some()),
    );
    fn hash(h: &Option<Sha256>) -> Option<&str> {
        h.as_ref().and_then(|h| h.hex.as_deref())
    }
    match &event.body {
        Body::Mail(m) => {
            push(&mut ips, m.sender_ip.as_deref());
            for r in &m.recipients {
                push(&mut users, Some(r));
            }
            push(&mut users, m.p2_sender.as_deref());
            for a in &m.attachments {
                push(&mut hashes, hash(&a.sha256));
            }
        }
        Body::UrlClick(m) => push(&mut ips, m.user_ip.as_deref()),
        Body::AtpContent(m) => {
            push(&mut users, m.last_modified_by.as_deref());
            push(&mut hashes, hash(&m.file.sha256));
        }
        Body::Air(m) => {
            let e = m.entities();
            for ip in &e.ips {
                push(&mut ips, Some(ip));
            }
            for u in e.users.iter().chain(&e.senders) {
                push(&mut users, Some(u));
            }
            for h in &e.hashes {
                push(&mut hashes, Some(h));
            }
        }
        Body::Untyped => {}
    }
    o.object("related", |r| {
        r.strs("ip", &ips);
        r.strs("user", &users);
        r.strs("hash", &hashes);
    });
}

/// The `o365` namespace: the raw record, the common fields in readable form, and `atp` / `air`.
fn o365(event: &Event, user_from_user_id: bool, o: &mut Obj<'_>) {
    let c = &event.common;
    o.object("o365", |v| {
        if raw_embeddable(event) {
            v.key("audit");
            if event.record.single_line {
                debug_assert!(
                    !event.record.raw.contains(['\r', '\n']),
                    "a record marked single-line has a line break"
                );
                v.out.extend_from_slice(event.record.raw.as_bytes());
            } else {
                json_bytes::copy_one_line(v.out, event.record.raw.as_bytes());
            }
        }
        if !user_from_user_id {
            v.text("user_id", c.user_id.as_deref());
        }
        v.text("user_key", c.user_key.as_deref());
        v.opt("user_type", c.user_type.as_ref());
        v.opt(
            "user_type_code",
            c.user_type.as_ref().and_then(|t| t.code()).as_ref(),
        );
        v.text("object_id", c.object_id.as_deref());
        v.text("result_status", c.result_status.as_deref());
        v.opt("scope", c.scope.as_ref());
        v.opt("version", c.version.as_ref());
        if !event.unknown.is_empty() {
            let names: Vec<&str> = event.unknown.iter().map(|(k, _)| k.as_str()).collect();
            v.strs("unknown_fields", &names);
        }
        match &event.body {
            Body::Mail(m) => v.object("atp", |atp| super::ecs_vendor::mail(m, atp)),
            Body::UrlClick(m) => v.object("atp", |atp| super::ecs_vendor::url_click(m, atp)),
            Body::AtpContent(m) => v.object("atp", |atp| super::ecs_vendor::atp_content(m, atp)),
            Body::Air(m) => v.object("air", |air| super::ecs_vendor::air(m, air)),
            Body::Untyped => {}
        }
    });
}

/// An attachment's hash fields for `o365.atp.attachments[]`.
pub(crate) fn sha256_fields(h: &Option<Sha256>, o: &mut Obj<'_>) {
    if let Some(h) = h {
        o.text("sha256", h.hex.as_deref());
        if h.hex.as_deref() != Some(h.original.as_str()) {
            o.str("sha256_original", &h.original);
        }
    }
}

/// The readable fields of one attachment.
pub(crate) fn attachment(a: &Attachment, o: &mut Obj<'_>) {
    o.text("file_name", a.file_name.as_deref());
    o.text("file_type", a.file_type.as_deref());
    o.opt("file_verdict", a.file_verdict.as_ref());
    o.opt(
        "file_verdict_code",
        a.file_verdict.as_ref().and_then(|v| v.code()).as_ref(),
    );
    o.text("malware_family", a.malware_family.as_deref());
    sha256_fields(&a.sha256, o);
}
