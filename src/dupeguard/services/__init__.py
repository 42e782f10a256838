"""Use cases, one module each; every function takes the session keyword-only."""
