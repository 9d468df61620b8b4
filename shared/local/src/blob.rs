use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;

use helios_ports::{BlobStore, PortError};

/// Blobs as files under a root folder; written to a temporary name and renamed, so a reader
/// (or a restart after SIGKILL) sees a whole object or none.
#[derive(Clone, Debug)]
pub struct FileBlobStore {
    root: PathBuf,
    /// Folders known to exist, so that a put costs no `mkdir`.
    made: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<PathBuf>>>,
}

impl FileBlobStore {
    pub fn open(root: impl Into<PathBuf>) -> Result<FileBlobStore, PortError> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|e| {
            PortError::unavailable("blob store", format!("{}: {e}", root.display()))
        })?;
        Ok(FileBlobStore {
            root,
            made: Default::default(),
        })
    }

    fn path_of(&self, key: &str) -> Result<PathBuf, PortError> {
        let rel = Path::new(key);
        let safe = !key.is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)));
        if !safe {
            return Err(PortError::Invalid(format!(
                "blob key {key:?} must be a relative path without `..`"
            )));
        }
        Ok(self.root.join(rel))
    }
}

#[async_trait]
impl BlobStore for FileBlobStore {
    async fn put(&self, key: &str, body: Bytes, _content_type: &str) -> Result<(), PortError> {
        let path = self.path_of(key)?;
        let made = self.made.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                let known = made.lock().unwrap_or_else(|p| p.into_inner()).contains(dir);
                if !known {
                    std::fs::create_dir_all(dir)?;
                    made.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(dir.to_path_buf());
                }
            }
            let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
            std::fs::write(&tmp, &body)?;
            std::fs::rename(&tmp, &path)
        })
        .await
        .map_err(|e| PortError::unavailable("blob store", e))?
        .map_err(|e| PortError::unavailable("blob store", e))
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, PortError> {
        let path = self.path_of(key)?;
        match tokio::fs::read(&path).await {
            Ok(b) => Ok(Some(Bytes::from(b))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(PortError::unavailable("blob store", e)),
        }
    }

    fn locate(&self, key: &str) -> String {
        format!("file://{}", self.root.join(key).display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_then_get_and_refuse_escaping_keys() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileBlobStore::open(dir.path()).unwrap();
        s.put(
            "raw/2026/a.json",
            Bytes::from_static(b"{}"),
            "application/json",
        )
        .await
        .unwrap();
        assert_eq!(
            s.get("raw/2026/a.json").await.unwrap().unwrap(),
            Bytes::from_static(b"{}")
        );
        assert_eq!(s.get("raw/none").await.unwrap(), None);
        assert!(matches!(
            s.put("../x", Bytes::new(), "").await,
            Err(PortError::Invalid(_))
        ));
        assert!(matches!(
            s.get("/etc/passwd").await,
            Err(PortError::Invalid(_))
        ));
        // Reopening the same folder sees what was written.
        let again = FileBlobStore::open(dir.path()).unwrap();
        assert!(again.get("raw/2026/a.json").await.unwrap().is_some());
    }
}
