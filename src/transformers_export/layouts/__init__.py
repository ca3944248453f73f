"""Stage: layouts, how one export splits into graphs. `generation`: encoder + decoder graphs for encoder-decoder
generation; `vision_language`: vision + embedding + decoder graphs; `graph`: the module and config every graph of a
multi-graph layout is built from."""
