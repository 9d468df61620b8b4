//! IAM database authentication for RDS: the token a function gives PostgreSQL as its
//! password. A token is a SigV4-presigned `connect` request for one database user, signed
//! for the `rds-db` service and valid for 15 minutes; only a new connection needs one (an
//! open connection outlives it). The token is made here, offline, from the process'
//! credentials: no RDS API is called, so no RDS SDK is linked.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials as _;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;

/// How long a token is valid: RDS accepts at most 15 minutes.
pub const RDS_TOKEN_LIFETIME: Duration = Duration::from_secs(900);

/// The token for `user` at `host:port`, signed with `credentials` for `region` at `now`.
pub fn rds_auth_token(
    credentials: &Credentials,
    region: &str,
    host: &str,
    port: u16,
    user: &str,
    now: SystemTime,
) -> Result<String, String> {
    let mut settings = SigningSettings::default();
    settings.expires_in = Some(RDS_TOKEN_LIFETIME);
    settings.signature_location = SignatureLocation::QueryParams;
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("rds-db")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| format!("signing the RDS token: {e}"))?
        .into();
    let url = format!(
        "https://{host}:{port}/?Action=connect&DBUser={}",
        urlencoding::encode(user)
    );
    let signable = SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::empty())
        .map_err(|e| format!("signing the RDS token: {e}"))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| format!("signing the RDS token: {e}"))?
        .into_parts();
    let mut request = http::Request::builder()
        .uri(&url)
        .body(())
        .map_err(|e| format!("signing the RDS token: {e}"))?;
    instructions.apply_to_request_http1x(&mut request);
    let signed = request.uri().to_string();
    Ok(signed
        .strip_prefix("https://")
        .unwrap_or(&signed)
        .to_string())
}

/// Makes tokens for one database user with the credentials of an SDK configuration (the
/// Lambda's role), fetched afresh for each token so that rotated credentials are used.
#[derive(Clone)]
pub struct RdsAuth {
    config: aws_config::SdkConfig,
    host: String,
    port: u16,
    user: String,
}

impl RdsAuth {
    pub fn new(config: &aws_config::SdkConfig, host: &str, port: u16, user: &str) -> RdsAuth {
        RdsAuth {
            config: config.clone(),
            host: host.to_string(),
            port,
            user: user.to_string(),
        }
    }

    /// The database user the tokens are for.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// A token valid for [`RDS_TOKEN_LIFETIME`] from now.
    pub async fn token(&self) -> Result<String, String> {
        let provider = self
            .config
            .credentials_provider()
            .ok_or("no AWS credentials in this environment, for the RDS token")?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| format!("AWS credentials for the RDS token: {e}"))?;
        let region = self
            .config
            .region()
            .ok_or("no AWS region in this environment (AWS_REGION), for the RDS token")?;
        rds_auth_token(
            &credentials,
            region.as_ref(),
            &self.host,
            self.port,
            &self.user,
            SystemTime::now(),
        )
    }
}
