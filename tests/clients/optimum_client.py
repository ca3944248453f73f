"""Runs in Optimum's environment (transformers < 4.58, optimum-onnx): loads our export folders with Optimum's ORTModel
classes as a user would, and writes what they compute as JSON.

    python optimum_client.py requests.json answers.json

Each request: {"class": "ORTModelForCausalLM", "folder": ..., "input_ids": [[...]], "new_tokens": 0 or N}; a speech
encoder-decoder's has "input_features" instead of "input_ids".
An answer: {"output": first output as nested lists} for a forward pass, {"tokens": [...]} for greedy generation,
or {"error": "Type: message"}.
"""

import json
import sys

import torch
from optimum import onnxruntime as ort_models


def answer(request: dict) -> dict:
    try:
        model = getattr(ort_models, request["class"]).from_pretrained(request["folder"])
        if "input_features" in request:  # a speech encoder-decoder
            features = torch.tensor(request["input_features"])
            return {"tokens": model.generate(input_features=features, max_new_tokens=request["new_tokens"])[0].tolist()}
        input_ids = torch.tensor(request["input_ids"])
        attention_mask = torch.ones_like(input_ids)
        if request.get("new_tokens"):
            tokens = model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                max_new_tokens=request["new_tokens"],
                do_sample=False,
            )
            return {"tokens": tokens[0].tolist()}
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in getattr(model, "input_names", {}):
            inputs["token_type_ids"] = torch.zeros_like(input_ids)
        return {"output": model(**inputs)[0].tolist()}
    except Exception as error:  # reported to the test, which names it
        return {"error": f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"}


if __name__ == "__main__":
    with open(sys.argv[1]) as requests:
        answers = [answer(request) for request in json.load(requests)]
    with open(sys.argv[2], "w") as written:
        json.dump(answers, written)
