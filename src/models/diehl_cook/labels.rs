//! Diehl & Cook's readout: each excitatory neuron is labelled with the class it responds to
//! most ([`Assignments`]), and an image is classified as the class whose neurons respond most
//! on average. Pure functions of spike counts; the coordinator feeds them.

/// Summed responses per class and neuron, and images per class.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Responses {
    classes: usize,
    neurons: usize,
    sums: Vec<u64>,
    images: Vec<u64>,
}

impl Responses {
    /// Empty tallies for `classes` classes and `neurons` neurons.
    pub fn new(classes: usize, neurons: usize) -> Self {
        Responses {
            classes,
            neurons,
            sums: vec![0; classes * neurons],
            images: vec![0; classes],
        }
    }

    /// Adds one image of class `label` with these spike counts.
    pub fn add(&mut self, label: usize, counts: &[u32]) {
        let row = &mut self.sums[label * self.neurons..(label + 1) * self.neurons];
        for (s, &c) in row.iter_mut().zip(counts) {
            *s += u64::from(c);
        }
        self.images[label] += 1;
    }

    /// Images added.
    pub fn len(&self) -> u64 {
        self.images.iter().sum()
    }

    /// Whether no image was added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each neuron's class: the one with the highest mean response (first on ties); `None`
    /// for a neuron that never fired.
    pub fn assign(&self) -> Assignments {
        let mut best = vec![(0.0f64, None); self.neurons];
        for c in 0..self.classes {
            if self.images[c] == 0 {
                continue;
            }
            let n = self.images[c] as f64;
            for (j, b) in best.iter_mut().enumerate() {
                let rate = self.sums[c * self.neurons + j] as f64 / n;
                if rate > b.0 {
                    *b = (rate, Some(c as u8));
                }
            }
        }
        Assignments {
            classes: self.classes,
            class: best.into_iter().map(|(_, c)| c).collect(),
        }
    }
}

/// The class of each neuron (`None`: unassigned).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Assignments {
    classes: usize,
    /// Per neuron.
    pub class: Vec<Option<u8>>,
}

impl Assignments {
    /// No neuron assigned.
    pub fn none(classes: usize, neurons: usize) -> Self {
        Assignments {
            classes,
            class: vec![None; neurons],
        }
    }

    /// Neurons per class, and unassigned ones last.
    pub fn per_class(&self) -> Vec<usize> {
        let mut n = vec![0; self.classes + 1];
        for c in &self.class {
            n[c.map_or(self.classes, usize::from)] += 1;
        }
        n
    }

    /// The class whose neurons fired most per neuron for these counts (first on ties;
    /// `None` when no assigned neuron fired).
    pub fn classify(&self, counts: &[u32]) -> Option<usize> {
        let mut sum = vec![0u64; self.classes];
        let mut n = vec![0u64; self.classes];
        for (c, &k) in self.class.iter().zip(counts) {
            if let Some(c) = c {
                sum[usize::from(*c)] += u64::from(k);
                n[usize::from(*c)] += 1;
            }
        }
        let mut best = None;
        let mut top = 0.0;
        for c in 0..self.classes {
            if n[c] > 0 {
                let mean = sum[c] as f64 / n[c] as f64;
                if mean > top {
                    (top, best) = (mean, Some(c));
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neurons_take_the_class_they_answer_most_and_images_the_loudest_class() {
        let mut r = Responses::new(3, 4);
        r.add(0, &[5, 0, 1, 0]);
        r.add(0, &[3, 0, 1, 0]);
        r.add(1, &[0, 6, 0, 0]);
        r.add(2, &[1, 0, 2, 0]);
        let a = r.assign();
        assert_eq!(a.class, vec![Some(0), Some(1), Some(2), None]);
        assert_eq!(a.per_class(), vec![1, 1, 1, 1]);
        assert_eq!(a.classify(&[0, 1, 3, 9]), Some(2));
        assert_eq!(
            a.classify(&[2, 2, 0, 0]),
            Some(0),
            "ties go to the first class"
        );
        assert_eq!(a.classify(&[0, 0, 0, 7]), None);
    }
}
