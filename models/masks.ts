/**
 * The structure masks a forward pass can take: CoFi's five z variables (Xia, Zhong, Chen 2022,
 * §3), sampled by pruning/ during training or fixed for evaluation. Every entry is optional; a
 * missing mask means "keep everything" at that granularity.
 *
 * Where each enters the forward pass (as CoFi's modeling_bert.py):
 * - headZ[l] [heads]:         multiplies each head's context before the heads merge;
 * - headLayerZ[l] [1]:        multiplies the attention output projection (whole MHA);
 * - intermediateZ[l] [I]:     multiplies the FFN activations after GELU;
 * - mlpZ[l] [1]:              multiplies the FFN output (whole FFN);
 * - hiddenZ [H]:              multiplies the embeddings (before and after their layer norm) and every
 *                             sub-layer output (before the residual add and after the layer norm);
 *                             layer norms run over the dimensions where hiddenZ ≠ 0.
 * A sub-layer whose output is exactly zero (z = 0) adds nothing and skips its layer norm, so a
 * pruned sub-layer is the identity, as after compaction.
 */
import type { Tensor } from '../engine/index.ts';

/**
 * Computes an encoder Linear in place of the model's own weights, for pruning methods that act on
 * the weights themselves (rank pruning's gated factors, element-wise masks): y [..., out] for
 * x [..., in], or null to use the model's weights. `name` is the Linear's transformers name
 * (models/bert.ts layerNames, e.g. `bert.encoder.layer.0.attention.self.query`).
 */
export type LinearOverride = (name: string, x: Tensor) => Tensor | null;

export interface StructureMasks {
  hiddenZ?: Tensor;
  headZ?: ReadonlyArray<Tensor | null>;
  headLayerZ?: ReadonlyArray<Tensor | null>;
  intermediateZ?: ReadonlyArray<Tensor | null>;
  mlpZ?: ReadonlyArray<Tensor | null>;
  /** Rank and element-wise pruning: the encoder's Linears computed by the pruning method (FFNs then run unfused). */
  linear?: LinearOverride;
}
