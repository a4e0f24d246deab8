"""Crisis support: risk-phrase detection, hotline directory and (elsewhere) escalation.

Kept import-free so `import crisis` stays cheap; import `crisis.detector` or `crisis.hotlines`.
"""
