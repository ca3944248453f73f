"""One cache contract. `names`: the graph tensors' names, axes, dummy and empty tensors, in numpy only (the runtime
reads it). `objects`: conversions to and from transformers' `Cache` objects, and the probe of a model's cache."""
