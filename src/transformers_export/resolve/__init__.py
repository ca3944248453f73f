"""Stage 1, resolve: a request -> one immutable plan. `plan`: the request's checks and the plan; `features`: which
feature a request means; `loading`: config and weights; `preprocessor`: the tokenizer or processor; `hub`: one
connection attempt, then the download cache; `precision`: dtype changes in place; `tf_checkpoint`: TensorFlow weights
without TensorFlow."""
