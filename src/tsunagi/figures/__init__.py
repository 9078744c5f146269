"""Figures: one definition per KPI, interval aggregates kept from contact events (issue 6)."""
