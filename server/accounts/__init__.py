"""People: accounts, sign-in and tokens, their preferences, and their data rights."""
