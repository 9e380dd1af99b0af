/**
 * The mask set-ups of Dery, Hannun, Grangier ("Transfer Learning for Structured Pruning under
 * Limited Task Data"): how the target task T and an auxiliary transfer task A share masks while
 * sharing the encoder weights θ.
 *
 * - none:        only T is trained, with its own z.
 * - single-mask: T and A share one set of z (and θ).
 * - multi-mask:  T and A each have their own z; θ is shared.
 * - delta:       z_T = z_base + δ_T and z_A = z_base + δ_A in log_alpha space, with an l2 penalty
 *                weight · (‖δ_T‖² + ‖δ_A‖²).
 * In every case the sparsity constraint (the Lagrangian) acts on T's expected size and the final
 * model is T's: the auxiliary masks are left unconstrained and only shape the shared weights.
 */
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import type { BertConfig } from '../models/config.ts';
import { DeltaMaskParameters, L0Module, type MaskType, MaskParameters } from './l0_module.ts';

export const METHODS = ['none', 'single-mask', 'multi-mask', 'delta'] as const;
export type TransferMethod = (typeof METHODS)[number];

export interface MaskSetup {
  target: L0Module;
  /** The auxiliary task's masks (the target's for single-mask); null for 'none'. */
  transfer: L0Module | null;
  /** log_alpha / δ leaves to train (learning rate reg_lr). */
  parameters: Tensor[];
  /** Extra regulariser (the δ penalty), or null. */
  penalty: (() => Tensor) | null;
  /** Clamps log_alpha after each step. */
  constrain: () => void;
  dispose: () => void;
}

/**
 * Builds the masks of a method over a dense config.
 * @throws Error for an unknown method
 */
export function setupMasks(method: TransferMethod, config: BertConfig, types: readonly MaskType[], seed: number, deltaL2: number): MaskSetup {
  switch (method) {
    case 'none':
    case 'single-mask': {
      const p = new MaskParameters(config, types, seed, 'l0');
      const target = new L0Module(config, p, types);
      return { target, transfer: method === 'none' ? null : target, parameters: p.parameters(), penalty: null, constrain: () => p.constrain(), dispose: () => p.dispose() };
    }
    case 'multi-mask': {
      const pt = new MaskParameters(config, types, seed, 'l0');
      const pa = new MaskParameters(config, types, seed + 1, 'l0_transfer');
      return {
        target: new L0Module(config, pt, types),
        transfer: new L0Module(config, pa, types),
        parameters: [...pt.parameters(), ...pa.parameters()],
        penalty: null,
        constrain: () => {
          pt.constrain();
          pa.constrain();
        },
        dispose: () => {
          pt.dispose();
          pa.dispose();
        },
      };
    }
    case 'delta': {
      const base = new MaskParameters(config, types, seed, 'l0_base');
      const dt = new DeltaMaskParameters(base, config, 'l0_target');
      const da = new DeltaMaskParameters(base, config, 'l0_transfer');
      return {
        target: new L0Module(config, dt, types),
        transfer: new L0Module(config, da, types),
        parameters: [...base.parameters(), ...dt.parameters(), ...da.parameters()],
        penalty: () => E.scale(E.add(dt.squaredNorm(), da.squaredNorm()), deltaL2),
        constrain: () => base.constrain(),
        dispose: () => {
          base.dispose();
          dt.dispose();
          da.dispose();
        },
      };
    }
    default:
      throw new Error(`unknown method ${String(method)} (choose ${METHODS.join(', ')})`);
  }
}
