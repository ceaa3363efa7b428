//! The session's prepared statements, as the target confirmed them: an id
//! is added only from the target's COM_STMT_PREPARE_OK (never chosen or
//! guessed by Vigil), removed when COM_STMT_CLOSE is forwarded, and all are
//! dropped by COM_RESET_CONNECTION. Bounded in count and bytes.

use crate::relay::CursorRows;
use std::collections::HashMap;
use vigil_mysql_sql::Analysed;

/// The most prepared statements one session may hold.
pub const MAX_STATEMENTS: usize = 256;
/// The most statement text (and bookkeeping) one session may hold.
pub const MAX_BYTES: usize = 16 << 20;
/// What each statement counts besides its text.
const OVERHEAD: usize = 256;
/// MariaDB's id for "the statement prepared last".
pub const LAST: u32 = 0xFFFF_FFFF;

/// One statement the target prepared.
pub struct Prepared {
    /// Its analysis, exactly as COM_QUERY text is analysed (one statement).
    pub analysed: Analysed,
    /// An open cursor's rows (after an EXECUTE that opened one).
    pub cursor: Option<CursorRows>,
    /// A digest of the long data sent since the last EXECUTE or RESET: an
    /// approval is bound to it as to the parameters.
    pub long_data: Option<aws_lc_rs::digest::Context>,
    text_len: usize,
}

impl Prepared {
    pub fn new(analysed: Analysed, text_len: usize) -> Self {
        Prepared {
            analysed,
            cursor: None,
            long_data: None,
            text_len,
        }
    }

    fn cost(&self) -> usize {
        self.text_len.saturating_add(OVERHEAD)
    }
}

#[derive(Default)]
pub struct Statements {
    map: HashMap<u32, Prepared>,
    /// The id of the last PREPARE the target confirmed.
    last: Option<u32>,
    bytes: usize,
}

impl Statements {
    /// Why a statement of `text_len` bytes may not be prepared now, if so.
    pub fn over_limit(&self, text_len: usize) -> Option<String> {
        if self.map.len() >= MAX_STATEMENTS {
            return Some(format!("more than {MAX_STATEMENTS} prepared statements"));
        }
        if self.bytes.saturating_add(text_len.saturating_add(OVERHEAD)) > MAX_BYTES {
            return Some(format!(
                "prepared statements would hold more than {} MiB",
                MAX_BYTES >> 20
            ));
        }
        None
    }

    /// The target confirmed `id` (a reused id replaces the old entry: the
    /// target's word is what counts).
    pub fn confirmed(&mut self, id: u32, prepared: Prepared) {
        self.bytes = self.bytes.saturating_add(prepared.cost());
        if let Some(old) = self.map.insert(id, prepared) {
            self.bytes = self.bytes.saturating_sub(old.cost());
        }
        self.last = Some(id);
    }

    /// The id a client's id names: itself if known, [`LAST`] the last
    /// confirmed one while it is open, anything else nothing.
    pub fn resolve(&self, id: u32) -> Option<u32> {
        let id = match id {
            LAST => self.last?,
            id => id,
        };
        self.map.contains_key(&id).then_some(id)
    }

    /// A PREPARE is under way: [`LAST`] names nothing until it is confirmed.
    pub fn forget_last(&mut self) {
        self.last = None;
    }

    pub fn get(&self, id: u32) -> Option<&Prepared> {
        self.map.get(&id)
    }

    pub fn get_mut(&mut self, id: u32) -> Option<&mut Prepared> {
        self.map.get_mut(&id)
    }

    pub fn close(&mut self, id: u32) -> Option<Prepared> {
        let old = self.map.remove(&id)?;
        self.bytes = self.bytes.saturating_sub(old.cost());
        Some(old)
    }

    /// COM_RESET_CONNECTION: the target forgets every statement.
    pub fn clear(&mut self) {
        self.map.clear();
        self.last = None;
        self.bytes = 0;
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use vigil_mysql_sql::{Effect, Lineage, SqlFacts};

    fn prepared(len: usize) -> Prepared {
        let analysed = Analysed {
            facts: SqlFacts::default(),
            lineage: Lineage::NoRows,
            effect: Effect::None,
        };
        Prepared::new(analysed, len)
    }

    #[test]
    fn last_resolves_to_the_last_confirmed_open_statement() {
        let mut s = Statements::default();
        assert_eq!(s.resolve(LAST), None);
        s.confirmed(1, prepared(10));
        s.confirmed(2, prepared(10));
        assert_eq!(s.resolve(LAST), Some(2));
        assert_eq!(s.resolve(7), None);
        s.forget_last();
        assert_eq!(
            s.resolve(LAST),
            None,
            "a PREPARE the target did not confirm"
        );
        s.confirmed(2, prepared(10));
        s.close(2);
        assert_eq!(s.resolve(LAST), None, "the last one is closed");
        assert_eq!(s.resolve(1), Some(1));
        s.clear();
        assert_eq!((s.len(), s.bytes(), s.resolve(1)), (0, 0, None));
    }

    #[test]
    fn limits_count_and_bytes() {
        let mut s = Statements::default();
        for id in 0..MAX_STATEMENTS as u32 {
            assert_eq!(s.over_limit(1), None);
            s.confirmed(id, prepared(1));
        }
        assert!(s.over_limit(1).is_some());
        s.clear();
        assert!(s.over_limit(MAX_BYTES).is_some());
    }

    #[derive(Clone, Debug)]
    enum Op {
        Confirm(u32, usize),
        Close(u32),
        Reset,
    }

    proptest! {
        /// Against a model: the map holds exactly the confirmed, unclosed
        /// ids, and its bytes are the sum of their costs.
        #[test]
        fn the_map_follows_a_model(ops in proptest::collection::vec(prop_oneof![
            (0u32..8, 0usize..100).prop_map(|(i, n)| Op::Confirm(i, n)),
            (0u32..8).prop_map(Op::Close),
            Just(Op::Reset),
        ], 0..64)) {
            let mut s = Statements::default();
            let mut model: HashMap<u32, usize> = HashMap::new();
            for op in ops {
                match op {
                    Op::Confirm(id, n) => { s.confirmed(id, prepared(n)); model.insert(id, n); }
                    Op::Close(id) => { prop_assert_eq!(s.close(id).is_some(), model.remove(&id).is_some()); }
                    Op::Reset => { s.clear(); model.clear(); }
                }
                prop_assert_eq!(s.len(), model.len());
                prop_assert_eq!(s.bytes(), model.values().map(|n| n + OVERHEAD).sum::<usize>());
                for id in 0..8 {
                    prop_assert_eq!(s.resolve(id).is_some(), model.contains_key(&id));
                }
            }
        }
    }
}
