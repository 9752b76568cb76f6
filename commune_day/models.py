"""The commune transaction day: sessions, collection sheets, fees and commissions."""
