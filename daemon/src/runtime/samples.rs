//! Biometric samples held in memory while a transaction is being captured.
//!
//! The flow refers to samples by id only; this store owns the pixels until the transaction is
//! written to the outbox or abandoned.

use std::collections::HashMap;

use biometrics::fingerprint::Template;
use drivers::{GrayImage, RgbImage};
use state_machine::{Position, SampleId};

/// One judged capture attempt.
#[derive(Clone)]
pub struct Sample {
    pub position: Position,
    pub quality: u8,
    pub data: SampleData,
}

#[derive(Clone)]
pub enum SampleData {
    Finger {
        image: GrayImage,
        ppi: u16,
        template: Template,
    },
    Face {
        frame: RgbImage,
    },
}

/// Samples by id; ids are never reused within a daemon's life.
#[derive(Default)]
pub struct SampleStore {
    next: u64,
    samples: HashMap<SampleId, Sample>,
}

impl SampleStore {
    pub fn insert(&mut self, sample: Sample) -> SampleId {
        self.next += 1;
        let id = SampleId(self.next);
        self.samples.insert(id, sample);
        id
    }

    pub fn get(&self, id: SampleId) -> Option<&Sample> {
        self.samples.get(&id)
    }

    pub fn discard(&mut self, ids: &[SampleId]) {
        for id in ids {
            self.samples.remove(id);
        }
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fresh_and_discard_frees() {
        let mut store = SampleStore::default();
        let sample = Sample {
            position: Position::Face,
            quality: 80,
            data: SampleData::Face {
                frame: RgbImage::new(2, 2),
            },
        };
        let a = store.insert(sample.clone());
        let b = store.insert(sample);
        assert_ne!(a, b);
        store.discard(&[a]);
        assert!(store.get(a).is_none());
        assert!(store.get(b).is_some());
        assert_eq!(store.len(), 1);
    }
}
