"""Voice features that are ours, independent of any telephony engine (pure)."""
