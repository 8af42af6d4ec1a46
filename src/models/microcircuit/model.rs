//! The Potjans & Diesmann (2014) cortical microcircuit's published parameters (as NEST's
//! PyNEST example `Potjans_2014` sets them) and what a `scale` derives from them
//! ([`Model`]): population sizes, synapse counts per projection, mean weights and delays,
//! external in-degrees and the DC compensation of a down-scaled network.

use crate::spike::lif::{LifParams, Reset};

/// The neurons of the Potjans & Diesmann (2014) cortical microcircuit, NEST's
/// `iaf_psc_exp` as the PyNEST example `Potjans_2014` sets it: current-based, exponential
/// post-synaptic currents (tau_syn 0.5 ms, excitatory and inhibitory), tau_m 10 ms,
/// E_L -65 mV, V_th -50 mV, V_reset -65 mV, t_ref 2 ms, dt 0.1 ms; C_m is
/// [`C_M_PF`]. Currents enter as `ge`/`gi` in mV: `I * tau_m / C_m`
/// ([`LifParams::current_to_mv`]), since `C_m dV/dt = -C_m (V - E_L) / tau_m + I` is
/// `tau_m dV/dt = -(V - E_L) + I tau_m / C_m`.
pub const LIF: LifParams = LifParams {
    tau_m_ms: 10.0,
    tau_e_ms: 0.5,
    tau_i_ms: 0.5,
    v_rest_mv: -65.0,
    v_threshold_mv: -50.0,
    v_reset_mv: -65.0,
    refractory_ms: 2.0,
    dt_ms: 0.1,
    reset: Reset::ToValue,
};

/// Membrane capacitance of the neurons ([`LIF`]), pF.
pub const C_M_PF: f64 = 250.0;

/// The eight populations, in the model's order.
pub const POPULATIONS: [&str; 8] = ["L2/3E", "L2/3I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I"];

/// Neurons per population at full scale (77,169 in all).
pub const FULL_NEURONS: [f64; 8] = [
    20683.0, 5834.0, 21915.0, 5479.0, 4850.0, 1065.0, 14395.0, 2948.0,
];

/// Connection probabilities, `[post][pre]` (Potjans & Diesmann 2014, table 5).
pub const CONN_PROBS: [[f64; 8]; 8] = [
    [0.1009, 0.1689, 0.0437, 0.0818, 0.0323, 0.0, 0.0076, 0.0],
    [0.1346, 0.1371, 0.0316, 0.0515, 0.0755, 0.0, 0.0042, 0.0],
    [0.0077, 0.0059, 0.0497, 0.135, 0.0067, 0.0003, 0.0453, 0.0],
    [0.0691, 0.0029, 0.0794, 0.1597, 0.0033, 0.0, 0.1057, 0.0],
    [0.1004, 0.0622, 0.0505, 0.0057, 0.0831, 0.3726, 0.0204, 0.0],
    [0.0548, 0.0269, 0.0257, 0.0022, 0.06, 0.3158, 0.0086, 0.0],
    [
        0.0156, 0.0066, 0.0211, 0.0166, 0.0572, 0.0197, 0.0396, 0.2252,
    ],
    [0.0364, 0.001, 0.0034, 0.0005, 0.0277, 0.008, 0.0658, 0.1443],
];

/// External (cortico-cortical) in-degrees at full scale.
pub const K_EXT: [f64; 8] = [
    1600.0, 1500.0, 2100.0, 1900.0, 2000.0, 1900.0, 2900.0, 2100.0,
];

/// Firing rates of the full-scale model (Hz), NEST's `network_params.py` (2022): the
/// reference the rates are checked against, and what the DC compensation of a down-scaled
/// network assumes.
pub const REFERENCE_RATES_HZ: [f64; 8] = [0.903, 2.965, 4.414, 5.876, 7.569, 8.633, 1.105, 7.829];

/// Initial membrane potentials, mean and sd per population (mV): the example's "optimized".
pub const V0_MEAN_MV: [f64; 8] = [
    -68.28, -63.16, -63.33, -63.45, -63.11, -61.66, -66.72, -61.43,
];
/// See [`V0_MEAN_MV`].
pub const V0_SD_MV: [f64; 8] = [5.36, 4.57, 4.74, 4.94, 4.94, 4.55, 5.46, 4.48];

/// Mean excitatory PSP (mV); inhibitory is `G` times it; L4E -> L2/3E is doubled.
pub const PSP_EXC_MV: f64 = 0.15;
/// Relative inhibitory strength.
pub const G: f64 = -4.0;
/// Relative sd of the weights.
pub const WEIGHT_REL_SD: f64 = 0.1;
/// Relative sd of the delays.
pub const DELAY_REL_SD: f64 = 0.5;
/// Rate of each external input (Hz).
pub const BG_RATE_HZ: f64 = 8.0;

/// Whether population `p` is excitatory.
pub fn is_excitatory(p: usize) -> bool {
    p.is_multiple_of(2)
}

/// The microcircuit at a scale: every number the network is built from.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// Neurons per population.
    pub neurons: [usize; 8],
    /// Synapses per projection `[post][pre]` (fixed total number, multapses and autapses
    /// allowed, as NEST's `fixed_total_number`).
    pub synapses: [[u64; 8]; 8],
    /// Mean weight per projection `[post][pre]`, as the jump of the synaptic current in mV.
    pub weight_mv: [[f64; 8]; 8],
    /// Mean delay of synapses from an excitatory / inhibitory population (ms).
    pub delay_ms: [f64; 2],
    /// External in-degree per population.
    pub k_ext: [u64; 8],
    /// Weight of an external spike (mV).
    pub weight_ext_mv: f64,
    /// Constant input per population (mV, `I R`): the DC equivalent of the external drive
    /// when it is DC, plus the compensation of a down-scaled network.
    pub dc_mv: [f64; 8],
}

impl Model {
    /// The model at `scale` (neurons and in-degrees both scaled, as `N_scaling = K_scaling`
    /// in the PyNEST example), with Poisson (`poisson`) or DC external drive, and mean delays
    /// `delay_ms` (excitatory, inhibitory; the model's are 1.5 and 0.75).
    pub fn new(scale: f64, poisson: bool, delay_ms: [f64; 2]) -> Self {
        let lif = LIF;
        let psc_per_psp = lif.psc_for_psp(C_M_PF, 1.0);
        let to_mv = |pa: f64| lif.current_to_mv(C_M_PF, pa);
        let tau_syn = lif.tau_e_ms;
        let full = full_synapses();
        let mut m = Model {
            neurons: FULL_NEURONS.map(|n| (n * scale).round_ties_even() as usize),
            synapses: full.map(|row| row.map(|s| (s * scale * scale).round_ties_even() as u64)),
            weight_mv: [[0.0; 8]; 8],
            delay_ms,
            k_ext: K_EXT.map(|k| (k * scale).round_ties_even() as u64),
            weight_ext_mv: 0.0,
            dc_mv: [0.0; 8],
        };
        let psc_ext = PSP_EXC_MV * psc_per_psp;
        let sqrt = scale.sqrt();
        for a in 0..8 {
            let mut dc_pa = if poisson {
                0.0
            } else {
                BG_RATE_HZ * K_EXT[a] * psc_ext * tau_syn * 0.001
            };
            // The mean input a down-scaled network loses, as DC (the example's compensation).
            let mut input_rec = 0.0;
            for b in 0..8 {
                let psc = psp_mv(a, b) * psc_per_psp;
                input_rec += psc * full[a][b] / FULL_NEURONS[a] * REFERENCE_RATES_HZ[b];
                m.weight_mv[a][b] = to_mv(psc / sqrt);
            }
            dc_pa += 0.001 * tau_syn * (1.0 - sqrt) * input_rec;
            if poisson {
                dc_pa += 0.001 * tau_syn * (1.0 - sqrt) * psc_ext * K_EXT[a] * BG_RATE_HZ;
            }
            m.dc_mv[a] = to_mv(dc_pa);
        }
        m.weight_ext_mv = to_mv(psc_ext / sqrt);
        m
    }

    /// Neurons in all.
    pub fn total_neurons(&self) -> usize {
        self.neurons.iter().sum()
    }

    /// Synapses in all.
    pub fn total_synapses(&self) -> u64 {
        self.synapses.iter().flatten().sum()
    }

    /// The first neuron of each population, and the total at the end.
    pub fn starts(&self) -> [usize; 9] {
        let mut s = [0; 9];
        for p in 0..8 {
            s[p + 1] = s[p] + self.neurons[p];
        }
        s
    }

    /// Bytes the network may hold: 10 per synapse (the widest table: a four-byte target,
    /// a two-byte delay and a weight; a shard of up to 65,536 neurons takes 7), the delay ring
    /// (`max_delay_ticks` slots of one f32 per neuron) and about 100 per neuron besides.
    pub fn estimated_bytes(&self, max_delay_ticks: u64) -> u64 {
        let n = self.total_neurons() as u64;
        self.total_synapses() * 10 + n * (4 * max_delay_ticks + 100)
    }
}

/// Mean PSP of `pre -> post` (mV).
fn psp_mv(post: usize, pre: usize) -> f64 {
    let base = if is_excitatory(pre) {
        PSP_EXC_MV
    } else {
        PSP_EXC_MV * G
    };
    if (post, pre) == (0, 2) {
        2.0 * base
    } else {
        base
    }
}

/// Synapses per projection at full scale (not rounded): the number of draws with
/// replacement that connects a pair with the table's probability,
/// `ln(1 - C) / ln(1 - 1 / (N_post N_pre))`.
fn full_synapses() -> [[f64; 8]; 8] {
    let mut s = [[0.0; 8]; 8];
    for (a, row) in s.iter_mut().enumerate() {
        for (b, x) in row.iter_mut().enumerate() {
            let prod = FULL_NEURONS[a] * FULL_NEURONS[b];
            *x = (1.0 - CONN_PROBS[a][b]).ln() / ((prod - 1.0) / prod).ln();
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_scale_has_the_published_size() {
        let m = Model::new(1.0, true, [1.5, 0.75]);
        assert_eq!(m.total_neurons(), 77_169);
        // 298,880,968 synapses (numpy on the same formula).
        assert_eq!(m.total_synapses(), 298_880_968);
        assert_eq!(m.dc_mv, [0.0; 8], "no compensation at full scale");
        // 0.15 mV -> 87.81 pA -> 3.51 mV of current jump; L4E -> L2/3E doubled; g = -4.
        assert!((m.weight_ext_mv - 87.81 * 10.0 / 250.0).abs() < 1e-3);
        assert!((m.weight_mv[0][2] - 2.0 * m.weight_ext_mv).abs() < 1e-9);
        assert!((m.weight_mv[3][1] + 4.0 * m.weight_ext_mv).abs() < 1e-9);
    }

    #[test]
    fn a_tenth_scales_neurons_and_in_degrees_and_compensates() {
        let m = Model::new(0.1, true, [1.5, 0.75]);
        assert_eq!(m.total_neurons(), 7_717);
        assert_eq!(m.total_synapses(), 2_988_807);
        assert_eq!(m.k_ext, [160, 150, 210, 190, 200, 190, 290, 210]);
        let full = Model::new(1.0, true, [1.5, 0.75]);
        assert!((m.weight_ext_mv * 0.1f64.sqrt() - full.weight_ext_mv).abs() < 1e-9);
        assert!(m.dc_mv.iter().all(|&d| d > 0.0), "{:?}", m.dc_mv);
        // DC drive: the external input's mean, about 8 Hz x K x w x tau_syn.
        let dc = Model::new(1.0, false, [1.5, 0.75]);
        let want = 8.0 * 1600.0 * 87.81 * 0.5e-3 * 10.0 / 250.0;
        assert!((dc.dc_mv[0] - want).abs() < 0.01 * want, "{}", dc.dc_mv[0]);
    }
}
