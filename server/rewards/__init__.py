"""The token adapter: reward events go to an outbox in the same transaction as the state change
that earned them, then to the configured back end (the local ledger, or an HTTP endpoint)."""
