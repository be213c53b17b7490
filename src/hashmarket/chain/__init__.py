"""The Bitcoin chain: consensus rules, the daily network history and its sources."""
