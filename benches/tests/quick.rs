//! Every harness scenario in `--quick` mode, as CI runs it: the harness must keep
//! working, and each scenario must produce its figures. Timings are not asserted.

use boxtrace_benches::options::Options;
use boxtrace_benches::scenario::Scenario;

#[test]
fn every_scenario_runs_in_quick_mode() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::quick(dir.path());
    let has_server = options.server_bin().is_ok();
    if !has_server {
        println!("the boxtrace binary is not built: server scenarios skipped (cargo test --workspace builds it)");
    }
    options.server_bin = options.server_bin().ok();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for scenario in Scenario::ALL {
        if scenario.needs_server() && !has_server {
            continue;
        }
        let started = std::time::Instant::now();
        let report = runtime
            .block_on(scenario.run(&options))
            .unwrap_or_else(|e| panic!("{scenario:?}: {e:#}"));
        println!(
            "{scenario:?} in {:?}\n{}",
            started.elapsed(),
            report.markdown()
        );
        assert!(
            !report.figures.is_empty() || !report.notes.is_empty(),
            "{scenario:?} reported nothing"
        );
        for figure in &report.figures {
            assert!(
                figure.value.is_finite() && figure.value >= 0.0,
                "{scenario:?}: {} is {}",
                figure.id,
                figure.value
            );
        }
    }
}
