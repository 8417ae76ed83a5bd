# Sourced from the repository root by the device scripts: the checkout on
# PYTHONPATH, unbuffered output, and ml_collections, which the device image
# lacks, from its wheel in gpu_data/wheels (the image has absl-py and pyyaml,
# its needs). Carry gpu_data/wheels.
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
python3 -c "import ml_collections" 2>/dev/null || {
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site \
    gpu_data/wheels/ml_collections-*.whl && export PYTHONPATH=$PYTHONPATH:/tmp/site; }
# Every process of a call (one per table and seed) compiles the same
# programs: JAX's persistent cache lets later ones load them instead (see
# the README and experiments/compile_cache_check.sh).
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-/tmp/jax_compilation_cache}
