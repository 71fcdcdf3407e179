"""Deterministic, seeded data generators (installed as framework.datagen)."""
