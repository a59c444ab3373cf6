"""Benchmark of snapstore against the reference (rsync + tar.gz), restic and borg.

`bench.dataset` makes a deterministic research-data tree, `bench.run` snapshots, changes,
restores and compresses it with every tool and writes a Markdown table of the figures.
Nothing here is imported by the product.
"""
