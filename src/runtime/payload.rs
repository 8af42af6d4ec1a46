//! What the runtime reads from a message, and the runtime's own control words.
//!
//! The runtime carries any message type that implements [`Payload`]. It knows nothing of what
//! a message means: it reads its kind (a [`Label`] the application defines, used to index the
//! traffic counters and to name kinds in results and traces), its size in bytes and the step it
//! belongs to. [`Control`] words travel on a separate, unbounded channel and are served before
//! data.

use std::fmt::Debug;
use std::hash::Hash;

/// A message kind, as the application labels it: a small, fixed set of values, each with a
/// position (the traffic counters index by it) and a name (written in results and traces).
///
/// `ALL[k.index()] == k` for every kind `k`, and names are distinct.
pub trait Label: Copy + Eq + Hash + Debug + Send + Sync + 'static {
    /// Every kind, in counter order.
    const ALL: &'static [Self];
    /// Position in [`Label::ALL`].
    fn index(self) -> usize;
    /// The name used in results and traces.
    fn name(self) -> &'static str;
    /// Whether the traffic report also sums this kind's bytes on their own
    /// (`Traffic::weight_transport_bytes`): the kind the application counts apart.
    fn counted_apart(self) -> bool {
        false
    }
    /// The kind named `name`, if any.
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.name() == name)
    }
}

/// What the runtime reads from every data message.
pub trait Payload: Send + 'static {
    /// The application's message kinds.
    type Kind: Label;
    /// The message's kind.
    fn kind(&self) -> Self::Kind;
    /// Bytes of payload it carries (for traffic counters).
    fn bytes(&self) -> usize;
    /// The step (or tick) it belongs to; 0 where steps do not apply.
    fn step(&self) -> u64 {
        0
    }
    /// Whether this is a reminder an actor sends itself to poll something outside the
    /// network (a rank port looking for mail from other ranks): the runtime counts it neither
    /// as traffic nor as progress, so an actor that polls cannot hide a stall.
    fn is_poll(&self) -> bool {
        false
    }
}

/// Control words, served before any data waiting in the same mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Stop: finish the current message and shut down.
    Stop,
}

/// Serde for a [`Label`] field: written as its name, read back by name.
pub(crate) mod label_serde {
    use super::Label;

    /// Writes the kind's name.
    pub(crate) fn serialize<K: Label, S: serde::Serializer>(
        k: &K,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(k.name())
    }

    /// Reads a kind by name; an unknown name is an error listing the known ones.
    pub(crate) fn deserialize<'de, K: Label, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<K, D::Error> {
        let name: std::borrow::Cow<'de, str> = serde::Deserialize::deserialize(d)?;
        K::from_name(&name).ok_or_else(|| {
            let known: Vec<String> = K::ALL.iter().map(|k| format!("`{}`", k.name())).collect();
            serde::de::Error::custom(format_args!(
                "unknown variant `{name}`, expected one of {}",
                known.join(", ")
            ))
        })
    }
}
