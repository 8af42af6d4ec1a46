//! [`Coupling`]: how a spike acts on its targets when the synapses carry no weights of
//! their own (excitatory sources add one weight to `ge`, inhibitory ones another to `gi`).

/// How spikes act on their targets: presynaptic neurons below `excitatory` add `we_mv` to
/// `ge`, the others `wi_mv` to `gi`. Synapse tables with weights ignore it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Coupling {
    pub(crate) excitatory: u32,
    pub(crate) we_mv: f32,
    pub(crate) wi_mv: f32,
}

impl Coupling {
    /// No shared weights: every synapse carries its own (a weighted [`SynapseTable`]).
    ///
    /// [`SynapseTable`]: crate::spike::population::SynapseTable
    pub(crate) const NONE: Coupling = Coupling {
        excitatory: 0,
        we_mv: 0.0,
        wi_mv: 0.0,
    };
}
