"""The coverage sweep, a developer tool: nothing in the product imports it. `sweep`: export and validate a tiny
model of every model type; `shrink`: tiny configs for any type (the tests' one source of them); `report`: outcomes
and COVERAGE.md; `support_table`: the generated table of docs/architectures.md."""
