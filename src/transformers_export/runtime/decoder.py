"""One exported decoder graph with a KV cache, run one step at a time.

The same graph serves the first step (an empty past of length 0, zero recurrent states) and every later step; the
caller only keeps the `present.*` outputs and feeds them back as `past_key_values.*`. A graph with recurrent state
takes one token per call: `step` then runs it once per token of a prompt.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..cache import names as cache
from .inputs import as_numpy, check_step
from .session import open_session, run_session

presents_as_past = cache.presents_as_past


def position_ids_from_mask(attention_mask: np.ndarray, length: int) -> np.ndarray:
    """Positions that skip left padding, as `generate()` computes them (padded slots get 1), for the last `length`."""
    positions = attention_mask.astype(np.int64).cumsum(-1) - 1
    positions[attention_mask == 0] = 1
    return positions[:, -length:]


class OnnxDecoder:
    def __init__(self, path: str | Path, provider=None, session_options=None, threads: int | None = None, session=None):
        """Open `path` (a decoder graph file), or wrap an already open `session` of it."""
        self.session = session or open_session(path, provider, session_options, threads)
        inputs = {graph_input.name: graph_input for graph_input in self.session.get_inputs()}
        self.input_names = list(inputs)
        self.output_names = [graph_output.name for graph_output in self.session.get_outputs()]
        self.past_names = [name for name in self.input_names if cache.is_past(name)]
        if not self.past_names:
            raise ValueError(f"{path} has no past_key_values.* inputs; export a '-with-past' feature")
        # (kv_heads, head_dim) are fixed dims of each past input: (batch, kv_heads, past_sequence, head_dim); a
        # recurrent state's dims after the batch are all fixed
        self.past_dims = {
            name: tuple(inputs[name].shape[1:] if cache.is_state(name) else (inputs[name].shape[i] for i in (1, 3)))
            for name in self.past_names
        }
        self.past_dtype = np.float16 if "float16" in inputs[self.past_names[0]].type else np.float32
        self.uses_position_ids = "position_ids" in inputs
        self.main_output = "logits" if "logits" in self.output_names else self.output_names[0]
        # a graph with recurrent state takes one token per call (its tokens axis is a fixed 1)
        self.one_token_steps = inputs["input_ids"].shape[1] == 1 if "input_ids" in inputs else False

    def empty_past(self, batch: int) -> dict[str, np.ndarray]:
        return cache.empty_past(self.past_dims, batch, self.past_dtype)

    def past_as_layers(self, past: dict[str, np.ndarray]) -> tuple[tuple[np.ndarray, ...], ...]:
        """The past as `forward(use_cache=True)` returns it: a tuple per layer of its tensors, in the graph's order."""
        layers: dict[int, list] = {}
        for name in self.past_names:
            layers.setdefault(cache.parse_name(name).layer, []).append(past[name])
        return tuple(tuple(tensors) for _, tensors in sorted(layers.items()))

    def past_from_layers(self, layers) -> dict[str, np.ndarray]:
        """`past_as_layers` read back (torch tensors or arrays), checked against the graph's cache inputs."""
        flat = [tensor for layer in layers for tensor in layer]
        if len(flat) != len(self.past_names):
            raise ValueError(
                f"past_key_values holds {len(flat)} tensors; this graph takes {len(self.past_names)} "
                "(pass back the past_key_values a forward of this model returned)"
            )
        ordered = sorted(self.past_names, key=lambda name: cache.parse_name(name).layer)
        return {name: as_numpy(name, tensor).astype(self.past_dtype) for name, tensor in zip(ordered, flat)}

    def past_length(self, past: dict[str, np.ndarray]) -> int:
        """Tokens the past holds (0 for a recurrent state, which has no length)."""
        keys = [name for name in self.past_names if not cache.is_state(name)]
        return past[keys[0]].shape[2] if keys else 0

    def feed(self, input_ids: np.ndarray, attention_mask: np.ndarray, past: dict[str, np.ndarray]) -> dict:
        """The graph's inputs for one step; `attention_mask` covers past and new tokens."""
        check_step(input_ids, attention_mask, past, self.past_dims)
        feed = {"input_ids": input_ids.astype(np.int64), "attention_mask": attention_mask.astype(np.int64), **past}
        if self.uses_position_ids:
            feed["position_ids"] = position_ids_from_mask(attention_mask, input_ids.shape[1])
        return {name: value for name, value in feed.items() if name in self.input_names}

    def run(self, feed: dict) -> dict[str, np.ndarray]:
        return run_session(self.session, self.output_names, feed)

    next_past = staticmethod(presents_as_past)

    def step(self, input_ids, attention_mask, past):
        """Run one step; return (main output, past for the next step). A one-token graph runs once per new token,
        and returns the main output of each."""
        if not self.one_token_steps or np.asarray(input_ids).shape[1] == 1:
            outputs = self.run(self.feed(input_ids, attention_mask, past))
            return outputs[self.main_output], self.next_past(outputs)
        check_step(input_ids, attention_mask, past, self.past_dims)
        new, each = input_ids.shape[1], []
        for token in range(new):
            seen = attention_mask.shape[1] - new + token + 1
            output, past = self.step(input_ids[:, token : token + 1], attention_mask[:, :seen], past)
            each.append(output)
        return np.concatenate(each, axis=1), past
