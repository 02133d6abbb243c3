//! The fields every audit record shares, beyond the four the [`Record`](super::Record) already carries.

use serde::de::{IgnoredAny, MapAccess};

use super::decode::{self, Model, Scalar};
use super::enums::UserType;

/// Common audit record fields (`Id`, `RecordType`, `Operation` and `CreationTime` live on the record).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Common {
    /// `OrganizationId`: the tenant GUID.
    pub organization_id: Option<String>,
    /// `UserType`: the kind of account that performed the operation.
    pub user_type: Option<UserType>,
    /// `UserKey`: an alternative id of the user (`ThreatIntel` for system records).
    pub user_key: Option<String>,
    /// `Workload`: the service that logged the record (`ThreatIntelligence`, `AirInvestigation`, …).
    pub workload: Option<String>,
    /// `ResultStatus`: whether the operation succeeded.
    pub result_status: Option<String>,
    /// `ObjectId`: the object the operation acted on.
    pub object_id: Option<String>,
    /// `UserId`: the UPN of the user, or a service name such as `ThreatIntel`.
    pub user_id: Option<String>,
    /// `ClientIP`: the client address, when there is one.
    pub client_ip: Option<String>,
    /// `Scope`: 0 online, 1 on-premises (int or string).
    pub scope: Option<Scalar>,
    /// `Version`: the record schema version (int or string).
    pub version: Option<Scalar>,
}

impl Model for Common {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &[u8], map: &mut A) -> Result<bool, A::Error> {
        match key {
            // Carried by the Record; read and dropped here so they are not reported as unknown.
            b"id" | b"recordtype" | b"operation" | b"creationtime" => {
                map.next_value::<IgnoredAny>()?;
            }
            b"organizationid" => self.organization_id = decode::text(map)?,
            b"usertype" => self.user_type = UserType::next(map)?,
            b"userkey" => self.user_key = decode::text(map)?,
            b"workload" => self.workload = decode::text(map)?,
            b"resultstatus" => self.result_status = decode::text(map)?,
            b"objectid" => self.object_id = decode::text(map)?,
            b"userid" => self.user_id = decode::text(map)?,
            b"clientip" => self.client_ip = decode::text(map)?,
            b"scope" => self.scope = decode::scalar(map)?,
            b"version" => self.version = decode::scalar(map)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// The parts of a UPN-like identity (`user@domain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upn<'a> {
    /// The whole value.
    pub full: &'a str,
    /// Before the last `@`.
    pub name: &'a str,
    /// After the last `@`.
    pub domain: &'a str,
}

/// Splits `value` when it looks like a UPN or mail address: one `@` with text on both sides, no spaces.
pub fn upn(value: &str) -> Option<Upn<'_>> {
    let (name, domain) = value.rsplit_once('@')?;
    let plausible = !name.is_empty() && !domain.is_empty() && !value.contains(char::is_whitespace);
    plausible.then_some(Upn {
        full: value,
        name,
        domain,
    })
}

/// True when `value` is shaped like a GUID (`8-4-4-4-12` hex digits), as NetworkMessageIds are.
pub fn is_guid(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_upn_splits_at_the_last_at_sign() {
        assert_eq!(
            upn("john.doe@example.com").map(|u| (u.name, u.domain)),
            Some(("john.doe", "example.com"))
        );
        assert_eq!(upn("ThreatIntel"), None);
        assert_eq!(upn("@example.com"), None);
        assert_eq!(upn("a b@example.com"), None);
    }

    #[test]
    fn network_message_ids_are_guids() {
        assert!(is_guid("8a8634d0-d803-4bc9-b221-2863bff6a001"));
        assert!(!is_guid("<msid@example.com>"));
    }
}
