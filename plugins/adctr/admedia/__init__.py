"""Ad-media source adapters: one medium's report for one date -> Arrow rows of the raw schema."""
