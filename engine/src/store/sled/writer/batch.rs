//! The pending writes of one writer batch, readable before they are applied.

use std::collections::HashMap;

use serde::{de::DeserializeOwned, Serialize};

use super::super::{keys, record};
use crate::model::{Job, JobId};
use crate::store::{StoreError, StoreResult};

/// Pending writes of one batch, readable before they are applied. Values are `IVec`s,
/// shared between the sled batch and the overlay rather than copied into each.
pub(super) struct Batch<'a> {
    tree: &'a sled::Tree,
    batch: sled::Batch,
    overlay: HashMap<Vec<u8>, Option<sled::IVec>>,
}

impl<'a> Batch<'a> {
    pub(super) fn new(tree: &'a sled::Tree) -> Self {
        Self {
            tree,
            batch: sled::Batch::default(),
            overlay: HashMap::new(),
        }
    }

    pub(super) fn get(&self, key: &[u8]) -> StoreResult<Option<sled::IVec>> {
        if let Some(value) = self.overlay.get(key) {
            return Ok(value.clone());
        }
        self.tree.get(key).map_err(unavailable)
    }

    pub(super) fn get_json<T: DeserializeOwned>(&self, key: &[u8]) -> StoreResult<Option<T>> {
        self.get(key)?.map(|bytes| decode(&bytes)).transpose()
    }

    pub(super) fn insert(&mut self, key: &[u8], value: impl Into<sled::IVec>) {
        let value = value.into();
        self.batch.insert(key, value.clone());
        self.overlay.insert(key.to_vec(), Some(value));
    }

    pub(super) fn put_json<T: Serialize>(&mut self, key: &[u8], value: &T) -> StoreResult<()> {
        self.insert(key, encode(value)?);
        Ok(())
    }

    /// Moves an index entry (an empty value) from `old` to `new`; either may be none.
    pub(super) fn move_entry(&mut self, old: Option<&[u8]>, new: Option<&[u8]>) {
        if old == new {
            return;
        }
        if let Some(old) = old {
            self.remove(old);
        }
        if let Some(new) = new {
            self.insert(new, Vec::new());
        }
    }

    pub(super) fn remove(&mut self, key: &[u8]) {
        self.batch.remove(key);
        self.overlay.insert(key.to_vec(), None);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.overlay.is_empty()
    }

    pub(super) fn apply(&mut self) -> StoreResult<()> {
        if self.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        self.overlay.clear();
        self.tree.apply_batch(batch).map_err(unavailable)
    }
}

pub(in crate::store::sled) fn unavailable(e: sled::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

pub(in crate::store::sled) fn encode<T: Serialize + ?Sized>(value: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(in crate::store::sled) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Reads job `id` as the batch sees it: its body, and its schedule record if it has one (a
/// job written before the split layout has none).
pub(super) fn read_job(batch: &Batch<'_>, id: JobId) -> StoreResult<Option<Job>> {
    let Some(body) = batch.get(&keys::job(id))? else {
        return Ok(None);
    };
    let schedule = batch.get(&keys::schedule(id))?;
    record::decode(schedule.as_deref(), &body).map(Some)
}
