//! The record of acknowledged writes, kept beside the database in the data directory and
//! checked when the store opens, so that a damaged database file cannot open without a
//! word.
//!
//! The writer counts, in the tree, the durable batches it acknowledged and the jobs they
//! created ([`Acks`]), written in the same atomic batch as the writes they count. After a
//! batch is flushed, the same figures go to a small file of their own, synced. A database
//! file that was truncated, rolled back or replaced holds lower figures than the file:
//! acknowledged data is gone, and the store refuses to open unless the operator accepts
//! the loss. The file is written at most every [`EVERY`] and when the writer stops, so it
//! may lag the tree (a crash loses only the lag from the check); it never runs ahead.
//! A [`Recorder`] thread writes it, so that its sync never holds up the writer.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::store::{StoreError, StoreResult};

/// The file's name in the data directory.
pub(super) const FILE: &str = "boxtrace-acknowledged";

/// Least time between two writes of the file: each costs a sync.
const EVERY: Duration = Duration::from_millis(100);

/// Acknowledged writes: durable batches and jobs created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Acks {
    /// Batches that acknowledged something durably (publishes, cancels, results, ...).
    pub(super) batches: u64,
    /// Jobs created by acknowledged publishes.
    pub(super) jobs: u64,
}

impl Acks {
    /// As stored in the tree: two big-endian numbers.
    pub(super) fn encode(self) -> [u8; 16] {
        let mut out = [0; 16];
        out[..8].copy_from_slice(&self.batches.to_be_bytes());
        out[8..].copy_from_slice(&self.jobs.to_be_bytes());
        out
    }

    pub(super) fn decode(bytes: &[u8]) -> Option<Self> {
        let batches = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let jobs = u64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?);
        Some(Self { batches, jobs })
    }

    /// As written to the file: one line, fixed width, so that an update overwrites it in
    /// place.
    fn line(self) -> String {
        format!(
            "boxtrace-acknowledged v1 batches {:020} jobs {:020}\n",
            self.batches, self.jobs
        )
    }

    fn parse(text: &str) -> Option<Self> {
        let mut words = text.split_whitespace();
        let ok = words.next() == Some("boxtrace-acknowledged")
            && words.next() == Some("v1")
            && words.next() == Some("batches");
        if !ok {
            return None;
        }
        let batches = words.next()?.parse().ok()?;
        if words.next() != Some("jobs") {
            return None;
        }
        let jobs = words.next()?.parse().ok()?;
        Some(Self { batches, jobs })
    }
}

/// The open record file.
#[derive(Debug)]
pub(super) struct Ledger {
    file: File,
    path: PathBuf,
    written: Acks,
    at: Instant,
}

impl Ledger {
    /// Opens the record in `dir` and checks it against what the tree holds. A missing
    /// file (a new store, or one made before the record existed) starts from the tree.
    /// Figures above the tree's mean acknowledged writes are missing: an error, unless
    /// `accept_loss`, which logs what was lost and starts a new record from the tree.
    pub(super) fn open(dir: &Path, tree: Acks, accept_loss: bool) -> StoreResult<Self> {
        let path = dir.join(FILE);
        let shown = path.display().to_string();
        let cannot = |e: std::io::Error| {
            StoreError::Unusable(format!(
                "cannot use {shown}: {e}: check the data directory's permissions and free space"
            ))
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(cannot)?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(cannot)?;
        let recorded = if text.trim().is_empty() {
            None
        } else {
            match Acks::parse(&text) {
                Some(acks) => Some(acks),
                None if accept_loss => None,
                None => {
                    return Err(StoreError::Unusable(format!(
                        "{shown} is not a record of acknowledged writes (it reads {:?}): restore \
                         the data directory from a backup, or accept the loss \
                         (SledConfig::accept_data_loss; BOXTRACE_ACCEPT_DATA_LOSS=true for the \
                         server) to start a new record",
                        text.chars().take(80).collect::<String>()
                    )))
                }
            }
        };
        if let Some(recorded) = recorded {
            if recorded.batches > tree.batches || recorded.jobs > tree.jobs {
                let found = format!(
                    "the sled store in {} is missing acknowledged writes: {} records {} durable \
                     write batches and {} jobs created, the database holds {} and {} (its file \
                     was damaged, truncated or replaced)",
                    dir.display(),
                    FILE,
                    recorded.batches,
                    recorded.jobs,
                    tree.batches,
                    tree.jobs,
                );
                if !accept_loss {
                    return Err(StoreError::Unusable(format!(
                        "{found}: restore the data directory from a backup, or accept the loss \
                         and start with what is left (SledConfig::accept_data_loss; \
                         BOXTRACE_ACCEPT_DATA_LOSS=true for the server)"
                    )));
                }
                tracing::error!(
                    "{found}; the loss is accepted (accept_data_loss): starting with what is left and a new record"
                );
            }
        }
        let mut ledger = Self {
            file,
            path,
            written: Acks::default(),
            at: Instant::now(),
        };
        ledger.write(tree).map_err(cannot)?;
        Ok(ledger)
    }

    /// Records `acks`, which the tree holds durably, if the last write is old enough or
    /// `now` is set (the writer is stopping). A failure is logged: the record only lags.
    pub(super) fn record(&mut self, acks: Acks, now: bool) {
        if acks == self.written || (!now && self.at.elapsed() < EVERY) {
            return;
        }
        if let Err(e) = self.write(acks) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot update the record of acknowledged writes; it lags until the next write");
        }
    }

    fn write(&mut self, acks: Acks) -> std::io::Result<()> {
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(acks.line().as_bytes())?;
        self.file.sync_data()?;
        self.written = acks;
        self.at = Instant::now();
        Ok(())
    }
}

/// The ledger on a thread of its own: the writer hands it the figures of each flushed
/// batch and goes on; the thread writes the latest at most every [`EVERY`], and once more
/// when the writer stops.
#[derive(Debug)]
pub(super) struct Recorder {
    figures: Option<mpsc::Sender<Acks>>,
    thread: Option<JoinHandle<()>>,
}

impl Recorder {
    /// Starts the thread that keeps `ledger`.
    pub(super) fn start(mut ledger: Ledger) -> std::io::Result<Self> {
        let (figures, received) = mpsc::channel::<Acks>();
        let thread = std::thread::Builder::new()
            .name("boxtrace-sled-ledger".into())
            .spawn(move || {
                while let Ok(mut acks) = received.recv() {
                    // Figures only grow: the latest one counts. Wait out the rest of the
                    // interval for later ones, unless the writer stops meanwhile.
                    loop {
                        let wait = EVERY.saturating_sub(ledger.at.elapsed());
                        match received.recv_timeout(wait) {
                            Ok(later) => acks = later,
                            Err(mpsc::RecvTimeoutError::Timeout) => break,
                            Err(mpsc::RecvTimeoutError::Disconnected) => {
                                ledger.record(acks, true);
                                return;
                            }
                        }
                    }
                    ledger.record(acks, true);
                }
            })?;
        Ok(Self {
            figures: Some(figures),
            thread: Some(thread),
        })
    }

    /// Records `acks`, which the tree holds durably (its batch was flushed), soon.
    pub(super) fn record(&self, acks: Acks) {
        if let Some(figures) = &self.figures {
            // The thread ends only after the sender is gone.
            let _ = figures.send(acks);
        }
    }

    /// Records `acks` now and stops the thread: the writer is stopping.
    pub(super) fn finish(&mut self, acks: Option<Acks>) {
        if let (Some(acks), Some(figures)) = (acks, &self.figures) {
            let _ = figures.send(acks);
        }
        self.figures.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_reads_back_and_keeps_its_width() {
        let acks = Acks {
            batches: 12,
            jobs: 7,
        };
        assert_eq!(Acks::parse(&acks.line()), Some(acks));
        let big = Acks {
            batches: u64::MAX,
            jobs: u64::MAX,
        };
        assert_eq!(acks.line().len(), big.line().len());
        assert_eq!(Acks::decode(&acks.encode()), Some(acks));
        assert_eq!(Acks::parse("something else"), None);
    }

    #[test]
    fn figures_above_the_trees_refuse_to_open_unless_the_loss_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let ahead = Acks {
            batches: 200,
            jobs: 200,
        };
        let mut ledger = Ledger::open(dir.path(), Acks::default(), false).unwrap();
        ledger.record(ahead, true);
        drop(ledger);
        let behind = Acks {
            batches: 113,
            jobs: 113,
        };
        let err = Ledger::open(dir.path(), behind, false).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("200 durable write batches"), "{message}");
        assert!(message.contains("holds 113"), "{message}");
        assert!(message.contains("BOXTRACE_ACCEPT_DATA_LOSS"), "{message}");
        // Accepted once, the record starts again from what is left.
        Ledger::open(dir.path(), behind, true).unwrap();
        Ledger::open(dir.path(), behind, false).unwrap();
    }
}
