//! Spike lists as messages carry them: [`Spikes`] (one index inline, or a shared list) and
//! the [`SpikePool`] a sender reuses its lists from.

/// Indices of the neurons that fired at one tick (sparse): one index held inline (a neuron
/// actor's own spike: no allocation, no reference count), or a list shared by reference
/// counting. Reads as a slice.
#[derive(Clone, Debug)]
pub struct Spikes(SpikeList);

#[derive(Clone, Debug)]
enum SpikeList {
    One(u32),
    Shared(std::sync::Arc<Vec<u32>>),
}

impl Spikes {
    /// The spike of neuron `index` alone.
    pub fn one(index: u32) -> Self {
        Spikes(SpikeList::One(index))
    }

    /// A shared list.
    pub fn shared(list: std::sync::Arc<Vec<u32>>) -> Self {
        Spikes(SpikeList::Shared(list))
    }
}

impl From<Vec<u32>> for Spikes {
    fn from(list: Vec<u32>) -> Self {
        Spikes::shared(std::sync::Arc::new(list))
    }
}

impl std::ops::Deref for Spikes {
    type Target = [u32];
    fn deref(&self) -> &[u32] {
        match &self.0 {
            SpikeList::One(i) => std::slice::from_ref(i),
            SpikeList::Shared(list) => list,
        }
    }
}

/// A sender's reusable spike lists (as [`super::SignalPool`] for signals): a list goes back into use
/// once every receiver has dropped it, so a steady spike stream allocates nothing.
#[derive(Debug, Default)]
pub struct SpikePool {
    lists: Vec<std::sync::Arc<Vec<u32>>>,
}

impl SpikePool {
    /// A spike list holding a copy of `fired`.
    pub fn spikes(&mut self, fired: &[u32]) -> Spikes {
        let slot = self
            .lists
            .iter_mut()
            .position(|b| std::sync::Arc::get_mut(b).is_some());
        let idx = slot.unwrap_or_else(|| {
            self.lists
                .push(std::sync::Arc::new(Vec::with_capacity(fired.len())));
            self.lists.len() - 1
        });
        let list = std::sync::Arc::get_mut(&mut self.lists[idx]).expect("free list");
        list.clear();
        list.extend_from_slice(fired);
        Spikes::shared(self.lists[idx].clone())
    }
}
