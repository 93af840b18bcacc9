package io.kvgate.models;

import ai.djl.ndarray.NDArray;

import java.util.List;

/**
 * A KV gate that the fused decoder layer computes together with the layer's projections ({@code decoder_in_gated} of
 * tools/make_fused_attention.py), so that scoring a prefill chunk costs no libtorch call of its own: on a GPU the gate's
 * ~6 ops per layer and chunk were most of the gated prefill's overhead. The parameters are the gate's device arrays in
 * the order the module reads them (gates/LinearGate, gates/SinkGate).
 *
 * @param kind   which formula
 * @param params on the model's device: linear {W [D, H], b [H]}; sink {W_q [D, H·G·d′], b_q, W_k [D, H·d′], q_norm,
 *               k_norm, K_s [H, d′, S], b [H, G], 1/√d′, ε}
 */
public record FusedGate(Kind kind, List<NDArray> params) {
    public enum Kind {
        LINEAR(1), SINK(2);

        final int id;

        Kind(int id) {
            this.id = id;
        }
    }
}
