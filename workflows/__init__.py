"""Temporal workflows: they orchestrate and decide; they import only temporalio and pure code."""
