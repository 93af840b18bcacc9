package io.kvgate.gates;

import java.util.Arrays;

/**
 * One named parameter of a gate, float32, row-major, with the shape it has in the official PyTorch state
 * dict (so an artifact's tensors can be loaded by Python as they are).
 */
public record GateTensor(long[] shape, float[] data) {
    public GateTensor {
        long n = 1;
        for (long d : shape) n *= d;
        if (n != data.length) throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " holds " + n + " values, data has " + data.length);
    }

    public static GateTensor of(float[] data, long... shape) {
        return new GateTensor(shape, data);
    }
}
