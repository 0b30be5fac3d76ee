"""Formats: one event to one frame of text (json, human, csv, cef, leef, ecs, loki)."""
