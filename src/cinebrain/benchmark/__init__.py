"""Cine-Benchmark: video reconstruction metrics with their conventions, chance levels and confidence
intervals (:mod:`.pixel` for pixel and motion metrics, :mod:`.semantic` for N-way top-K, temporal
consistency and FVD)."""
