"""Serving: SavedModel export for TF Serving (one ExportKind per kind of export) and feature extraction."""
