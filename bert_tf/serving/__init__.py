"""Serving: SavedModel export for TF Serving (a registry tasks add to) and feature extraction."""
