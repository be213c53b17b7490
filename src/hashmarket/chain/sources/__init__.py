"""Where network data comes from: the bundled files, a user's CSV files, a Bitcoin Core node."""
