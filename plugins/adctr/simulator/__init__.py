"""The ad-media simulator: a local HTTP reporting API over a seeded world with known truth."""
