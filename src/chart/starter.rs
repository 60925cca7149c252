//! `windlass create`: the scaffold of a new chart.
