//! Process figures: our own CPU (getrusage), the server's RSS and CPU (/proc), the fd limit.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

/// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the new soft limit.
pub fn raise_fd_limit() -> Option<libc::rlim_t> {
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            let wanted = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
        Some(lim.rlim_cur)
    }
}

/// User + system CPU time of this process, in µs.
pub fn self_cpu_us() -> u64 {
    // SAFETY: getrusage fills the zeroed struct we pass.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return 0;
        }
        let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
        tv(usage.ru_utime) + tv(usage.ru_stime)
    }
}

/// VmRSS of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Time on CPU of all threads of a process, in ns (first field of each task's schedstat).
pub fn cpu_ns(pid: u32) -> Option<u64> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0u64;
    for entry in dir.flatten() {
        let mut path = entry.path();
        path.push("schedstat");
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Some(ns) = text
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
            {
                total += ns;
            }
        }
    }
    Some(total)
}

/// True when /proc/<pid> exists.
pub fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// CPU use of loadgen and (optionally) the server over a window.
pub struct CpuWindow {
    start: Instant,
    self_us: u64,
    server: Option<(u32, u64)>,
}

/// What a [`CpuWindow`] measured.
#[derive(Debug, Clone, Copy)]
pub struct CpuFigures {
    pub wall: Duration,
    /// 100 = one core busy.
    pub loadgen_pct: f64,
    pub server_pct: Option<f64>,
    /// Server CPU time spent in the window, ns.
    pub server_ns: Option<u64>,
}

impl CpuWindow {
    pub fn start(server_pid: Option<u32>) -> Self {
        CpuWindow {
            start: Instant::now(),
            self_us: self_cpu_us(),
            server: server_pid.and_then(|pid| cpu_ns(pid).map(|ns| (pid, ns))),
        }
    }

    pub fn finish(&self) -> CpuFigures {
        let wall = self.start.elapsed();
        let secs = wall.as_secs_f64().max(1e-9);
        let self_us = self_cpu_us().saturating_sub(self.self_us);
        let server_ns = self
            .server
            .and_then(|(pid, ns0)| cpu_ns(pid).map(|ns| ns.saturating_sub(ns0)));
        CpuFigures {
            wall,
            loadgen_pct: round2(self_us as f64 / 1e6 / secs * 100.0),
            server_pct: server_ns.map(|ns| round2(ns as f64 / 1e9 / secs * 100.0)),
            server_ns,
        }
    }
}

/// Samples the server's RSS every 100 ms and keeps the peak since the last reset.
pub struct RssSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl RssSampler {
    pub fn spawn(pid: u32) -> Self {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            while !s.load(Ordering::Relaxed) {
                tick.tick().await;
                if let Some(rss) = rss_kib(pid) {
                    p.fetch_max(rss, Ordering::Relaxed);
                }
            }
        });
        RssSampler { peak, stop }
    }

    /// Peak since the last call; the next window starts from the current RSS.
    pub fn take_peak(&self, pid: u32) -> u64 {
        let now = rss_kib(pid).unwrap_or(0);
        self.peak.swap(now, Ordering::Relaxed).max(now)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
