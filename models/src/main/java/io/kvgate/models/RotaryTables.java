package io.kvgate.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * RoPE cos/sin tables [positions, headDim] for one (theta, linear factor), computed once in float32 exactly as
 * transformers does (inv_freq = 1 / theta^(2i/d), divided by the linear factor; angle = position * inv_freq;
 * halves duplicated) and grown by doubling when a longer sequence arrives.
 *
 * <p>rotate_half(x) is a fixed signed permutation, so it is applied as one matmul with {@code rotateHalf}
 * (exact: each output is ±one input) instead of slicing, negating and concatenating.
 */
final class RotaryTables implements AutoCloseable {
    private final NDManager manager;
    private final int headDim;
    private final float[] invFreq;
    private final DataType dtype;
    private final NDArray rotateHalf;
    private NDArray cos, sin;
    private int size;
    private int windowStart = -1, windowLength;  // the rows window() last cut, shared by every layer of a chunk
    private NDArray windowCos, windowSin;

    /**
     * @param frequencyDtype the checkpoint's dtype: transformers' {@code inv_freq} buffer is cast to it when the
     *                       model is loaded in that dtype, so frequencies are rounded to it (bf16/f16) to match
     */
    RotaryTables(NDManager parent, int headDim, double theta, double linearFactor, SafetensorsFile.Dtype frequencyDtype,
                 DataType dtype, int initialSize) {
        this.manager = parent.newSubManager();
        this.headDim = headDim;
        this.dtype = dtype;
        int half = headDim / 2;
        invFreq = new float[half];
        for (int i = 0; i < half; i++) {
            float exponent = (float) (2 * i) / headDim;
            float base = (float) Math.pow(theta, exponent);
            invFreq[i] = BufferRounding.roundTo(frequencyDtype, (float) ((1.0f / base) / linearFactor));
        }
        float[] r = new float[headDim * headDim];
        for (int j = 0; j < half; j++) {
            r[(j + half) * headDim + j] = -1f;     // out[j]        = -x[j + half]
            r[j * headDim + (j + half)] = 1f;      // out[j + half] =  x[j]
        }
        rotateHalf = manager.create(r, new Shape(headDim, headDim)).toType(dtype, false);
        grow(Math.max(initialSize, 16));
    }

    private void grow(int newSize) {
        float[] c = new float[newSize * headDim], s = new float[newSize * headDim];
        int half = headDim / 2;
        for (int p = 0; p < newSize; p++) {
            for (int i = 0; i < half; i++) {
                float angle = (float) p * invFreq[i];
                float cv = (float) Math.cos(angle), sv = (float) Math.sin(angle);
                c[p * headDim + i] = c[p * headDim + i + half] = cv;
                s[p * headDim + i] = s[p * headDim + i + half] = sv;
            }
        }
        if (cos != null) {
            cos.close();
            sin.close();
        }
        dropWindow();
        cos = manager.create(c, new Shape(newSize, headDim)).toType(dtype, false);
        sin = manager.create(s, new Shape(newSize, headDim)).toType(dtype, false);
        size = newSize;
    }

    /** The whole cos and sin tables [size, D], grown to hold positions below {@code end}; valid until the next growth. */
    NDArray[] tables(int end) {
        if (end > size) grow(Math.max(end, size * 2));
        return new NDArray[] {cos, sin};
    }

    /**
     * cos and sin rows [T, D] of positions p0..p0+T-1, cut once for every layer of a chunk ({@link #apply} and the
     * fused module's decoder_in take them as they are: two ops fewer per layer, each ~10 µs of host time on a GPU).
     * Valid until another window is asked for.
     */
    NDArray[] window(int p0, int t) {
        if (p0 + t > size) grow(Math.max(p0 + t, size * 2));
        if (p0 != windowStart || t != windowLength) {
            dropWindow();
            NDIndex rows = new NDIndex("{}:{}", p0, p0 + t);
            windowCos = cos.get(rows);
            windowSin = sin.get(rows);
            windowStart = p0;
            windowLength = t;
        }
        return new NDArray[] {windowCos, windowSin};
    }

    private void dropWindow() {
        if (windowCos != null) {
            windowCos.close();
            windowSin.close();
            windowCos = windowSin = null;
        }
        windowStart = -1;
    }

    /** rotate_half as a [D, D] signed permutation in the compute dtype: rotate_half(x) = x · rotateHalf(). */
    NDArray rotateHalf() {
        return rotateHalf;
    }

    /** x [heads, T, D] at positions p0..p0+T-1 → x·cos + rotate_half(x)·sin, in x's manager. */
    NDArray apply(NDArray x, int p0) {
        NDArray[] cs = window(p0, (int) x.getShape().get(1)); // cut once per chunk for every layer
        return x.mul(cs[0]).add(x.matMul(rotateHalf).mul(cs[1]));
    }

    @Override
    public void close() {
        manager.close();
    }
}
