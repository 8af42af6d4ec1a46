//! Mailboxes and addresses: the one module that names the channel crates.
//!
//! Every actor has two channels. Control words go on an *unbounded* channel, because a stop
//! must never wait behind data or block its sender; data goes on a *bounded* channel, whose
//! capacity is the backpressure that keeps a fast producer from flooding a slow consumer
//! (the inline and pinned executors deliver through their own unbounded queues instead, to
//! detached addresses: blocking there would block a whole worker). Receivers serve control
//! first (`biased` selects). The tokio executor uses tokio's mpsc (async, parks the task);
//! the threads executor uses crossbeam (lock-free, parks the thread). Dropping every sender of a channel closes it, which a
//! receiver sees as the end of its input.

use crossbeam_channel as cb;
use tokio::sync::mpsc as tm;

use crate::runtime::payload::Control;

/// Which channel implementation a network uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// tokio mpsc, for tasks.
    Tokio,
    /// crossbeam, bounded data.
    Threads,
    /// No channel at all: an address that names the actor but carries nothing (the inline
    /// and pinned executors deliver through their own queues; a million idle actors cost no
    /// channels).
    Detached,
}

/// A send that did not happen; the message comes back.
#[derive(Debug)]
pub enum SendError<M> {
    /// The mailbox is full.
    Full(M),
    /// The receiving actor has stopped.
    Closed(M),
}

impl<M> SendError<M> {
    /// The message that was not sent.
    pub fn into_inner(self) -> M {
        match self {
            SendError::Full(m) | SendError::Closed(m) => m,
        }
    }
}

/// What a crossbeam data channel carries: a message, or a wake-up that tells a receiver
/// blocked on its data channel to look at its control channel.
pub(crate) enum Slot<M> {
    Data(M),
    Wake,
}

enum DataTx<M> {
    Tokio(tm::Sender<M>),
    Cb(cb::Sender<Slot<M>>),
    Detached,
}

enum CtrlTx {
    Tokio(tm::UnboundedSender<Control>),
    Cb(cb::Sender<Control>),
    Detached,
}

/// The address of an actor: where its messages go.
pub struct ActorRef<M> {
    id: usize,
    data: DataTx<M>,
    ctrl: CtrlTx,
}

impl<M> Clone for ActorRef<M> {
    fn clone(&self) -> Self {
        Self {
            id: self.id,
            data: match &self.data {
                DataTx::Tokio(s) => DataTx::Tokio(s.clone()),
                DataTx::Cb(s) => DataTx::Cb(s.clone()),
                DataTx::Detached => DataTx::Detached,
            },
            ctrl: match &self.ctrl {
                CtrlTx::Tokio(s) => CtrlTx::Tokio(s.clone()),
                CtrlTx::Cb(s) => CtrlTx::Cb(s.clone()),
                CtrlTx::Detached => CtrlTx::Detached,
            },
        }
    }
}

/// One item out of a mailbox.
pub(crate) enum Item<M> {
    Control(Control),
    Data(M),
}

/// The receiving side of an actor's channels.
pub(crate) enum Mailbox<M> {
    Tokio {
        ctrl: tm::UnboundedReceiver<Control>,
        data: tm::Receiver<M>,
    },
    Cb {
        ctrl: cb::Receiver<Control>,
        data: cb::Receiver<Slot<M>>,
    },
    /// The other side of a [`Flavor::Detached`] address: never receives anything.
    Detached,
}

/// Creates an actor's address and mailbox.
pub(crate) fn mailbox<M: Send>(
    id: usize,
    flavor: Flavor,
    capacity: usize,
) -> (ActorRef<M>, Mailbox<M>) {
    match flavor {
        Flavor::Tokio => {
            let (dt, dr) = tm::channel(capacity.max(1));
            let (ct, cr) = tm::unbounded_channel();
            (
                ActorRef {
                    id,
                    data: DataTx::Tokio(dt),
                    ctrl: CtrlTx::Tokio(ct),
                },
                Mailbox::Tokio { ctrl: cr, data: dr },
            )
        }
        Flavor::Threads => {
            let (dt, dr) = cb::bounded(capacity.max(1));
            let (ct, cr) = cb::unbounded();
            (
                ActorRef {
                    id,
                    data: DataTx::Cb(dt),
                    ctrl: CtrlTx::Cb(ct),
                },
                Mailbox::Cb { ctrl: cr, data: dr },
            )
        }
        Flavor::Detached => (
            ActorRef {
                id,
                data: DataTx::Detached,
                ctrl: CtrlTx::Detached,
            },
            Mailbox::Detached,
        ),
    }
}

/// How a waiting send ended.
pub(crate) enum SendOutcome<M> {
    /// Delivered.
    Sent,
    /// The receiver has stopped; the message was dropped.
    Closed,
    /// A control word reached the sender while it waited for room; the message comes back.
    Interrupted(Control, M),
}

impl<M> ActorRef<M> {
    /// The actor's id.
    pub fn id(&self) -> usize {
        self.id
    }

    /// Sends without waiting; a full or closed mailbox hands the message back.
    pub fn try_send(&self, msg: M) -> Result<(), SendError<M>> {
        match &self.data {
            DataTx::Tokio(s) => s.try_send(msg).map_err(|e| match e {
                tm::error::TrySendError::Full(m) => SendError::Full(m),
                tm::error::TrySendError::Closed(m) => SendError::Closed(m),
            }),
            DataTx::Cb(s) => s.try_send(Slot::Data(msg)).map_err(|e| match e {
                cb::TrySendError::Full(Slot::Data(m)) => SendError::Full(m),
                cb::TrySendError::Disconnected(Slot::Data(m)) => SendError::Closed(m),
                _ => unreachable!("a data slot was sent"),
            }),
            DataTx::Detached => Err(SendError::Closed(msg)),
        }
    }

    /// Sends a control word (never blocks). Returns false if the actor has stopped.
    pub fn control(&self, c: Control) -> bool {
        match (&self.ctrl, &self.data) {
            (CtrlTx::Tokio(s), _) => s.send(c).is_ok(),
            (CtrlTx::Cb(s), DataTx::Cb(d)) => {
                let ok = s.send(c).is_ok();
                // A receiver blocked on its (then empty) data channel wakes up and reads the
                // control channel. If the channel is full, the receiver is not blocked: it
                // checks control before its next message anyway.
                let _ = d.try_send(Slot::Wake);
                ok
            }
            (CtrlTx::Cb(s), _) => s.send(c).is_ok(),
            (CtrlTx::Detached, _) => false,
        }
    }

    /// Messages waiting in the data mailbox.
    pub fn depth(&self) -> usize {
        match &self.data {
            DataTx::Tokio(s) => s.max_capacity() - s.capacity(),
            DataTx::Cb(s) => s.len(),
            DataTx::Detached => 0,
        }
    }

    /// Blocking send (threads executor): waits for room, but gives up if `own` (the sender's
    /// own mailbox) receives a control word meanwhile, so a stop is never stuck behind a full
    /// mailbox.
    pub(crate) fn send_blocking(&self, msg: M, own: &mut Mailbox<M>) -> SendOutcome<M> {
        let (DataTx::Cb(tx), Mailbox::Cb { ctrl, .. }) = (&self.data, own) else {
            unreachable!("threads executor uses crossbeam channels");
        };
        // Fast path: room now. Otherwise wait for room or for a control word.
        let msg = match tx.try_send(Slot::Data(msg)) {
            Ok(()) => return SendOutcome::Sent,
            Err(cb::TrySendError::Disconnected(_)) => return SendOutcome::Closed,
            Err(cb::TrySendError::Full(m)) => m,
        };
        let mut op = cb::Select::new_biased();
        let c_idx = op.recv(ctrl);
        let s_idx = op.send(tx);
        let ready = op.select();
        if ready.index() == c_idx {
            let Slot::Data(msg) = msg else {
                unreachable!("a data slot was sent")
            };
            match ready.recv(ctrl) {
                Ok(c) => SendOutcome::Interrupted(c, msg),
                Err(_) => SendOutcome::Closed,
            }
        } else {
            debug_assert_eq!(ready.index(), s_idx);
            match ready.send(tx, msg) {
                Ok(()) => SendOutcome::Sent,
                Err(_) => SendOutcome::Closed,
            }
        }
    }

    /// Async send (tokio executor), with the same stop rule as [`ActorRef::send_blocking`].
    pub(crate) async fn send_async(&self, msg: M, own: &mut Mailbox<M>) -> SendOutcome<M> {
        let (DataTx::Tokio(tx), Mailbox::Tokio { ctrl, .. }) = (&self.data, own) else {
            unreachable!("tokio executor uses tokio channels");
        };
        // Fast path: room now. Otherwise reserve a slot (the message stays with us, so a
        // control word arriving meanwhile can hand it back).
        let msg = match tx.try_send(msg) {
            Ok(()) => return SendOutcome::Sent,
            Err(tm::error::TrySendError::Closed(_)) => return SendOutcome::Closed,
            Err(tm::error::TrySendError::Full(m)) => m,
        };
        tokio::select! {
            biased;
            Some(c) = ctrl.recv() => SendOutcome::Interrupted(c, msg),
            permit = tx.reserve() => match permit {
                Ok(p) => {
                    p.send(msg);
                    SendOutcome::Sent
                }
                Err(_) => SendOutcome::Closed,
            },
        }
    }
}

impl<M> Mailbox<M> {
    /// Waits for the next item, control first (threads executor). `None`: all senders gone.
    ///
    /// Blocks on the data channel alone (a plain receive, which spins briefly before it parks:
    /// a two-channel select parked at once and made a ping-pong round trip 25x slower);
    /// control words push a wake-up into the data channel, see [`ActorRef::control`].
    pub(crate) fn recv_blocking(&self) -> Option<Item<M>> {
        let Mailbox::Cb { ctrl, data } = self else {
            unreachable!("threads executor uses crossbeam channels");
        };
        loop {
            if let Ok(c) = ctrl.try_recv() {
                return Some(Item::Control(c));
            }
            match data.recv() {
                Ok(Slot::Data(m)) => return Some(Item::Data(m)),
                Ok(Slot::Wake) => continue,
                Err(_) => return ctrl.try_recv().ok().map(Item::Control),
            }
        }
    }

    /// Waits for the next item, control first (tokio executor).
    pub(crate) async fn recv_async(&mut self) -> Option<Item<M>> {
        let Mailbox::Tokio { ctrl, data } = self else {
            unreachable!("tokio executor uses tokio channels");
        };
        tokio::select! {
            // Control words are served before data that is already waiting.
            biased;
            Some(c) = ctrl.recv() => Some(Item::Control(c)),
            m = data.recv() => m.map(Item::Data),
        }
    }
}

/// The supervisor's inbox: actors report failures and completion on it. Unbounded, so
/// reporting never blocks an actor; the supervisor holds the only receiver.
pub(crate) fn supervisor_channel<E>() -> (cb::Sender<E>, cb::Receiver<E>) {
    cb::unbounded()
}

/// A pinned worker's inbound queue: unbounded, many senders (the other workers), one
/// receiver, FIFO in the order sends complete.
pub(crate) fn worker_queue<T>() -> (WorkerTx<T>, WorkerRx<T>) {
    cb::unbounded()
}

/// Sending end of a pinned worker's inbound queue.
pub(crate) type WorkerTx<T> = cb::Sender<T>;
/// Receiving end of a pinned worker's inbound queue.
pub(crate) type WorkerRx<T> = cb::Receiver<T>;

/// Re-exported receiver type for the supervisor.
pub(crate) type SupervisorRx<E> = cb::Receiver<E>;
/// Re-exported sender type for actors.
pub(crate) type SupervisorTx<E> = cb::Sender<E>;
/// A receive that timed out.
pub(crate) use cb::RecvTimeoutError;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_send_hands_the_message_back() {
        for flavor in [Flavor::Tokio, Flavor::Threads] {
            let (addr, mb) = mailbox::<String>(0, flavor, 1);
            addr.try_send("first".to_owned()).expect("room for one");
            match addr.try_send("second".to_owned()) {
                Err(SendError::Full(m)) => assert_eq!(m, "second"),
                other => panic!("{flavor:?}: expected Full, got {other:?}"),
            }
            assert_eq!(addr.depth(), 1);
            drop(mb);
            match addr.try_send("third".to_owned()) {
                Err(e @ SendError::Closed(_)) => assert_eq!(e.into_inner(), "third"),
                other => panic!("{flavor:?}: expected Closed, got {other:?}"),
            }
        }
    }

    #[test]
    fn control_is_served_before_waiting_data() {
        let (addr, mb) = mailbox::<u32>(0, Flavor::Threads, 8);
        addr.try_send(1).expect("room");
        assert!(addr.control(Control::Stop));
        addr.try_send(2).expect("room");
        assert!(matches!(
            mb.recv_blocking(),
            Some(Item::Control(Control::Stop))
        ));
        assert!(matches!(mb.recv_blocking(), Some(Item::Data(1))));
        // the wake-up slot the control word left is skipped
        assert!(matches!(mb.recv_blocking(), Some(Item::Data(2))));
        assert_eq!(addr.depth(), 0);
    }
}
