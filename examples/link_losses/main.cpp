// Uses a cwd-bench loss from an outside libtorch program: CWD on a student/teacher logit pair.
#include "losses/registry.h"

#include <torch/torch.h>

#include <iostream>

int main() {
  torch::manual_seed(0);
  auto loss = cwd::losses::create("cwd", {{"tau", 4.0}, {"weight", 3.0}});
  auto student = torch::randn({2, 19, 16, 32}, torch::requires_grad());
  auto teacher = torch::randn({2, 19, 16, 32});
  auto value = loss->forward(student, teacher, torch::Tensor());
  value.backward();
  std::cout << loss->info().key << " " << value.item<double>() << " grad norm "
            << student.grad().norm().item<double>() << "\n";
  // Same interface for every method; IFVD needs labels.
  auto ifvd = cwd::losses::create("ifvd", {});
  auto labels = torch::randint(0, 19, {2, 128, 256}, torch::kLong);
  std::cout << "ifvd " << ifvd->forward(student, teacher, labels).item<double>() << "\n";
  return value.item<double>() > 0 ? 0 : 1;
}
