"""Stage: the output folder. Staging and the atomic commit (`staging`), the `export.json` contract (`manifest`),
reading an exported folder back for people (`inspection`), and signals as a clean interruption (`signals`)."""
