//! RecordType 47, `AtpDetection`: a malicious file found in SharePoint, OneDrive or Teams.

use std::borrow::Cow;

use serde::de::MapAccess;

use super::decode::{self, Model, Scalar};
use super::enums::{FileVerdict, SourceWorkload};
use super::hash::Sha256;
use super::time::{self, Timestamp};
use super::Assessment;

/// An AtpDetection record's own fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AtpContentData {
    /// `FileData`: the file and its verdict.
    pub file: FileData,
    /// `SourceWorkload`: SharePoint, OneDrive or Teams.
    pub source_workload: Option<SourceWorkload>,
    /// `DetectionMethod`.
    pub detection_method: Option<String>,
    /// `LastModifiedDate`: when the file was last changed.
    pub last_modified_date: Option<Timestamp>,
    /// `LastModifiedBy`: who last changed the file.
    pub last_modified_by: Option<String>,
    /// `EventDeepLink`: the Threat Explorer link.
    pub event_deep_link: Option<String>,
    /// `DetectionDate`.
    pub detection_date: Option<Timestamp>,
}

impl Model for AtpContentData {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &[u8], map: &mut A) -> Result<bool, A::Error> {
        match key {
            b"filedata" => {
                self.file = map
                    .next_value::<Option<decode::Obj<FileData>>>()?
                    .unwrap_or_default()
                    .0
            }
            b"sourceworkload" => self.source_workload = SourceWorkload::next(map)?,
            b"detectionmethod" => self.detection_method = decode::text(map)?,
            b"lastmodifieddate" => self.last_modified_date = time::timestamp(map)?,
            b"lastmodifiedby" => self.last_modified_by = decode::text(map)?,
            b"eventdeeplink" => self.event_deep_link = decode::text(map)?,
            b"detectiondate" => self.detection_date = time::timestamp(map)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// The `FileData` object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileData {
    /// `DocumentId`.
    pub document_id: Option<String>,
    /// `FileName`.
    pub file_name: Option<String>,
    /// `FilePath`: the full URL of the file.
    pub file_path: Option<String>,
    /// `FileVerdict` (int or string).
    pub file_verdict: Option<FileVerdict>,
    /// `MalwareFamily`.
    pub malware_family: Option<String>,
    /// `SHA256`, hex or base64.
    pub sha256: Option<Sha256>,
    /// `FileSize` (documented as a string).
    pub file_size: Option<Scalar>,
}

impl Model for FileData {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &[u8], map: &mut A) -> Result<bool, A::Error> {
        match key {
            b"documentid" => self.document_id = decode::text(map)?,
            b"filename" => self.file_name = decode::text(map)?,
            b"filepath" => self.file_path = decode::text(map)?,
            b"fileverdict" => self.file_verdict = FileVerdict::next(map)?,
            b"malwarefamily" => self.malware_family = decode::text(map)?.filter(|s| !s.is_empty()),
            b"sha256" => {
                self.sha256 = decode::text(map)?
                    .filter(|s| !s.is_empty())
                    .map(Sha256::new)
            }
            b"filesize" => self.file_size = decode::scalar(map)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

// === impl AtpContentData ===

impl AtpContentData {
    /// The user to show: `LastModifiedBy` when it is a UPN, else `user_id` (the record's `UserId`) when that is
    /// one, else whichever is present (`LastModifiedBy` is sometimes a display name).
    pub fn user<'a>(&'a self, user_id: Option<&'a str>) -> Option<&'a str> {
        let by = self.last_modified_by.as_deref().filter(|s| !s.is_empty());
        let user_id = user_id.filter(|s| !s.is_empty());
        let is_upn = |v: &&str| super::common::upn(v).is_some();
        by.filter(is_upn)
            .or(user_id.filter(is_upn))
            .or(by)
            .or(user_id)
    }

    /// The file size in bytes, when `FileSize` is a number.
    pub fn file_size(&self) -> Option<i64> {
        self.file
            .file_size
            .as_ref()
            .and_then(|s| s.as_int())
            .filter(|n| *n >= 0)
    }

    /// Classification: see `docs/formats.md` for the name and severity tables.
    pub(crate) fn assess(&self) -> Assessment {
        let clean = matches!(self.file.file_verdict, Some(FileVerdict::Good));
        let name = match (clean, &self.source_workload) {
            (true, _) => "File scanned",
            (false, Some(SourceWorkload::SharePoint)) => "Malicious file detected in SharePoint",
            (false, Some(SourceWorkload::OneDrive)) => "Malicious file detected in OneDrive",
            (false, Some(SourceWorkload::Teams)) => "Malicious file detected in Teams",
            (false, _) => "Malicious file detected",
        };
        Assessment {
            alert: !clean,
            severity: if clean { 2 } else { 8 },
            name: Cow::Borrowed(name),
            category: &["malware", "file"],
            types: if clean { &["info"] } else { &["indicator"] },
        }
    }
}
