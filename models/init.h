#pragma once
// Weight initialisation shared by the ResNet and PSPNet modules (internal to models/). The
// schemes themselves are documented at models::Init (resnet.h).

#include <torch/torch.h>

namespace cwd::models::detail {

/// Kaiming-normal (fan_out, ReLU) on every conv below `module` (zero bias), BN weight 1, bias 0.
void kaiming_init(torch::nn::Module& module);

}  // namespace cwd::models::detail
