//! The log half of `vigil audit verify`: every segment in order, every
//! record's frame, the chain, the columns against the hashed body, the
//! signed checkpoints and their cadence.

use super::chain::{GENESIS_HASH, chain_hash};
use super::verify::{
    BAD_SIGNATURE, BadEvent, CHECKPOINT_MISMATCH, HASH_MISMATCH, MISSING, OUT_OF_ORDER,
    PREV_MISMATCH, VerifyReport, Walked, cadence_broken, columns_match_body,
};
use crate::StoreError;
use crate::checkpoint::signature_valid;
use crate::log::record::Record;
use crate::log::segment::{self, Tail};
use crate::sqlite::has_row;
use std::path::Path;

/// What walking the log found, and the hash of every event (for checking
/// the index against it).
pub(crate) struct LogWalk {
    pub walked: Walked,
    /// `hashes[i]` is the hash of seq `i + 1`.
    pub hashes: Vec<[u8; 32]>,
    /// `has_row[i]`: whether seq `i + 1` gets a row in the index.
    pub has_row: Vec<bool>,
    /// The seq each checkpoint signs, in order.
    pub checkpoint_seqs: Vec<i64>,
    pub checkpoints: u64,
    /// Whether there is a log at all (a data_dir from before it has none).
    pub present: bool,
}

/// A damaged record: its seq, and what is wrong.
const DAMAGED: &str = "damaged record in the log";

pub(crate) fn walk_log(
    dir: &Path,
    public_key: &[u8; 32],
    checkpoint_every: u64,
    head_seq: Option<i64>,
) -> Result<LogWalk, StoreError> {
    let segments = segment::list(dir)?;
    let mut w = LogWalk {
        walked: Walked {
            report: VerifyReport::nothing_checked(),
            last_seq: 0,
            head_hash: None,
        },
        hashes: Vec::new(),
        has_row: Vec::new(),
        checkpoint_seqs: Vec::new(),
        checkpoints: 0,
        present: !segments.is_empty(),
    };
    let mut prev = GENESIS_HASH;
    let mut last_checkpoint = 0i64;
    let count = segments.len();
    for (i, seg) in segments.iter().enumerate() {
        let contents = segment::read(&seg.path)?;
        let expected = w.walked.last_seq + 1;
        let first_event = contents.records.iter().find_map(|r| match r {
            Record::Event(e) => Some(e.seq),
            Record::Checkpoint(_) => None,
        });
        if seg.first_seq != expected && first_event.is_some() {
            return Ok(fail(
                w,
                expected,
                format!(
                    "{MISSING} (segment {} starts at seq {})",
                    seg.path.display(),
                    seg.first_seq
                ),
            ));
        }
        for r in &contents.records {
            match r {
                Record::Event(e) => {
                    let expected = w.walked.last_seq + 1;
                    let problem = if e.seq > expected {
                        Some((expected, MISSING.to_string()))
                    } else if e.seq < expected {
                        Some((e.seq, OUT_OF_ORDER.to_string()))
                    } else {
                        let here = chain_hash(&prev, e.body.as_bytes());
                        if e.prev_hash != prev {
                            let consistent = chain_hash(&e.prev_hash, e.body.as_bytes()) == e.hash;
                            let what = if consistent {
                                PREV_MISMATCH
                            } else {
                                HASH_MISMATCH
                            };
                            Some((e.seq, what.to_string()))
                        } else if here != e.hash {
                            Some((e.seq, HASH_MISMATCH.to_string()))
                        } else if !columns_match_body(
                            &e.body,
                            e.at_ms,
                            e.session.as_deref(),
                            e.principal.as_deref(),
                            e.run_id.as_deref(),
                            &e.event_type,
                        ) {
                            Some((e.seq, super::verify::COLUMNS_DISAGREE.to_string()))
                        } else {
                            None
                        }
                    };
                    // The checkpoint of an event follows it in the log: the stretch
                    // is judged at the next event.
                    let problem = problem
                        .or_else(|| cadence_broken(e.seq - 1, last_checkpoint, checkpoint_every));
                    if let Some((seq, problem)) = problem {
                        return Ok(fail(w, seq, problem));
                    }
                    prev = e.hash;
                    w.hashes.push(e.hash);
                    w.has_row.push(has_row(&e.fields()));
                    if head_seq == Some(e.seq) {
                        w.walked.head_hash = Some(prev);
                    }
                    w.walked.last_seq = e.seq;
                    w.walked.report.events += 1;
                }
                Record::Checkpoint(c) => {
                    let at = usize::try_from(c.seq - 1)
                        .ok()
                        .and_then(|i| w.hashes.get(i));
                    let problem = match at {
                        None => Some(CHECKPOINT_MISMATCH),
                        Some(_) if !signature_valid(public_key, c.seq, &c.hash, &c.signature) => {
                            Some(BAD_SIGNATURE)
                        }
                        Some(h) if *h != c.hash => Some(CHECKPOINT_MISMATCH),
                        Some(_) => None,
                    };
                    if let Some(problem) = problem {
                        return Ok(fail(w, c.seq, problem.to_string()));
                    }
                    last_checkpoint = last_checkpoint.max(c.seq);
                    w.checkpoint_seqs.push(c.seq);
                    w.checkpoints += 1;
                    w.walked.report.checkpoints += 1;
                }
            }
        }
        match contents.tail {
            // The end of the last segment may be a write in progress (or one
            // a crash interrupted: never acknowledged).
            Some(Tail::Torn) if i + 1 == count => {}
            Some(Tail::Torn) => {
                let seq = w.walked.last_seq + 1;
                return Ok(fail(
                    w,
                    seq,
                    format!("{DAMAGED}: cut short in {}", seg.path.display()),
                ));
            }
            Some(Tail::Corrupt(why)) => {
                let seq = w.walked.last_seq + 1;
                return Ok(fail(
                    w,
                    seq,
                    format!("{DAMAGED} ({why}) in {}", seg.path.display()),
                ));
            }
            None => {}
        }
    }
    let last = w.walked.last_seq;
    if let Some((seq, problem)) = cadence_broken(last, last_checkpoint, checkpoint_every) {
        return Ok(fail(w, seq, problem));
    }
    Ok(w)
}

fn fail(mut w: LogWalk, seq: i64, problem: String) -> LogWalk {
    w.walked.report.first_bad = Some(BadEvent { seq, problem });
    w
}
