//! CPU time of the processes on the machine, by name, read from `/proc`: what a phase cost
//! Gangway's processes, Postgres and NATS.

use std::collections::BTreeMap;
use std::time::Duration;

/// CPU time (user + system) by process name, including the finished children each process has
/// waited for (Postgres backends that exited are counted in the postmaster).
#[derive(Clone, Debug, Default)]
pub struct CpuTimes(BTreeMap<String, Duration>);

/// The groups a benchmark reports: the name prefix in `/proc/<pid>/comm` and the label.
pub const GROUPS: [(&str, &str); 5] = [
    ("gangway-api", "api"),
    ("gangway-dispatc", "dispatcher"),
    ("gangway-project", "projector"),
    ("postgres", "Postgres"),
    ("nats-server", "NATS"),
];

impl CpuTimes {
    pub fn now() -> Self {
        let mut times = BTreeMap::new();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Self(times);
        };
        for entry in entries.flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // "pid (comm) state ppid …": the name may hold spaces, so split at the last ')'.
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                continue;
            };
            let comm = &stat[open + 1..close];
            let Some((_, label)) = GROUPS.iter().find(|(prefix, _)| comm.starts_with(prefix)) else {
                continue;
            };
            // Fields after the name: state is field 3; utime, stime, cutime, cstime are 14-17.
            let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
            let used: u64 = fields
                .get(11..15)
                .map(|f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum())
                .unwrap_or(0);
            *times.entry((*label).to_owned()).or_default() +=
                Duration::from_secs_f64(used as f64 / TICKS_PER_SECOND);
        }
        Self(times)
    }

    /// What each group used since `earlier`.
    pub fn since(&self, earlier: &CpuTimes) -> CpuTimes {
        CpuTimes(
            self.0
                .iter()
                .map(|(label, t)| {
                    let before = earlier.0.get(label).copied().unwrap_or_default();
                    (label.clone(), t.saturating_sub(before))
                })
                .collect(),
        )
    }

    pub fn get(&self, label: &str) -> Duration {
        self.0.get(label).copied().unwrap_or_default()
    }

    pub fn total(&self) -> Duration {
        self.0.values().sum()
    }

    /// `api 1.20 s, dispatcher 0.80 s, …` for the groups that used any.
    pub fn describe(&self) -> String {
        GROUPS
            .iter()
            .map(|(_, label)| (label, self.get(label)))
            .filter(|(_, t)| !t.is_zero())
            .map(|(label, t)| format!("{label} {:.2} s", t.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `/proc` counts CPU time in USER_HZ ticks, which Linux fixes at 100 for user space whatever the
/// kernel's own tick rate.
const TICKS_PER_SECOND: f64 = 100.0;
