"""Datasets and synthetic scenes."""
