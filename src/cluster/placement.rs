//! Which rank holds which population shard: contiguous blocks of shards with about equal
//! synapses (the work), every rank at least one shard.

use super::ClusterError;

/// The rank of each shard, for shards with `synapses[s]` synapses spread over `ranks`:
/// contiguous blocks cut where the running total passes each rank's share.
pub fn place_shards(synapses: &[u64], ranks: usize) -> Result<Vec<usize>, ClusterError> {
    let k = synapses.len();
    if ranks > k {
        return Err(ClusterError::Placement(format!(
            "{ranks} ranks but {k} population shard(s): every rank needs a shard; set \
             runtime.shards to at least {ranks}"
        )));
    }
    let total: f64 = synapses.iter().map(|&s| s as f64 + 1.0).sum();
    let mut out = Vec::with_capacity(k);
    let (mut acc, mut rank) = (0.0, 0);
    for (s, &n) in synapses.iter().enumerate() {
        // Move on once past this rank's share, or when every shard left (this one included)
        // is needed by the ranks after this one.
        let must_move = k - s < ranks - rank && out.last() == Some(&rank);
        if must_move || (rank + 1 < ranks && acc >= total * (rank + 1) as f64 / ranks as f64) {
            rank += 1;
        }
        out.push(rank);
        acc += n as f64 + 1.0;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_contiguous_balanced_and_never_empty() {
        assert_eq!(
            place_shards(&[10, 10, 10, 10], 2).unwrap(),
            vec![0, 0, 1, 1]
        );
        assert_eq!(place_shards(&[30, 1, 1, 1], 2).unwrap(), vec![0, 1, 1, 1]);
        assert_eq!(place_shards(&[1, 1, 1, 30], 3).unwrap(), vec![0, 0, 1, 2]);
        assert_eq!(place_shards(&[1, 1, 1, 30], 4).unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(place_shards(&[5, 5], 2).unwrap(), vec![0, 1]);
        assert_eq!(place_shards(&[5], 1).unwrap(), vec![0]);
        for ranks in 1..6 {
            let p = place_shards(&[3, 9, 1, 1, 7, 2, 2], ranks).unwrap();
            assert!(
                p.windows(2).all(|w| w[1] == w[0] || w[1] == w[0] + 1),
                "{p:?}"
            );
            assert_eq!((p[0], p[6]), (0, ranks - 1), "{p:?}");
        }
        assert!(place_shards(&[1, 1], 3).is_err());
    }
}
