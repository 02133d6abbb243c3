//! The Azure AD token endpoints: v2 `POST /{tenant}/oauth2/v2.0/token` (`scope=<resource>/.default`, integer
//! `expires_in`) and v1 `POST /{tenant}/oauth2/token` (`resource=<resource>`, string `expires_in`/`expires_on`),
//! client-credentials grant only, with Azure AD's error bodies and AADSTS codes.
//!
//! Certificate credentials (`client_assertion_type` + `client_assertion`) are verified against the tenant's
//! `certificate_pem` by `assertion.rs` (RS256 + `x5t`, PS256 + `x5t#S256`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde_json::json;

use super::assertion::{self, Expect};
use super::config::EmulatedTenant;
use super::error::AadFault;
use super::state::{lock, Inner, TokenInfo};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// `POST /{tenant}/oauth2/v2.0/token`.
pub(crate) async fn token_v2(
    State(inner): State<Arc<Inner>>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    answer(&inner, issue(&inner, &tenant, &form(&body), false))
}

/// `POST /{tenant}/oauth2/token` (v1).
pub(crate) async fn token_v1(
    State(inner): State<Arc<Inner>>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    answer(&inner, issue(&inner, &tenant, &form(&body), true))
}

fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn answer(inner: &Inner, result: Result<Response, AadFault>) -> Response {
    inner.stat(|s| s.token_requests += 1);
    match result {
        Ok(resp) => {
            inner.stat(|s| s.tokens_issued += 1);
            resp
        }
        Err(fault) => {
            inner.stat(|s| s.token_errors += 1);
            tracing::debug!(code = fault.code, "emulator: token request refused");
            fault.into_response()
        }
    }
}

fn missing(name: &str) -> AadFault {
    AadFault::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
        format!("The request body must contain the following parameter: '{name}'."),
    )
}

fn issue(
    inner: &Inner,
    tenant_id: &str,
    form: &HashMap<String, String>,
    v1: bool,
) -> Result<Response, AadFault> {
    let get = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let grant = get("grant_type").ok_or_else(|| missing("grant_type"))?;
    if grant != "client_credentials" {
        return Err(AadFault::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant}'."),
        ));
    }
    let tenant = inner.cfg.tenant(tenant_id).ok_or_else(|| {
        AadFault::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            format!("Tenant '{tenant_id}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."),
        )
    })?;
    let client_id = get("client_id").ok_or_else(|| missing("client_id"))?;
    if !client_id.eq_ignore_ascii_case(&tenant.client_id) {
        return Err(AadFault::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!("Application with identifier '{client_id}' was not found in the directory '{tenant_id}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."),
        ));
    }
    let resource = inner.cfg.resource.trim_end_matches('/');
    if v1 {
        let r = get("resource").ok_or_else(|| missing("resource"))?;
        if r.trim_end_matches('/') != resource {
            return Err(AadFault::new(
                StatusCode::BAD_REQUEST,
                "invalid_resource",
                500011,
                format!("The resource principal named {r} was not found in the tenant named {tenant_id}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."),
            ));
        }
    } else {
        let scope = get("scope").ok_or_else(|| {
            AadFault::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                90014,
                "The required field 'scope' is missing from the credential. Ensure that you have all the necessary parameters for the login request.",
            )
        })?;
        if scope != format!("{resource}/.default") {
            return Err(AadFault::new(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                70011,
                format!("The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid. The .default scope must be requested for the client credentials flow: {resource}/.default"),
            ));
        }
    }
    let audiences = [
        format!("{}/{tenant_id}/oauth2/v2.0/token", inner.base_url),
        format!("{}/{tenant_id}/oauth2/token", inner.base_url),
    ];
    let expect = Expect {
        client_id,
        audiences,
        now: inner.now(),
    };
    check_credentials(tenant, &expect, &get)?;
    Ok(grant_token(inner, tenant, client_id, resource, v1))
}

fn check_credentials<'a>(
    tenant: &EmulatedTenant,
    expect: &Expect<'_>,
    get: &impl Fn(&str) -> Option<&'a str>,
) -> Result<(), AadFault> {
    let client_id = expect.client_id;
    if let Some(kind) = get("client_assertion_type") {
        if kind != JWT_BEARER {
            return Err(AadFault::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                50027,
                format!("JWT token is invalid or malformed: unsupported client_assertion_type '{kind}'."),
            ));
        }
        let assertion = get("client_assertion").ok_or_else(|| missing("client_assertion"))?;
        return assertion::verify(tenant, assertion, expect);
    }
    let secret = get("client_secret").ok_or_else(|| {
        AadFault::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    })?;
    if tenant.secret_expired {
        return Err(AadFault::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000222,
            format!("The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."),
        ));
    }
    if secret != tenant.client_secret {
        return Err(AadFault::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."),
        ));
    }
    Ok(())
}

fn grant_token(
    inner: &Inner,
    tenant: &EmulatedTenant,
    client_id: &str,
    resource: &str,
    v1: bool,
) -> Response {
    let now = inner.now();
    let lifetime = inner.cfg.token_lifetime.as_secs().max(1);
    let expires = now + chrono::Duration::seconds(lifetime as i64);
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let header = b64(json!({"typ": "JWT", "alg": "RS256", "x5t": "emulator", "kid": "emulator"}));
    let claims = b64(json!({
        "aud": resource,
        "iss": format!("https://sts.windows.net/{}/", tenant.tenant_id),
        "iat": now.timestamp(), "nbf": now.timestamp(), "exp": expires.timestamp(),
        "appid": client_id, "idtyp": "app", "oid": uuid::Uuid::new_v4(),
        "roles": ["ActivityFeed.Read", "ActivityFeed.ReadDlp", "ServiceHealth.Read"],
        "tid": tenant.tenant_id, "ver": "1.0",
    }));
    let signature =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes());
    let token = format!("{header}.{claims}.{signature}");
    lock(&inner.tokens).insert(
        token.clone(),
        TokenInfo {
            tenant: tenant.tenant_id.clone(),
            expires,
        },
    );
    let body = if v1 {
        json!({
            "token_type": "Bearer",
            "expires_in": lifetime.to_string(),
            "ext_expires_in": lifetime.to_string(),
            "expires_on": expires.timestamp().to_string(),
            "not_before": now.timestamp().to_string(),
            "resource": resource,
            "access_token": token,
        })
    } else {
        json!({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token})
    };
    Json(body).into_response()
}
