//! The mail a local-scheduler worker holds for its residents ([`Mailboxes`]): one first-in
//! first-out queue per resident, every queue threaded through one slab of slots the worker
//! owns.
//!
//! A queue per resident in its own buffer (a `VecDeque` each) puts every message in a
//! different place: thousands of small actors receiving a few messages a tick (one actor per
//! neuron) then pay a cache miss on the receiver's buffer for each message, and another when
//! it is read. Here a message goes into the slot freed last (still in cache), the queues are
//! linked lists of slot indices, and the heads and tails of all the queues are two small
//! arrays. Nothing is allocated once the slab has grown to the most messages ever queued at
//! once on the worker.

/// No slot: the end of a queue or of the free list.
const NONE: u32 = u32::MAX;

/// One slot of the slab: a message (none while free) and the next slot of its queue (or of
/// the free list).
struct Slot<E> {
    item: Option<E>,
    next: u32,
}

/// A FIFO queue of `E` per resident, all in one slab.
pub(super) struct Mailboxes<E> {
    slots: Vec<Slot<E>>,
    /// First free slot.
    free: u32,
    /// Each queue's first and last slot.
    head: Vec<u32>,
    tail: Vec<u32>,
    /// Each queue's length.
    len: Vec<u32>,
}

impl<E> Mailboxes<E> {
    /// Empty queues for `residents` residents.
    pub(super) fn new(residents: usize) -> Self {
        Self {
            slots: Vec::new(),
            free: NONE,
            head: vec![NONE; residents],
            tail: vec![NONE; residents],
            len: vec![0; residents],
        }
    }

    /// Appends `item` to resident `r`'s queue.
    ///
    /// # Panics
    /// If about 4 G messages are queued on one worker at once (the slot index is 32 bits).
    pub(super) fn push(&mut self, r: usize, item: E) {
        let s = if self.free == NONE {
            let s = u32::try_from(self.slots.len())
                .ok()
                .filter(|&s| s != NONE)
                .expect("fewer than 4 G messages queued on one worker");
            self.slots.push(Slot {
                item: Some(item),
                next: NONE,
            });
            s
        } else {
            let s = self.free;
            let slot = &mut self.slots[s as usize];
            self.free = slot.next;
            *slot = Slot {
                item: Some(item),
                next: NONE,
            };
            s
        };
        match self.tail[r] {
            NONE => self.head[r] = s,
            t => self.slots[t as usize].next = s,
        }
        self.tail[r] = s;
        self.len[r] += 1;
    }

    /// Takes the first message of resident `r`'s queue.
    pub(super) fn pop(&mut self, r: usize) -> Option<E> {
        let s = self.head[r];
        if s == NONE {
            return None;
        }
        let slot = &mut self.slots[s as usize];
        let item = slot.item.take();
        self.head[r] = slot.next;
        if slot.next == NONE {
            self.tail[r] = NONE;
        }
        slot.next = self.free;
        self.free = s;
        self.len[r] -= 1;
        item
    }

    /// Messages in resident `r`'s queue.
    pub(super) fn len(&self, r: usize) -> usize {
        self.len[r] as usize
    }

    /// Drops every message in resident `r`'s queue.
    pub(super) fn clear(&mut self, r: usize) {
        while self.pop(r).is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    proptest! {
        /// Any sequence of pushes, pops and clears on a few queues gives what one `VecDeque`
        /// per queue gives.
        #[test]
        fn queues_behave_as_one_deque_each(ops in prop::collection::vec((0u8..4, 0usize..3, any::<u16>()), 0..400)) {
            let mut mail = Mailboxes::new(3);
            let mut model: Vec<VecDeque<u16>> = vec![VecDeque::new(); 3];
            for (op, r, v) in ops {
                match op {
                    0 | 1 => {
                        mail.push(r, v);
                        model[r].push_back(v);
                    }
                    2 => prop_assert_eq!(mail.pop(r), model[r].pop_front()),
                    _ => {
                        mail.clear(r);
                        model[r].clear();
                    }
                }
                for (q, m) in model.iter().enumerate() {
                    prop_assert_eq!(mail.len(q), m.len());
                }
            }
            for (q, m) in model.iter_mut().enumerate() {
                while let Some(v) = m.pop_front() {
                    prop_assert_eq!(mail.pop(q), Some(v));
                }
                prop_assert_eq!(mail.pop(q), None);
            }
        }
    }

    #[test]
    fn freed_slots_are_reused() {
        let mut mail = Mailboxes::new(2);
        for i in 0..10 {
            mail.push(i % 2, i);
        }
        for i in 0..10 {
            assert_eq!(mail.pop(i % 2), Some(i));
        }
        for i in 0..10 {
            mail.push(1, i);
        }
        assert_eq!(mail.slots.len(), 10);
        assert_eq!(mail.len(1), 10);
    }
}
