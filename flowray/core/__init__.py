"""The pure model: scenario validation, samplers, simulation, results, backtests, ML.

No I/O, no ray, no duckdb, no widgets: everything here runs and is tested without Ray.
"""
