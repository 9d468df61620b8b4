//! The IAM database authentication token, checked against botocore's
//! `generate_db_auth_token` (the reference implementation, in the virtualenv moto comes
//! with) for the same credentials, host, user and time.

use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;

/// botocore's token, at Unix time `at`.
fn botocore_token(
    session_token: Option<&str>,
    host: &str,
    port: u16,
    user: &str,
    at: u64,
) -> String {
    let moto = helios_testkit::moto::executable().unwrap_or_else(|e| panic!("{e}"));
    let python = moto.with_file_name("python3");
    assert!(
        python.exists(),
        "{} not found: the moto virtualenv (./.ci/test makes it) holds botocore",
        python.display()
    );
    let script = r#"
import datetime, sys
import botocore.auth, botocore.session
at = datetime.datetime.fromtimestamp(int(sys.argv[5]), datetime.timezone.utc).replace(tzinfo=None)
class Frozen(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return at
    @classmethod
    def now(cls, tz=None):
        return at.replace(tzinfo=tz) if tz else at
botocore.auth.datetime.datetime = Frozen
s = botocore.session.get_session()
s.set_credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", sys.argv[1] or None)
c = s.create_client("rds", region_name="eu-west-1")
print(c.generate_db_auth_token(sys.argv[2], int(sys.argv[3]), sys.argv[4]))
"#;
    let out = Command::new(&python)
        .args([
            "-c",
            script,
            session_token.unwrap_or(""),
            host,
            &port.to_string(),
            user,
            &at.to_string(),
        ])
        .output()
        .expect("running python3");
    assert!(
        out.status.success(),
        "botocore: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn ours(session_token: Option<&str>, host: &str, port: u16, user: &str, at: u64) -> String {
    let credentials = Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        session_token.map(String::from),
        None,
        "test",
    );
    helios_aws::rds_auth_token(
        &credentials,
        "eu-west-1",
        host,
        port,
        user,
        UNIX_EPOCH + Duration::from_secs(at),
    )
    .unwrap()
}

/// A token's host and path, and its query parameters sorted.
fn parts(token: &str) -> (String, Vec<String>) {
    let (base, query) = token.split_once('?').expect("a token has a query");
    let mut params: Vec<String> = query.split('&').map(String::from).collect();
    params.sort();
    (base.to_string(), params)
}

#[test]
fn the_token_is_the_one_botocore_makes() {
    let host = "helios.abcdefghijkl.eu-west-1.rds.amazonaws.com";
    for (session, user, at) in [
        (None, "helios_app", 1_764_662_400),
        // A Lambda's role credentials carry a session token, signed into the query.
        (
            Some("FwoGZXIvYXdzEBYaD+session/token=="),
            "helios_app",
            1_800_000_123,
        ),
        // A user name that needs escaping in the query.
        (None, "app user+1", 1_764_662_400),
    ] {
        let expected = botocore_token(session, host, 5432, user, at);
        let got = ours(session, host, 5432, user, at);
        // The same signed request; the order of the query's parameters is free (botocore
        // puts the session token before the signature, the SDK's signer after).
        assert_eq!(
            parts(&got),
            parts(&expected),
            "user {user:?}, session {session:?}\nours:     {got}\nbotocore: {expected}"
        );
        assert!(got.starts_with(&format!("{host}:5432/?Action=connect&DBUser=")));
        assert!(got.contains("X-Amz-Expires=900"), "{got}");
    }
}
