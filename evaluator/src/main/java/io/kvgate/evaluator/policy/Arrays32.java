package io.kvgate.evaluator.policy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/** Host copies of small device arrays, whatever their float dtype. */
final class Arrays32 {
    private Arrays32() {}

    /** The values of {@code a} as float32 on the host; {@code a} is closed. */
    static float[] toFloats(NDArray a) {
        try (a) {
            if (a.getDataType() == DataType.FLOAT32) return a.toFloatArray();
            try (NDArray f = a.toType(DataType.FLOAT32, true)) {
                return f.toFloatArray();
            }
        }
    }
}
