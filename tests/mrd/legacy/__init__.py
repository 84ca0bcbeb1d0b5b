"""Frozen copies of the MRD status and class code before disease presets (issue 24).

Used only by tests/mrd/test_presets_myeloma_unchanged.py to show the myeloma default is unchanged.
"""
