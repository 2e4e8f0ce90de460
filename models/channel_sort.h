// Channel importance sorting for WeightSlice: reorders the SuperNet's channels, without changing
// the function the largest sub-net computes, so that every width prefix keeps the most important
// channels (as in Once-for-All's progressive shrinking, Cai et al., ICLR 2020).
//
// Two kinds of channel sets are permuted:
//  - the residual stream of stage s: the outputs of the stem (s = 0), of every conv2 and of the
//  shortcut of the
//    stage, and the inputs of every layer that reads the stream (conv1s, the next stage's shortcut,
//    fc);
//  - the hidden channels of each block: conv1's outputs and conv2's inputs.
// Importance of a channel = sum over the layers producing it of |gamma_c| * ||W_c||_1 (its post-BN
// magnitude).
#ifndef TERNSERVE_MODELS_CHANNEL_SORT_H_
#define TERNSERVE_MODELS_CHANNEL_SORT_H_

#include "models/supernet.h"

namespace ternserve {

// Sorts every channel set by decreasing importance. Optimizer state for the permuted parameters
// becomes stale: callers rebuild their optimizers afterwards.
void SortChannelsByImportance(Supernet& net);

}  // namespace ternserve

#endif  // TERNSERVE_MODELS_CHANNEL_SORT_H_
