//! Audit benchmarks (`cargo bench --bench audit`): fsynced appends per second through the
//! real append path, and `autosd audit verify` of a generated 1,000,000-record log, both
//! through the library and as a whole `autosd` process. Targets: ≥ 500 appends/s, ≤ 3 s.
#![allow(clippy::disallowed_methods)] // test and bench code drives processes, env and clocks directly
#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use autosd::audit::AuditLog;
use autosd::audit::record::{AuditEvent, Decision, GENESIS_PREV, Outcome, Phase, Record, RecordActor};
use autosd::audit::verify::verify;
use std::io::Write;
use std::time::Instant;

fn event(i: u64) -> AuditEvent {
    let phase = if i.is_multiple_of(2) {
        Phase::Intent
    } else {
        Phase::Outcome
    };
    let mut ev = AuditEvent::new("deploy", phase)
        .project("my-project")
        .env("staging")
        .target("docker")
        .grant("g-0123456789abcdef", "k-0123456789abcdef")
        .decision(Decision::allow());
    if phase == Phase::Outcome {
        ev = ev.outcome(Outcome::ok()).duration_ms(1234);
    }
    ev
}

fn actor() -> RecordActor {
    RecordActor::GithubRun {
        repository: "acme/shop".into(),
        run_id: "123456789".into(),
        actor: "octocat".into(),
        workflow: "deploy".into(),
    }
}

fn bench_append(dir: &std::path::Path, n: u64) -> f64 {
    let log = AuditLog::at(&dir.join("append.log.jsonl"), actor());
    let started = Instant::now();
    for i in 0..n {
        if let Err(e) = log.append(&event(i)) {
            println!("append failed: {e}");
            return 0.0;
        }
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn bench_concurrent_append(dir: &std::path::Path, writers: usize, each: u64) -> f64 {
    let path = dir.join("concurrent.log.jsonl");
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..writers {
            let path = &path;
            s.spawn(move || {
                let log = AuditLog::at(path, actor());
                for i in 0..each {
                    if let Err(e) = log.append(&event(i)) {
                        println!("append failed: {e}");
                        return;
                    }
                }
            });
        }
    });
    let rate = (writers as u64 * each) as f64 / started.elapsed().as_secs_f64();
    let report = verify(&std::fs::read(&path).unwrap_or_default(), None);
    if report.finding.is_some() || report.records != writers as u64 * each {
        println!("concurrent log does not verify: {report:?}");
    }
    rate
}

/// What the disk itself allows: 400-byte appends, each followed by fdatasync.
fn fsync_rate(dir: &std::path::Path) -> f64 {
    let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("probe"))
    else {
        return 0.0;
    };
    let n = 300;
    let started = Instant::now();
    for _ in 0..n {
        if f.write_all(&[b'x'; 400]).and_then(|()| f.sync_data()).is_err() {
            return 0.0;
        }
    }
    f64::from(n) / started.elapsed().as_secs_f64()
}

/// Writes `n` valid chained records (same bytes the append path would write, minus fsyncs).
fn generate(path: &std::path::Path, n: u64) -> std::io::Result<u64> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let actor = actor();
    let mut prev = GENESIS_PREV.to_string();
    for seq in 1..=n {
        let r = Record::seal(&event(seq), seq, &prev, "2026-11-27T10:00:00Z", &actor);
        out.write_all(&r.to_line())?;
        out.write_all(b"\n")?;
        prev = r.hash;
    }
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

fn main() {
    let dir = match tempfile::tempdir_in(std::env::temp_dir()) {
        Ok(d) => d,
        Err(e) => {
            println!("no temp dir: {e}");
            return;
        }
    };
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without
    // it, and then a small smoke run checks the same code paths in seconds.
    let full = std::env::args().any(|a| a == "--bench");
    let (appends, n) = if full { (2_000, 1_000_000) } else { (80, 5_000) };
    let rate = bench_append(dir.path(), appends);
    println!("audit append, 1 writer (fsync each): {appends} records, {rate:.0} records/s (target >= 500)");
    let writers = 8;
    let rate = bench_concurrent_append(dir.path(), writers, appends / writers as u64);
    println!("audit append, {writers} writers at once (fsync each, shared log): {rate:.0} records/s");
    println!(
        "raw fdatasync of this disk, for reference: {:.0} per second",
        fsync_rate(dir.path())
    );
    // On tmpfs an fsync costs nothing: what is left is autosd's own work per append.
    if let Ok(shm) = tempfile::tempdir_in("/dev/shm") {
        let rate = bench_append(shm.path(), appends);
        println!("audit append, 1 writer on tmpfs (fsync is free there): {rate:.0} records/s");
    }

    let path = dir.path().join("big.log.jsonl");
    let started = Instant::now();
    let size = match generate(&path, n) {
        Ok(size) => size,
        Err(e) => {
            println!("cannot generate the log: {e}");
            return;
        }
    };
    println!(
        "generated {n} records ({:.0} MiB) in {:.2} s",
        size as f64 / (1 << 20) as f64,
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let bytes = std::fs::read(&path).unwrap_or_default();
    let report = verify(&bytes, None);
    println!(
        "library verify: {} records in {:.2} s, finding {:?} (target <= 3 s)",
        report.records,
        started.elapsed().as_secs_f64(),
        report.finding
    );

    // Wall time on a shared 2-core machine depends on what else runs; GNU time's CPU
    // seconds (user + sys) show the work itself, when /usr/bin/time exists.
    let timed = std::path::Path::new("/usr/bin/time").exists();
    let mut cmd = if timed {
        let mut c = std::process::Command::new("/usr/bin/time");
        c.args(["-f", "%e s wall, %U s user, %S s sys"])
            .arg(env!("CARGO_BIN_EXE_autosd"));
        c
    } else {
        std::process::Command::new(env!("CARGO_BIN_EXE_autosd"))
    };
    let started = Instant::now();
    let out = cmd
        .args(["audit", "verify", "--log"])
        .arg(&path)
        .env("AUTOSD_HOME", dir.path())
        .current_dir(dir.path())
        .output();
    let elapsed = started.elapsed().as_secs_f64();
    match out {
        Ok(out) => println!(
            "`autosd audit verify` process: {elapsed:.2} s, exit {:?} (target <= 3 s){}",
            out.status.code(),
            if timed {
                format!(
                    "; time: {}",
                    String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("?")
                )
            } else {
                String::new()
            }
        ),
        Err(e) => println!("cannot run autosd: {e}"),
    }
}
