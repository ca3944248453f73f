"""Stage: example inputs. `specs`: the input specs by name and the tensor makers (batch >= 2, padded masks, a past of
length >= 1); `sizes`: the sizes of the trace, the validation and the calibration; `fixed_sizes`: the sizes a config
implies (image side, log-mel frames, embedding widths)."""
