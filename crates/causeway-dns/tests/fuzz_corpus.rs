//! Replays every input of the committed fuzz corpus (`fuzz/corpus/handle_wire/`, kept minimal by
//! `cargo fuzz cmin`) and of the crash regressions (`fuzz/regressions/handle_wire/`, inputs that
//! once broke the handler, kept by hand) through the fuzz harness on stable Rust, so every test
//! run exercises them without libFuzzer or nightly. The checks are the fuzz target's own
//! (`causeway_dns::fuzzing::check`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    clippy::default_trait_access
)]

use std::path::{Path, PathBuf};

fn inputs(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    inputs.sort();
    inputs
}

fn replay(inputs: &[PathBuf]) {
    for path in inputs {
        let data = std::fs::read(path).unwrap();
        if let Err(panic) = std::panic::catch_unwind(|| causeway_dns::fuzzing::check(&data)) {
            eprintln!("fuzz input {} failed", path.display());
            std::panic::resume_unwind(panic);
        }
    }
}

#[test]
fn every_corpus_input_gets_a_well_formed_reply_or_a_documented_drop() {
    let corpus = inputs("fuzz/corpus/handle_wire");
    assert!(
        corpus.len() >= 100,
        "the corpus has only {} inputs; run `make fuzz`",
        corpus.len()
    );
    replay(&corpus);
    eprintln!("{} corpus inputs replayed", corpus.len());
}

#[test]
fn inputs_that_once_broke_the_handler_stay_fixed() {
    let regressions = inputs("fuzz/regressions/handle_wire");
    assert!(!regressions.is_empty(), "the regressions are committed");
    replay(&regressions);
}
