"""Exports for tax auditors and bookkeeping: DSFinV-K, DATEV Kassenbuch online."""
