//! In-process grant verification throughput on one core: one `Verifier`, one token,
//! a plain timing loop (no framework). Target: ≥ 20,000 verifications per second.
//! Run: `cargo bench --bench grant_verify`.
#![allow(clippy::disallowed_methods)] // test and bench code drives processes, env and clocks directly
#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use autosd::grant::{
    ArtifactKind, Bindings, Capability, Check, Claims, KeyStatus, RevocationSet, RuntimeBindings,
    SigningKeyHandle, TrustStore, TrustedKey, Verifier, sign_artifact,
};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn main() {
    let now = autosd::context::unix_now();
    let key = SigningKeyHandle::from_seed(&[42; 32]);
    let trust = TrustStore {
        keys: vec![TrustedKey {
            kid: key.kid().clone(),
            public: key.public(),
            not_before: now - 3600,
            not_after: None,
            status: KeyStatus::Active,
        }],
        ..TrustStore::default()
    };
    let mut revoked = RevocationSet::default();
    // A realistic revocation list: a few hundred revoked grants to look through.
    for i in 0..500u32 {
        revoked.gids.insert(format!("g-{i:020x}"));
    }
    let verifier = Verifier::new(trust, revoked);
    let claims = Claims {
        v: 1,
        gid: "g-0123456789abcdef0123".into(),
        kid: key.kid().to_string(),
        iss: "bench".into(),
        aud: "autosd".into(),
        iat: now - 60,
        nbf: now - 60,
        exp: now + 3600,
        projects: vec!["my-project".into()],
        deploy_envs: vec!["prod".into()],
        envs: vec!["prod".into()],
        rollback: true,
        heal: false,
        push: false,
        break_glass: false,
        bind: Bindings {
            repository: Some("acme/site".into()),
            git_ref: Some("refs/heads/main".into()),
            environment: None,
        },
    };
    let payload = serde_json::to_vec(&claims).unwrap_or_default();
    let token = sign_artifact(&key, ArtifactKind::Grant, &payload);
    let check = Check {
        project: Some("my-project"),
        env: Some("prod"),
        capability: Some(Capability::Deploy),
        runtime: RuntimeBindings {
            repository: Some("acme/site".into()),
            git_ref: Some("refs/heads/main".into()),
            environment: None,
        },
    };
    if verifier.verify(&token, now, &check).is_err() {
        println!("benchmark setup error: the token does not verify");
        return;
    }
    // `cargo test --all-targets` runs this binary without `--bench`: a smoke check suffices.
    if !std::env::args().any(|a| a == "--bench") {
        println!("grant_verify: setup verified (run `cargo bench --bench grant_verify` to measure)");
        return;
    }
    // Warm up, then time whole batches for about three seconds. The machine may be shared,
    // so the rate is reported per wall-clock second and per CPU second of this thread.
    for _ in 0..1000 {
        let _ = black_box(verifier.verify(black_box(&token), now, &check));
    }
    let full = measure(|| verifier.verify(black_box(&token), now, &check).is_ok());
    report("grant_verify (full Verifier::verify)", full);
    let pae = autosd::grant::pae(ArtifactKind::Grant.payload_type(), &payload);
    let sig = token
        .rsplit('.')
        .next()
        .and_then(autosd::grant::strict::b64u_decode)
        .unwrap_or_default();
    let sig = ed25519_dalek::Signature::from_slice(&sig).ok();
    let public = key.public();
    if let Some(sig) = sig {
        let raw = measure(|| public.verify_strict(black_box(&pae), &sig).is_ok());
        report("  of which ed25519 verify_strict alone", raw);
    }
}

struct Rate {
    runs: u64,
    wall: f64,
    cpu: Option<f64>,
}

fn measure(mut op: impl FnMut() -> bool) -> Rate {
    let mut runs = 0u64;
    let cpu0 = thread_cpu_secs();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        for _ in 0..1000 {
            black_box(op());
        }
        runs += 1000;
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = match (cpu0, thread_cpu_secs()) {
        (Some(a), Some(b)) if b > a => Some(b - a),
        _ => None,
    };
    Rate { runs, wall, cpu }
}

fn report(name: &str, r: Rate) {
    let per_wall = r.runs as f64 / r.wall;
    let mut line = format!(
        "{name}: {} runs in {:.2} s = {per_wall:.0}/s wall-clock",
        r.runs, r.wall
    );
    let best = match r.cpu {
        Some(cpu) => {
            let per_cpu = r.runs as f64 / cpu;
            line.push_str(&format!(
                ", {per_cpu:.0}/s per CPU-second ({:.1} µs CPU each)",
                1e6 / per_cpu
            ));
            per_cpu
        }
        None => per_wall,
    };
    if name.starts_with("grant_verify") {
        line.push_str(&format!(
            "; target >= 20000/s on one core: {}",
            if best >= 20_000.0 { "met" } else { "NOT met" }
        ));
    }
    println!("{line}");
}

/// CPU time of the current thread from /proc (Linux; clock ticks of 10 ms).
fn thread_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command name: state is field 3, utime 14 and stime 15 (1-based in proc(5)).
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
