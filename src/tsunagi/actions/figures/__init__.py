"""Figures actions: the projector that folds contact events into aggregates, the rebuild
that checks it, and the report queries (issue 6)."""
