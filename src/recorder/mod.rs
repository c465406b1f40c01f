//! TEMPORARY STUB (not committed): replaced by the helper's recorder.
use crate::redact::RedactedInteraction;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RecordMode {
    All,
    New,
    None,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RecordError(String);

#[derive(Debug, Clone)]
pub struct CassetteSummary {
    pub path: PathBuf,
    pub interactions: usize,
    pub appended: usize,
}

#[derive(Clone)]
pub struct Recorder {
    mode: RecordMode,
    lock: std::sync::Arc<std::sync::Mutex<Vec<(PathBuf, usize)>>>,
}

impl Recorder {
    pub fn new(mode: RecordMode) -> Self {
        Self {
            mode,
            lock: Default::default(),
        }
    }
    pub fn mode(&self) -> RecordMode {
        self.mode
    }
    pub async fn append(
        &self,
        cassette: &Path,
        interaction: &RedactedInteraction,
    ) -> Result<(), RecordError> {
        if self.mode == RecordMode::None {
            return Ok(());
        }
        let line = interaction
            .to_journal_line()
            .map_err(|e| RecordError(e.to_string()))?;
        let mut c = crate::cassette::Cassette::load(cassette).unwrap_or_default();
        c.interactions.push(serde_json::from_slice(&line).unwrap());
        if let Some(p) = cassette.parent() {
            std::fs::create_dir_all(p).map_err(|e| RecordError(e.to_string()))?;
        }
        std::fs::write(cassette, c.to_bytes()).map_err(|e| RecordError(e.to_string()))?;
        self.lock
            .lock()
            .unwrap()
            .push((cassette.to_owned(), c.interactions.len()));
        Ok(())
    }
    pub async fn close(&self) -> Result<Vec<CassetteSummary>, RecordError> {
        Ok(self
            .lock
            .lock()
            .unwrap()
            .iter()
            .map(|(p, n)| CassetteSummary {
                path: p.clone(),
                interactions: *n,
                appended: 1,
            })
            .collect())
    }
}
pub fn recover_dir(_dir: &Path) -> Result<(), RecordError> {
    Ok(())
}
pub fn load_with_journal(path: &Path) -> Result<crate::cassette::Cassette, RecordError> {
    crate::cassette::Cassette::load(path).map_err(|e| RecordError(e.to_string()))
}
