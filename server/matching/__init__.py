"""Matching: who would be a good mentor for whom. Mentor profiles and mentee intakes (what the
ranking reads), the adapter (a local ranking with a fairness guard by default, an HTTP back end by
configuration), mentor cards and browsing, and an inbound signed webhook through which an external
matcher opens rooms for new pairs."""
