"""Shared goals: what a mentee and their mentor agree to work toward, the mentee's check-ins, and
the milestones that earn rewards. Private to the two; staff may look with an audited reason."""
