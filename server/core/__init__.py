"""The shared core every feature stands on: configuration, errors, logs, keys, audit, the server's
own words, background work and the typed Services of one process."""
