//! Fleets for benchmarks and demos: many boxes published over days at a few terminals,
//! exports in bookings that share a call.

use chrono::{DateTime, Utc};

use super::generate::World;
use super::model::VesselModel;
use super::Lifecycles;
use crate::seed::Key;

/// A fleet of boxes for a benchmark or a demo: `boxes` boxes (two exports for every
/// empty) published at random over `days` from `start` at `terminals`, exports in
/// bookings of one to four boxes that share a call.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    /// Boxes in all.
    pub boxes: usize,
    /// Days over which publishes are spread.
    pub days: u32,
    /// The first publish.
    pub start: DateTime<Utc>,
    /// Seeds everything.
    pub seed: u64,
    /// Terminal codes, picked evenly per booking.
    pub terminals: Vec<String>,
    /// Container number owner code (four letters ending in U).
    pub owner: String,
}

impl Fleet {
    /// The fleet's lifecycles under `model`: its boxes and every call of their terminals.
    pub fn lifecycles(&self, model: &VesselModel) -> Lifecycles {
        let end = self.start + chrono::Duration::days(i64::from(self.days));
        let world = World::new(
            model.clone(),
            self.seed,
            self.start - chrono::Duration::days(12),
            end + chrono::Duration::days(45),
        );
        let mut draws = Key::new("fleet", self.seed).draws();
        let spread = u64::from(self.days.max(1)) * 86_400;
        let mut boxes = Vec::with_capacity(self.boxes);
        let mut serial = 0u32;
        let terminals: Vec<&str> = if self.terminals.is_empty() {
            vec!["SIM"]
        } else {
            self.terminals.iter().map(String::as_str).collect()
        };
        let mut booking_no = 0u32;
        let (mut exports, mut empties) = (0usize, 0usize);
        while boxes.len() < self.boxes {
            let published =
                self.start + chrono::Duration::seconds((draws.next_u64() % spread) as i64);
            let terminal = draws.pick(&terminals).copied().unwrap_or("SIM");
            if empties * 2 < exports {
                let container = number(&self.owner, &mut serial);
                boxes.push(world.empty_life(&container, terminal, published));
                empties += 1;
                continue;
            }
            booking_no += 1;
            let booking = format!("BK{:06}", booking_no);
            let size = 1 + (draws.next_u64() % 4) as usize;
            for _ in 0..size.min(self.boxes - boxes.len()) {
                let container = number(&self.owner, &mut serial);
                if let Some(life) = world.export_life(&container, &booking, terminal, published) {
                    boxes.push(life);
                    exports += 1;
                }
            }
        }
        let visits = world.all_calls();
        Lifecycles::new(visits, boxes)
    }
}

/// The next valid ISO 6346 number of `owner` from `serial` on (serials whose check value
/// would be 10 are skipped).
fn number(owner: &str, serial: &mut u32) -> String {
    loop {
        let prefix = format!("{owner}{:06}", *serial % 1_000_000);
        *serial += 1;
        let check = boxtrace::check_value(prefix.as_bytes());
        if check < 10 {
            return format!("{prefix}{check}");
        }
    }
}
