//! Latency histograms shared by many client tasks: a few mutex-guarded shards, so that no
//! client keeps a histogram of its own (1000 of them would cost ~140 MB) and the lock is
//! practically never contended.

use std::sync::Mutex;

use hdrhistogram::Histogram;

/// Largest value tracked: 60 s in µs (larger ones are clamped).
const HIGHEST_US: u64 = 60_000_000;
const SHARDS: usize = 32;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("valid histogram bounds")
}

pub struct Shard {
    pub hist: Histogram<u64>,
    /// Which broadcast step this shard is counting (samples of other steps are `late`).
    pub step: u32,
    /// Samples counted (equal to `hist.len()` unless values were clamped).
    pub count: u64,
    /// Broadcast: deliveries that belong to another step than the current one.
    pub late: u64,
    /// Broadcast: deliveries whose sequence number did not grow on one member.
    pub reordered: u64,
}

pub struct Stats {
    shards: Vec<Mutex<Shard>>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        hist: new_histogram(),
                        step: 0,
                        count: 0,
                        late: 0,
                        reordered: 0,
                    })
                })
                .collect(),
        }
    }
}

/// Summary of all shards.
pub struct Summary {
    pub hist: Histogram<u64>,
    pub count: u64,
    pub late: u64,
    pub reordered: u64,
}

impl Stats {
    /// The shard a client records into.
    pub fn shard(&self, client: usize) -> &Mutex<Shard> {
        &self.shards[client % self.shards.len()]
    }

    /// Records one sample (µs) for `client`.
    pub fn record(&self, client: usize, us: u64) {
        let mut shard = self.shard(client).lock().unwrap();
        shard.hist.saturating_record(us.max(1));
        shard.count += 1;
    }

    /// Empties all shards and makes them count `step`.
    pub fn reset(&self, step: u32) {
        for shard in &self.shards {
            let mut s = shard.lock().unwrap();
            s.hist.reset();
            s.step = step;
            s.count = 0;
            s.late = 0;
            s.reordered = 0;
        }
    }

    /// Samples counted so far (cheap: no histogram merge).
    pub fn count(&self) -> u64 {
        self.shards.iter().map(|s| s.lock().unwrap().count).sum()
    }

    pub fn summary(&self) -> Summary {
        let mut out = Summary {
            hist: new_histogram(),
            count: 0,
            late: 0,
            reordered: 0,
        };
        for shard in &self.shards {
            let s = shard.lock().unwrap();
            out.hist.add(&s.hist).expect("same bounds");
            out.count += s.count;
            out.late += s.late;
            out.reordered += s.reordered;
        }
        out
    }
}
