"""Runners: the programs flowray drives. `voila` serves the dashboards; `papermill` runs the nightly batch."""
