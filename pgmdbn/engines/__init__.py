"""Engines: samplers and trainers that act on any model graph they support."""
