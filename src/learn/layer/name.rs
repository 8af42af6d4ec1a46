//! [`LayerName`]: the one home of a layer actor's name, `layer-L` for an unsharded layer and
//! `layer-L.S` for shard `S` of a sharded one, and of the key its state has in a checkpoint
//! (always `layer-L.S`).

use std::fmt;

/// The name of a layer actor (layers are 1-based, shards 0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LayerName {
    /// The layer, `1..=L`.
    pub layer: usize,
    /// The shard, shown only for a sharded layer.
    pub shard: Option<usize>,
}

impl LayerName {
    /// Shard `shard` of layer `layer`, which is cut into `shards` (the shard is named only
    /// when there are several).
    pub fn new(layer: usize, shard: usize, shards: usize) -> Self {
        Self {
            layer,
            shard: (shards > 1).then_some(shard),
        }
    }

    /// Reads `layer-L` or `layer-L.S`; `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        let rest = name.strip_prefix("layer-")?;
        let (layer, shard) = match rest.split_once('.') {
            Some((l, s)) => (l, Some(s.parse().ok()?)),
            None => (rest, None),
        };
        Some(Self {
            layer: layer.parse().ok()?,
            shard,
        })
    }

    /// The key of shard `shard` of layer `layer` in a checkpoint: `layer-L.S`, with the shard
    /// even when the layer is not sharded (so a checkpoint names every state the same way).
    pub fn state_key(layer: usize, shard: usize) -> String {
        Self {
            layer,
            shard: Some(shard),
        }
        .to_string()
    }
}

impl fmt::Display for LayerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.shard {
            Some(s) => write!(f, "layer-{}.{s}", self.layer),
            None => write!(f, "layer-{}", self.layer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LayerName;

    #[test]
    fn names_round_trip_and_shards_show_only_when_sharded() {
        assert_eq!(LayerName::new(2, 0, 1).to_string(), "layer-2");
        assert_eq!(LayerName::new(2, 1, 4).to_string(), "layer-2.1");
        assert_eq!(LayerName::state_key(3, 0), "layer-3.0");
        for name in ["layer-1", "layer-12.3"] {
            assert_eq!(LayerName::parse(name).unwrap().to_string(), name);
        }
        for bad in ["layer-", "layer-x", "layer-1.", "input", "layer-1.a"] {
            assert_eq!(LayerName::parse(bad), None, "{bad}");
        }
    }
}
