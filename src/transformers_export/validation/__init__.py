"""Stage: validation, every format and layout through one loop. `loop`: the two phases (PyTorch first, then the
export); `cases`: the inputs and reference decodes; `padding`: positions not compared; `report`: tolerances,
comparisons and the report; `model_outputs`: the seed's `validate_model_outputs` over the same loop."""
