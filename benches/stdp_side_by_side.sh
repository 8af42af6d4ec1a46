#!/bin/sh
# Diehl & Cook's network, per training image: axon (scenarios/stdp-mnist.toml, one worker) and
# the Brian2 C++ standalone peer (benches/brian2_stdp_mnist.py, one thread), in turn on the same
# core, on the same images (the first IMAGES training images, default 1000), for n_exc 400 and
# 100. Run from the repository root after `cargo build --release`; PYTHON is a python with
# brian2 (python3 -m venv /tmp/b2 && /tmp/b2/bin/pip install brian2 "numpy<2.3"). The peer has
# no input delays, so axon runs without them too (stdp_mnist.input_delay_ms = [0, 0]).
#   PYTHON=/tmp/b2/bin/python sh benches/stdp_side_by_side.sh
set -e
PYTHON=${PYTHON:-python3}
IMAGES=${IMAGES:-1000}
CORE=${CORE:-1}
OUT=$(mktemp -d)
lscpu | grep "Model name" || true
for n in 400 100; do
  for rep in 1 2; do
    rm -rf "$OUT/axon"
    taskset -c "$CORE" target/release/axon run scenarios/stdp-mnist.toml --set runtime.workers=1 \
      --set stdp_mnist.n_exc=$n --set stdp_mnist.train_images=$IMAGES \
      --set stdp_mnist.label_images=100 --set stdp_mnist.test_images=100 \
      --set stdp_mnist.input_delay_ms='[0, 0]' \
      --set checkpoint.every_batches=0 --out "$OUT/axon" > /dev/null 2>&1
    python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['stdp']; print('axon n_exc=$n rep $rep: %.3f ms/image over %d images, %d presentations' % (r['train_wall_s_per_image']*1e3, r['train']['images'], r['train']['presentations']))" "$OUT/axon/results.json"
  done
  taskset -c "$CORE" "$PYTHON" benches/brian2_stdp_mnist.py --n-exc $n --train $IMAGES --label 0 --test 0
done
rm -rf "$OUT"
