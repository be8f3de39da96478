"""Experiment infrastructure shared by the scripts in experiments/: the run manifest, the
script harness, `reproduce`, the sweep runner, the shared training stages, tables and plots."""
