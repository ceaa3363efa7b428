//! What, besides the actions, an operation is bound to.

/// Opaque bytes that complete an operation, from the front-end: hashed into
/// an approval (so an approval covers these values only) and handed to the
/// reviewer's previewer unread. PostgreSQL: the Bind message's parameter
/// section as `values`, the Parse message's parameter type OIDs as `hint`.
/// The guard never reads either.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Binding<'a> {
    /// Hashed into the approval (empty: no parameters).
    pub values: &'a [u8],
    /// For the previewer only (empty: none), in the front-end's own encoding.
    pub hint: &'a [u8],
}

impl<'a> Binding<'a> {
    /// An operation with nothing bound (a simple query).
    pub const NONE: Binding<'static> = Binding {
        values: &[],
        hint: &[],
    };

    pub fn new(values: &'a [u8]) -> Self {
        Binding { values, hint: &[] }
    }

    pub fn with_hint(self, hint: &'a [u8]) -> Self {
        Binding { hint, ..self }
    }
}
