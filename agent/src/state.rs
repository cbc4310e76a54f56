//! Reports not yet acknowledged by the server, kept on disk so that a finished measurement
//! survives a server outage or an agent restart. Each is written to a temporary file, synced
//! and renamed, so a crash leaves either the whole report or none.

use std::io::Write;
use std::path::{Path, PathBuf};

use flash_core::measurement::MeasurementResult;
use serde::{Deserialize, Serialize};

/// What an attempt ended with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Complete { result: Box<MeasurementResult> },
    Fail { error: String },
}

/// One report for one attempt of one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub job_id: String,
    pub attempt: i64,
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl Report {
    /// File name: the job id (characters outside `[A-Za-z0-9_-]` replaced) and the attempt.
    fn file_name(&self) -> String {
        let id: String = self
            .job_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("{id}.{}.json", self.attempt)
    }
}

/// The agent's state directory; reports live in `pending/`.
pub struct StateDir {
    pending: PathBuf,
}

impl StateDir {
    pub fn open(dir: &Path) -> std::io::Result<StateDir> {
        let pending = dir.join("pending");
        std::fs::create_dir_all(&pending)?;
        Ok(StateDir { pending })
    }

    /// Stores `report` durably before anything is sent.
    pub fn save(&self, report: &Report) -> std::io::Result<PathBuf> {
        let path = self.pending.join(report.file_name());
        let tmp = self.pending.join(format!(".{}.tmp", report.file_name()));
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&serde_json::to_vec_pretty(report)?)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        // The rename is durable once the directory entry is.
        std::fs::File::open(&self.pending)?.sync_all()?;
        Ok(path)
    }

    /// Reports waiting for an acknowledgement, oldest name first. Files that do not parse
    /// (written by another version, or damaged) are renamed `*.unreadable` and skipped, so one
    /// bad file cannot block the others.
    pub fn pending(&self) -> std::io::Result<Vec<(PathBuf, Report)>> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&self.pending)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.sort();
        let mut reports = Vec::new();
        for path in paths {
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Report>(&b).map_err(|e| e.to_string()))
            {
                Ok(r) => reports.push((path, r)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "unreadable pending report set aside");
                    std::fs::rename(&path, path.with_extension("unreadable"))?;
                }
            }
        }
        Ok(reports)
    }

    /// Forgets a report the server acknowledged (or refused for good).
    pub fn remove(&self, path: &Path) -> std::io::Result<()> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flash_core::measurement::{Environment, LatencyStats};

    fn report(id: &str, attempt: i64) -> Report {
        Report {
            job_id: id.into(),
            attempt,
            outcome: Outcome::Complete {
                result: Box::new(MeasurementResult {
                    latency: LatencyStats::from_samples(&[1.0, 2.0, 3.0], 5).unwrap(),
                    energy: None,
                    environment: Environment::default(),
                    ratio: None,
                    reference: None,
                }),
            },
        }
    }

    #[test]
    fn reports_survive_until_removed() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        let a = report("job-a", 1);
        let b = Report {
            job_id: "job/b".into(),
            attempt: 2,
            outcome: Outcome::Fail {
                error: "no CUDA".into(),
            },
        };
        let pa = state.save(&a).unwrap();
        state.save(&b).unwrap();
        // a leftover temporary file from a crash mid-write is not a report
        std::fs::write(dir.path().join("pending/.job-c.1.json.tmp"), b"{").unwrap();

        // a fresh process sees both
        let again = StateDir::open(dir.path()).unwrap();
        let pending = again.pending().unwrap();
        assert_eq!(
            pending.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(),
            [a.clone(), b]
        );
        assert!(pending[1].0.ends_with("job_b.2.json"));
        again.remove(&pa).unwrap();
        again.remove(&pa).unwrap();
        assert_eq!(again.pending().unwrap().len(), 1);
        // saving the same attempt twice keeps one file
        again.save(&a).unwrap();
        again.save(&a).unwrap();
        assert_eq!(again.pending().unwrap().len(), 2);
    }

    #[test]
    fn a_damaged_file_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        state.save(&report("ok", 1)).unwrap();
        std::fs::write(dir.path().join("pending/bad.1.json"), b"{\"job_id\":").unwrap();
        let pending = state.pending().unwrap();
        assert_eq!(pending.len(), 1);
        assert!(dir.path().join("pending/bad.1.unreadable").exists());
    }
}
