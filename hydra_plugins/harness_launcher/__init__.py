# Hydra loads launchers only from the hydra_plugins namespace: the harness's SLURM launcher lives
# here (launcher.py; conf/hydra/launcher/slurm.yaml points to it).
