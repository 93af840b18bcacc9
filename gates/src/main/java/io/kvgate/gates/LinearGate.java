package io.kvgate.gates;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A logistic gate per KV head: score[h](x) = sigmoid(w_h·x + c_h). Tensors (kvgate's own names, no official
 * counterpart): {@code weight} [H, D] and {@code bias} [H].
 */
public final class LinearGate implements Gate {
    private final int layer, hidden, kvHeads;
    private final float[] weight, bias;
    private final DeviceParams device;

    /** {@code weight} row-major [kvHeads, hidden], {@code bias} [kvHeads]. */
    public LinearGate(int layer, int hidden, int kvHeads, float[] weight, float[] bias) {
        if (weight.length != hidden * kvHeads || bias.length != kvHeads)
            throw new IllegalArgumentException("linear gate: weight " + weight.length + " / bias " + bias.length + " values for H=" + kvHeads + ", D=" + hidden);
        this.layer = layer;
        this.hidden = hidden;
        this.kvHeads = kvHeads;
        this.weight = weight;
        this.bias = bias;
        this.device = new DeviceParams(m -> List.of(
                m.create(weight, new Shape(kvHeads, hidden)).transpose(),   // [D, H]
                m.create(bias, new Shape(kvHeads))));
    }

    public static LinearGate fromTensors(int layer, int hidden, int kvHeads, Map<String, GateTensor> t, String where) {
        return new LinearGate(layer, hidden, kvHeads,
                SinkGate.take(t, "weight", where, kvHeads, hidden),
                SinkGate.take(t, "bias", where, kvHeads));
    }

    public float[] weight() {
        return weight;
    }

    public float[] bias() {
        return bias;
    }

    @Override
    public GateType type() {
        return GateType.LINEAR;
    }

    @Override
    public int layer() {
        return layer;
    }

    @Override
    public int hiddenSize() {
        return hidden;
    }

    @Override
    public int kvHeads() {
        return kvHeads;
    }

    @Override
    public Map<String, GateTensor> tensors() {
        Map<String, GateTensor> m = new LinkedHashMap<>();
        m.put("weight", GateTensor.of(weight, kvHeads, hidden));
        m.put("bias", GateTensor.of(bias, kvHeads));
        return m;
    }

    @Override
    public List<NDArray> deviceParams(ai.djl.Device on) {
        return device.on(on);
    }

    /** w: W [D, H] and b [H] (one gate), or [n, D, H] and [n, 1, H] (stacked). */
    @Override
    public NDArray scoreBatch(NDArray xs, List<NDArray> w) {
        NDManager owner = xs.getManager();
        try (NDManager scope = owner.newSubManager()) {
            xs.tempAttach(scope);
            NDArray score = Activation.sigmoid(Gate.project(Gate.projectionInput(xs, w.get(0)), w.get(0)).add(w.get(1))).transpose(0, 2, 1); // [n,H,T]
            score.attach(owner);
            return score;
        }
    }

    @Override
    public int[] projectionParams() {
        return new int[] {0};
    }

    @Override
    public List<NDArray> stack(List<List<NDArray>> perGate, NDManager m) {
        NDArray weights = DeviceParams.stack(perGate, 0, m), biases = DeviceParams.stack(perGate, 1, m);
        return List.of(weights, biases.expandDims(1));
    }

    @Override
    public float[] scoreRows(float[] x, int rows) {
        if ((long) rows * hidden != x.length) throw new IllegalArgumentException("x has " + x.length + " values, expected " + rows + "×" + hidden);
        float[] out = new float[rows * kvHeads];
        for (int r = 0; r < rows; r++) {
            for (int h = 0; h < kvHeads; h++) {
                double z = bias[h] + SinkGate.dot(weight, h * hidden, x, r * hidden, hidden);
                out[r * kvHeads + h] = (float) (1.0 / (1.0 + Math.exp(-z)));
            }
        }
        return out;
    }

    @Override
    public void close() {
        device.close();
    }
}
