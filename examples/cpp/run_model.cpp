// Load a transformers-export TorchScript file and run it on token ids given on the command line.
//
//   run_model MODEL.pt SEQUENCE_LENGTH ID ID ... [-- MASK MASK ... [-- TYPE TYPE ...]]
//
// Ids form a batch of rows of SEQUENCE_LENGTH each; the attention mask and token type ids, when given, have the same
// layout. The graph's inputs are positional in the order of export.json ("graphs" -> "model.pt" -> "inputs");
// only as many groups as given are passed. Prints each output's shape and values, one output per line.
#include <torch/script.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: run_model MODEL.pt SEQUENCE_LENGTH ID ... [-- MASK ... [-- TYPE ...]]\n";
    return 2;
  }
  const int64_t sequence = std::atoll(argv[2]);
  std::vector<std::vector<int64_t>> groups(1);
  for (int i = 3; i < argc; ++i) {
    if (std::string(argv[i]) == "--") {
      groups.emplace_back();
    } else {
      groups.back().push_back(std::atoll(argv[i]));
    }
  }
  std::vector<torch::jit::IValue> inputs;
  for (auto& group : groups) {
    const int64_t batch = static_cast<int64_t>(group.size()) / sequence;
    inputs.push_back(torch::from_blob(group.data(), {batch, sequence}, torch::kLong).clone());
  }

  torch::jit::script::Module model = torch::jit::load(argv[1]);
  model.eval();
  torch::NoGradGuard no_grad;
  auto result = model.forward(inputs);
  std::vector<torch::Tensor> outputs;
  if (result.isTuple()) {
    for (const auto& element : result.toTuple()->elements()) outputs.push_back(element.toTensor());
  } else {
    outputs.push_back(result.toTensor());
  }
  std::cout.precision(9);
  for (const auto& output : outputs) {
    auto flat = output.contiguous().to(torch::kFloat).flatten();
    for (int64_t d = 0; d < output.dim(); ++d) std::cout << (d ? "x" : "") << output.size(d);
    for (int64_t i = 0; i < flat.numel(); ++i) std::cout << ' ' << flat[i].item<float>();
    std::cout << '\n';
  }
  return 0;
}
