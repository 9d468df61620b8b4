//! The local mailer (`helios_ports::Mailer`): `helios dev` has no SNS, so a mail channel's
//! mails are appended to a file of JSON lines (`{"topic", "subject", "body", "at"}`) in the
//! data folder, where a person or a test reads them.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use helios_ports::{Clock, Mailer, PortError};

pub struct MailFile {
    path: PathBuf,
    clock: Arc<dyn Clock>,
    /// One writer at a time, so that lines never interleave.
    lock: Mutex<()>,
}

impl MailFile {
    pub fn new(path: PathBuf, clock: Arc<dyn Clock>) -> MailFile {
        MailFile {
            path,
            clock,
            lock: Mutex::new(()),
        }
    }
}

#[async_trait]
impl Mailer for MailFile {
    async fn mail(&self, topic_arn: &str, subject: &str, body: &str) -> Result<(), PortError> {
        let line = serde_json::json!({
            "topic": topic_arn, "subject": subject, "body": body, "at": self.clock.now(),
        });
        let _one = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| PortError::unavailable("mail file", e))?;
        writeln!(f, "{line}").map_err(|e| PortError::unavailable("mail file", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_mail_is_one_json_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mail.jsonl");
        let m = MailFile::new(path.clone(), Arc::new(helios_ports::SystemClock));
        m.mail(
            "arn:aws:sns:eu-west-1:1:t",
            "[critical] x",
            "line 1\nline 2",
        )
        .await
        .unwrap();
        m.mail("arn:aws:sns:eu-west-1:1:t", "second", "b")
            .await
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["subject"], "[critical] x");
        assert_eq!(lines[0]["body"], "line 1\nline 2");
        assert_eq!(lines[1]["topic"], "arn:aws:sns:eu-west-1:1:t");
        // A folder that cannot be written is the port's error, not a panic.
        let bad = MailFile::new(
            dir.path().join("no/such/dir/mail.jsonl"),
            Arc::new(helios_ports::SystemClock),
        );
        assert!(bad.mail("t", "s", "b").await.unwrap_err().is_retryable());
    }
}
